"""JSON through orjson (`shared/fastjson.py`): the API's answers and the JSON columns give
the same JSON as the standard library did."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from flask import Flask
from flask.json.provider import DefaultJSONProvider
from sqlalchemy import JSON, Column, Integer, MetaData, Table, Text, cast, select

from api.jsonprovider import FastJSONProvider
from shared import fastjson
from shared.db import make_engine

#: What the answers and columns hold: labels' probabilities, float32 similarities widened
#: to float, small floats, text in any script, nested lists.
DOC: dict[str, Any] = {
    "label": "Accepted", "probabilities": {"Accepted": 0.83, "Rejected": 0.17},
    "similarity": 0.8299999833106995, "weight": 1e-05, "name": "Zoë Ångström 東京 \U0001f600",
    "factors": [{"factor": "skills", "weight": 0.2782}, None, True, 3]}


def answers(provider: DefaultJSONProvider, value: Any) -> bytes:
    return bytes(provider.response(value).get_data())  # type: ignore[attr-defined]


def test_answers_are_the_json_flasks_own_provider_gives() -> None:
    app = Flask(__name__)
    standard = DefaultJSONProvider(app)
    standard.sort_keys = False
    fast = FastJSONProvider(app)
    value: dict[Any, Any] = {**DOC, "at": datetime(2026, 11, 30, 1, 2, 3, tzinfo=UTC),
                             7: "an int key"}
    ours = answers(fast, value)
    assert fast.response(value).mimetype == "application/json"
    assert json.loads(ours) == json.loads(answers(standard, value))
    assert list(json.loads(ours)) == [*DOC, "at", "7"]  # insertion order, as before
    assert json.loads(ours)["at"] == "Mon, 30 Nov 2026 01:02:03 GMT"  # Flask's date format
    assert "東京".encode() in ours  # UTF-8, not \u escapes
    assert json.loads(fast.dumps(value)) == json.loads(ours)


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_json_columns_round_trip_through_orjson(backend: str, tmp_path: Any,
                                               request: pytest.FixtureRequest) -> None:
    url = (f"sqlite:///{tmp_path}/json.db" if backend == "sqlite"
           else request.getfixturevalue("pg_url"))
    engine = make_engine(url)
    assert engine.dialect._json_serializer is fastjson.dumps_text  # type: ignore[attr-defined]
    assert engine.dialect._json_deserializer is fastjson.loads  # type: ignore[attr-defined]
    table = Table("docs", MetaData(), Column("id", Integer, primary_key=True),
                  Column("doc", JSON))
    table.create(engine)
    with engine.begin() as connection:
        connection.execute(table.insert(), {"id": 1, "doc": DOC})
    with engine.connect() as connection:
        assert connection.scalar(select(table.c.doc)) == DOC
        stored = connection.scalar(select(cast(table.c.doc, Text)))
    assert json.loads(str(stored)) == DOC
    engine.dispose()
