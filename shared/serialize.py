"""Submissions and batches as the API (and its webhooks) show them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from orjson import Fragment
from sqlalchemy import (
    ColumnElement,
    ColumnExpressionArgument,
    Select,
    Text,
    cast,
    func,
    literal_column,
    select,
)
from sqlalchemy.dialects.postgresql import aggregate_order_by
from sqlalchemy.engine import Row
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.expression import FunctionElement

from shared.db import STATUSES, Batch, Neighbour, Result, Submission

#: A statement of `shown_statement`, and one of its rows.
ShownStatement = Select[*tuple[Any, ...]]
ShownRow = Row[*tuple[Any, ...]]


def iso_time(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def _sql_text(value: str) -> ColumnElement[str]:
    """A constant of the statement, not a bound parameter: `NeighboursJSON` is compiled
    into statements cached by their shape, which must not carry values of their own."""
    return literal_column("'" + value.replace("'", "''") + "'", Text)


_OF_THIS_SUBMISSION = Neighbour.submission_seq == Submission.seq
_URL = _sql_text("/v1/reference/") + Neighbour.reference_id


def _pg_member(key: str, value: ColumnExpressionArgument[Any], first: bool = False
               ) -> ColumnElement[str]:
    """`"key":<value as JSON>`, opening the object if `first`, else after a comma."""
    return _sql_text(("{" if first else ",") + f'"{key}":') + cast(func.to_json(value), Text)


#: SQLite's json_object keeps key order and writes compact JSON. Before SQLite 3.44 an
#: aggregate has no ORDER BY, but one reading an ordered subquery keeps its order. The
#: objects are joined as text: json_group_array would parse each again (a third of the
#: statement's time for 500 neighbours).
_SQLITE_NEIGHBOURS = select(
    _sql_text("[") + func.group_concat(
        select(func.json_object(
            _sql_text("reference_id"), Neighbour.reference_id, _sql_text("similarity"),
            Neighbour.similarity, _sql_text("outcome"), Neighbour.label, _sql_text("url"),
            _URL).label("item"))
        .where(_OF_THIS_SUBMISSION).order_by(Neighbour.rank).correlate(Submission).subquery()
        .c.item, _sql_text(",")) + _sql_text("]")
).correlate(Submission).scalar_subquery()
#: PostgreSQL's json_build_object writes `"key" : value` and jsonb reorders keys: the members
#: are written here, each value by to_json. Without neighbours both statements give NULL,
#: which `shown_json` shows as [].
_PG_NEIGHBOURS = select(
    _sql_text("[") + func.string_agg(
        _pg_member("reference_id", Neighbour.reference_id, first=True)
        + _pg_member("similarity", Neighbour.similarity) + _pg_member("outcome", Neighbour.label)
        + _pg_member("url", _URL) + _sql_text("}"),
        aggregate_order_by(_sql_text(","), Neighbour.rank)) + _sql_text("]")
).where(_OF_THIS_SUBMISSION).correlate(Submission).scalar_subquery()


class NeighboursJSON(FunctionElement[str]):
    """A submission's neighbours in rank order, as the JSON text of the API's `neighbours`
    array, written by the database: for 500 neighbours that is 500 rows fewer to read and
    500 dicts fewer to build and encode."""

    type = Text()
    name = "neighbours_json"
    inherit_cache = True


@compiles(NeighboursJSON, "sqlite")
def _sqlite_neighbours(_element: NeighboursJSON, compiler: SQLCompiler, **kw: Any) -> str:
    return compiler.process(_SQLITE_NEIGHBOURS, **kw)


@compiles(NeighboursJSON, "postgresql")
def _pg_neighbours(_element: NeighboursJSON, compiler: SQLCompiler, **kw: Any) -> str:
    return compiler.process(_PG_NEIGHBOURS, **kw)


def shown_statement(where: ColumnElement[bool]) -> ShownStatement:
    """The submissions `where` selects, as `shown_json` reads them, in submission order;
    never the CV. The JSON columns come as their stored text (CAST: psycopg would decode
    them), passed into the answer as they are."""
    return (select(Submission.id, Submission.status, Submission.position,
                   Submission.external_id, Submission.created_at, Submission.started_at,
                   Submission.finished_at, Submission.attempts, Submission.batch_id,
                   Submission.error, Result.label, cast(Result.probabilities, Text),
                   Result.classifier, Result.model_version,
                   NeighboursJSON().label("neighbours"), cast(Result.explanation, Text))
            .outerjoin(Result, Result.submission_seq == Submission.seq)
            .where(where).order_by(Submission.seq))


def shown_json(row: ShownRow) -> dict[str, Any]:
    """A submission as the API shows it, from a row of `shown_statement`."""
    (sid, status, position, external_id, created_at, started_at, finished_at, attempts,
     batch_id, error, label, probabilities, classifier, model_version, neighbours,
     explanation) = row
    body: dict[str, Any] = {
        "id": sid, "status": status, "position": position, "external_id": external_id,
        "created_at": iso_time(created_at), "started_at": iso_time(started_at),
        "finished_at": iso_time(finished_at), "attempts": attempts,
    }
    if batch_id:
        body["batch_id"] = batch_id
    if status == "failed":
        body["error"] = error
    if status == "done" and label is not None:
        body["result"] = {
            "label": label, "probabilities": Fragment(probabilities), "classifier": classifier,
            "model_version": model_version, "neighbours": Fragment(neighbours or "[]"),
            "explanation": None if explanation is None else Fragment(explanation),
        }
    return body


def shown(session: Session, statement: ShownStatement, params: dict[str, Any] | None = None
          ) -> list[dict[str, Any]]:
    """The rows of a `shown_statement` as the API shows them: one statement whatever the
    count (a 100-id poll of finished CVs read 500 neighbour rows and decoded and re-encoded
    every stored explanation; it took 9-12 ms of CPU that way), on the session's connection
    as Core rows."""
    return [shown_json(row) for row in session.connection().execute(statement, params or {})]


def batch_json(batch: Batch, counts: dict[str, int]) -> dict[str, Any]:
    """A batch's progress: `counts` by status (every status present, zeros included)."""
    status = ("cancelled" if batch.cancelled_at else "completed" if batch.completed_at
              else "running")
    return {"id": batch.id, "status": status, "total": batch.total,
            "counts": {s: counts.get(s, 0) for s in STATUSES},
            "created_at": iso_time(batch.created_at), "completed_at": iso_time(batch.completed_at),
            "cancelled_at": iso_time(batch.cancelled_at)}


def page_json(items: list[dict[str, Any]], limit: int, after: str) -> dict[str, Any]:
    """One page of a cursor listing: `items` holds up to `limit + 1` submissions (the extra
    one only tells that more follow); the cursor is the last id shown."""
    page = items[:limit]
    return {"items": page, "has_more": len(items) > limit,
            "next_cursor": page[-1]["id"] if page else after}


def batch_counts(session: Session, batch_id: str) -> dict[str, int]:
    return {status: int(n) for status, n in session.execute(
        select(Submission.status, func.count()).where(Submission.batch_id == batch_id)
        .group_by(Submission.status)).tuples()}
