"""`one_of(column, "ids")`: the column's value is in the list bound as `ids`, written for
each database the way it parses cheaply.

An expanding `IN` renders one placeholder per value at every execution: on PostgreSQL a
100-id poll's statement ran to 100 casts (`%(ids_1_1)s::VARCHAR`, ...), too long for
psycopg's cache of parsed statements, so it was rendered and parsed again for every poll
(half the API's CPU for it). `column = ANY(%(ids)s)` binds the list as one array: the same
short statement every time. SQLite has no arrays and keeps the expanding `IN`.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Boolean, ColumnElement, any_, bindparam
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.visitors import InternalTraversal, _TraverseInternalsType


class OneOf(ColumnElement[bool]):
    inherit_cache = True
    type = Boolean()
    _is_implicitly_boolean = True  # a condition as it stands, not `... = 1` on SQLite
    # The compiled-statement cache's key: the column and the parameter's name.
    _traverse_internals: _TraverseInternalsType = [  # noqa: RUF012 (SQLAlchemy's own form)
        ("column", InternalTraversal.dp_clauseelement), ("name", InternalTraversal.dp_string)]

    def __init__(self, column: ColumnElement[Any], name: str) -> None:
        self.column, self.name = column, name


def one_of(column: Any, name: str) -> ColumnElement[bool]:
    return OneOf(column, name)


@compiles(OneOf)
def _expanding_in(element: OneOf, compiler: SQLCompiler, **kw: Any) -> str:
    return compiler.process(element.column.in_(bindparam(element.name, expanding=True)), **kw)


@compiles(OneOf, "postgresql")
def _any_array(element: OneOf, compiler: SQLCompiler, **kw: Any) -> str:
    array = bindparam(element.name, type_=ARRAY(element.column.type))
    return compiler.process(element.column == any_(array), **kw)
