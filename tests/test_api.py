"""The API's validation and responses (Flask test client; the in-memory broker stands in)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from api import create_app
from api.jsonprovider import FastJSONProvider
from api.resources import resources
from shared.config import Settings
from shared.db import Submission
from shared.keys import create_key
from shared.stack import wait_until


@pytest.fixture()
def app(settings: Settings) -> Iterator[Flask]:
    yield create_app({"SETTINGS": settings, "TESTING": True})


@pytest.fixture()
def api_key(app: Flask) -> str:
    return create_key(resources(app).sessions, "board-a")


@pytest.fixture()
def client(app: Flask, api_key: str) -> FlaskClient:
    client = app.test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {api_key}"
    return client


def test_answers_are_orjsons_utf8(app: Flask, client: FlaskClient) -> None:
    """`api/jsonprovider.py`: the app's answers carry text as UTF-8, not \\u escapes."""
    assert isinstance(app.json, FastJSONProvider)
    r = client.post("/v1/submissions", json={"cv": "QA engineer", "external_id": "Zoë-東京"})
    got = client.get(r.get_json()["status_url"])
    assert "Zoë-東京".encode() in got.get_data()
    assert got.get_json()["external_id"] == "Zoë-東京"


def count_rows(app: Flask) -> int:
    with resources(app).sessions() as session:
        return int(session.scalar(select(func.count()).select_from(Submission)) or 0)


def test_submit_answers_202_with_location_and_persists_first(app: Flask,
                                                             client: FlaskClient) -> None:
    r = client.post("/v1/submissions", json={"cv": "QA engineer, 3 years", "position": "QA Engineer",
                                             "external_id": "board-1"})
    assert r.status_code == 202
    body = r.get_json()
    assert r.headers["Location"] == f"/v1/submissions/{body['id']}" == body["status_url"]
    assert int(r.headers["Retry-After"]) >= 1
    got = client.get(body["status_url"]).get_json()
    assert got["status"] == "queued" and got["external_id"] == "board-1"
    assert "cv" not in got  # the CV text is never echoed back
    assert count_rows(app) == 1


def test_batch_keeps_input_order_in_one_transaction(app: Flask, client: FlaskClient) -> None:
    items = [{"cv": f"cv number {i}", "external_id": f"e{i}"} for i in range(25)]
    r = client.post("/v1/submissions/batch", json=items)
    assert r.status_code == 202
    ids = r.get_json()["ids"]
    polled = client.get("/v1/submissions", query_string={"ids": ",".join(ids)}).get_json()
    assert [i["external_id"] for i in polled["items"]] == [f"e{i}" for i in range(25)]
    jsonl = "\n".join(json.dumps({"cv": f"more {i}"}) for i in range(3))
    r = client.post("/v1/submissions/batch", data=jsonl, content_type="application/x-ndjson")
    assert r.status_code == 202 and r.get_json()["count"] == 3
    assert count_rows(app) == 28


def err(r: Any, status: int) -> dict[str, Any]:
    assert r.status_code == status, r.get_data(as_text=True)
    assert r.is_json
    body: dict[str, Any] = r.get_json()
    assert body["error"] and body["message"]
    return body


@pytest.mark.parametrize(("kwargs", "status", "fragment"), [
    ({"data": "not json", "content_type": "application/json"}, 400, "not valid JSON"),
    ({"data": '{"cv": "x"}', "content_type": "text/plain"}, 415, "Content-Type"),
    ({"data": '{"cv": "x"}'}, 415, "Content-Type"),
    ({"json": {}}, 400, "'cv' is missing"),
    ({"json": {"cv": ""}}, 400, "'cv' is empty"),
    ({"json": {"cv": "   "}}, 400, "'cv' is empty"),
    ({"json": {"cv": 42}}, 400, "'cv' must be a string"),
    ({"json": {"cv": None}}, 400, "'cv' must be a string"),
    ({"json": {"cv": "x" * 20_001}}, 400, "longer than 20000"),
    ({"json": {"cv": "a\x00b"}}, 400, "NUL"),
    ({"data": '{"cv": "\\ud800"}', "content_type": "application/json"}, 400, "lone surrogate"),
    ({"json": {"cv": "x", "salary": 1}}, 400, "unknown field 'salary'"),
    ({"json": {"cv": "x", "position": ["a"]}}, 400, "must be a string or null, not an array"),
    ({"json": {"cv": "x", "position": 7}}, 400, "'position' must be a string"),
    ({"json": {"cv": "\u200b\u200d\ufeff"}}, 400, "'cv' contains no letters"),
    ({"json": {"cv": "😀 🚀 42"}}, 400, "'cv' contains no letters"),
    ({"json": {"cv": "x", "external_id": ""}}, 400, "'external_id' is empty"),
    ({"data": '{"cv": 5, "cv": "x"}', "content_type": "application/json"}, 400,
     "duplicate key 'cv'"),
    ({"data": '{"cv": "x", "position": 1' + "0" * 5000 + '}',
      "content_type": "application/json"}, 400, "not valid JSON"),
    ({"json": ["x"]}, 400, "must be a JSON object"),
    ({"data": b'{"cv": "\xff"}', "content_type": "application/json"}, 400, "not UTF-8"),
])
def test_single_bad_input(app: Flask, client: FlaskClient, kwargs: dict[str, Any], status: int,
                          fragment: str) -> None:
    body = err(client.post("/v1/submissions", **kwargs), status)
    assert fragment in body["message"]
    assert count_rows(app) == 0


def test_batch_bad_input_names_the_index_and_accepts_nothing(app: Flask,
                                                             client: FlaskClient) -> None:
    items: list[Any] = [{"cv": "fine"}] * 5 + [{"cv": ""}] + [{"cv": "fine"}]
    body = err(client.post("/v1/submissions/batch", json=items), 400)
    assert body["index"] == 5 and "item 5" in body["message"]
    err(client.post("/v1/submissions/batch", json=[{"cv": "x"}] * 1001), 413)
    err(client.post("/v1/submissions/batch", json=[]), 400)
    err(client.post("/v1/submissions/batch", json={"cv": "x"}), 400)
    assert count_rows(app) == 0


def test_body_over_the_size_limit_is_413(settings: Settings) -> None:
    from dataclasses import replace

    app = create_app({"SETTINGS": replace(settings, max_body_bytes=1000), "TESTING": True})
    key = create_key(resources(app).sessions, "board-b")
    body = err(app.test_client().post("/v1/submissions", json={"cv": "x" * 2000},
                                      headers={"Authorization": f"Bearer {key}"}), 413)
    assert body["error"]


@pytest.mark.parametrize(("url", "status"), [
    ("/v1/submissions/" + "0" * 32, 404),
    ("/v1/submissions/not-an-id", 400),
    ("/v1/submissions/" + "g" * 32, 400),
    ("/v1/submissions?ids=xyz", 400),
    ("/v1/submissions?ids=", 400),
    ("/v1/submissions?ids=" + ",".join(["0" * 32] * 101), 400),
    ("/v1/submissions?status=finished", 400),
    ("/v1/submissions?limit=0", 400),
    ("/v1/submissions?limit=abc", 400),
    ("/v1/submissions?after=-1", 400),
    ("/v1/submissions?sort=asc", 400),
    ("/v1/submissions?ids=" + "0" * 32 + "&limit=3", 400),
    ("/v1/reference/ref-unknown", 404),
    ("/v1/nothing-here", 404),
    ("/v1/submissions?limit=²", 400),
    ("/v1/submissions?limit=①", 400),
    ("/v1/submissions?limit=٣", 400),
    ("/v1/submissions?limit=" + "9" * 5000, 400),
    ("/v1/submissions?after=" + "9" * 5000, 400),
    ("/v1/submissions?after=" + "0" * 32, 400),  # not one of this board's
    ("/v1/submissions/" + "0" * 32 + "%0A", 400),  # an id with a trailing newline
    ("/v1//submissions", 404),  # not a redirect built from the Host header
])
def test_bad_ids_and_params(client: FlaskClient, url: str, status: int) -> None:
    err(client.get(url), status)


def test_every_response_says_nosniff_and_405_says_allow(client: FlaskClient) -> None:
    assert client.get("/healthz").headers["X-Content-Type-Options"] == "nosniff"
    assert client.get("/v1/nothing").headers["X-Content-Type-Options"] == "nosniff"
    wrong = client.put("/v1/submissions")
    assert wrong.status_code == 405 and wrong.is_json
    assert set(wrong.headers["Allow"].split(", ")) >= {"GET", "POST"}


def test_a_result_shows_nothing_of_other_boards(app: Flask, client: FlaskClient) -> None:
    """No batch size (it counted other boards' CVs) and an opaque cursor (a global sequence
    number revealed the system's volume)."""
    sid = client.post("/v1/submissions", json={"cv": "a CV"}).get_json()["id"]
    page = client.get("/v1/submissions?limit=1").get_json()
    assert page["next_cursor"] == sid
    from shared.db import Board, Neighbour, Result

    with resources(app).sessions.begin() as s:
        board = s.scalar(select(Board.id).where(Board.name == "board-a"))
        s.add(Submission(id="f" * 32, board_id=board, status="done", cv="x", attempts=1,
                         result=Result(label="Accepted", probabilities={"Accepted": 1.0},
                                       classifier="svm", model_version="v", batch_id="b",
                                       batch_size=31), neighbours=[Neighbour(
                                           rank=1, reference_id="r", similarity=0.5, label="A")]))
    result = client.get(f"/v1/submissions/{'f' * 32}").get_json()["result"]
    assert result["label"] == "Accepted" and "batch_size" not in result


@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
def test_every_poll_shows_what_was_stored(settings: Settings, database: str,
                                          request: pytest.FixtureRequest) -> None:
    """The database writes a result's neighbours as JSON and the stored probabilities and
    explanation pass through as their text: the single poll, the 100-id poll and the
    listing show a finished submission (neighbours in rank order, labels any text), a
    failed one and a queued one as stored, in one statement."""
    from sqlalchemy import null

    from shared.db import Board, Neighbour, Result, utcnow

    app, client = board_client(settings, database, request)
    queued = client.post("/v1/submissions", json={"cv": "a CV", "position": "QA"}).get_json()["id"]
    odd = 'Rejected "late" – Zoë\\'
    explanation = {"factors": [{"factor": "skills", "weight": 0.1}], "note": "東京"}
    with resources(app).sessions.begin() as s:
        board = s.scalar(select(Board.id).where(Board.name == "board-w"))
        s.add_all([
            Submission(id="d" * 32, board_id=board, status="done", cv="x", attempts=1,
                       position="Data Scientist", external_id="ext-1", started_at=utcnow(),
                       finished_at=utcnow(), result=Result(
                           label="Accepted", probabilities={"Accepted": 0.8, odd: 0.2},
                           classifier="rf", model_version="v1", batch_id="b", batch_size=3,
                           explanation=explanation),
                       neighbours=[Neighbour(rank=rank, reference_id=f"ref-{rank}",
                                             similarity=[0.912345, -0.25, 1e-06][rank - 1],
                                             label=odd if rank == 2 else "Accepted")
                                   for rank in (3, 1, 2)]),
            Submission(id="e" * 32, board_id=board, status="failed", cv="y", attempts=3,
                       error="the model failed on this CV"),
            Submission(id="c" * 32, board_id=board, status="done", cv="z", attempts=1,
                       result=Result(  # stored before explanations, or with k = 0
                           label="Rejected", probabilities={"Rejected": 1.0}, classifier="svm",
                           model_version="v0", batch_id="b", batch_size=1,
                           explanation=null()))])
    bare = client.get(f"/v1/submissions/{'c' * 32}").get_json()
    assert bare["result"]["neighbours"] == [] and bare["result"]["explanation"] is None
    ids = ["d" * 32, "e" * 32, queued]
    sent, _ = on_the_wire(app)
    items = client.get(f"/v1/submissions?ids={','.join(ids)}").get_json()["items"]
    assert verbs(sent) == [*key_lookup(database), "SELECT"]  # the key, the rows
    assert items == [client.get(f"/v1/submissions/{i}").get_json() for i in ids]
    assert client.get("/v1/submissions").get_json()["items"] == [items[2], items[0], items[1],
                                                                 bare]
    assert items[0]["result"] == {
        "label": "Accepted", "probabilities": {"Accepted": 0.8, odd: 0.2}, "classifier": "rf",
        "model_version": "v1", "explanation": explanation, "neighbours": [
            {"reference_id": f"ref-{rank}", "similarity": similarity, "outcome": outcome,
             "url": f"/v1/reference/ref-{rank}"}
            for rank, similarity, outcome in [(1, 0.912345, "Accepted"), (2, -0.25, odd),
                                              (3, 1e-06, "Accepted")]]}
    assert items[1]["error"] == "the model failed on this CV" and "result" not in items[2]
    assert "result" not in items[1] and items[2]["status"] == "queued"


def test_readiness_is_computed_at_most_once_a_second(client: FlaskClient,
                                                     monkeypatch: Any) -> None:
    import importlib

    health = importlib.import_module("api.health")  # the package's `health` is the blueprint
    calls = []
    real = health._checks
    monkeypatch.setattr(health, "_checks", lambda res: calls.append(1) or real(res))
    health._cache.clear()
    codes = {client.get("/readyz").status_code for _ in range(50)}
    assert codes == {200} and len(calls) == 1


def test_wrong_method_is_json(client: FlaskClient) -> None:
    err(client.delete("/healthz"), 405)


def test_unknown_ids_are_listed_as_missing(client: FlaskClient) -> None:
    sid = client.post("/v1/submissions", json={"cv": "x"}).get_json()["id"]
    body = client.get(f"/v1/submissions?ids={sid},{'0' * 32}").get_json()
    assert [i["id"] for i in body["items"]] == [sid] and body["missing"] == ["0" * 32]


def test_cursor_pagination_visits_every_row_once(client: FlaskClient) -> None:
    client.post("/v1/submissions/batch", json=[{"cv": f"c{i}"} for i in range(23)])
    seen: list[str] = []
    cursor = ""
    while True:
        page = client.get(f"/v1/submissions?status=queued&limit=5&after={cursor}").get_json()
        seen += [i["id"] for i in page["items"]]
        cursor = page["next_cursor"]
        if not page["has_more"]:
            break
    assert len(seen) == len(set(seen)) == 23


def test_reference_lookup(client: FlaskClient, settings: Settings) -> None:
    metadata = json.loads((settings.artifacts / "cv_metadata.json").read_text())
    ref = client.get(f"/v1/reference/{metadata[3]['id']}").get_json()
    assert ref["outcome"] == metadata[3]["label"]
    assert ref["position"] == metadata[3]["record"]["opening_position"]
    assert ref["snippet"] and len(ref["snippet"]) <= 241


def test_health_and_readiness(client: FlaskClient) -> None:
    assert client.get("/healthz").get_json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.get_json()["checks"]["database"] == "ok"


def test_readiness_reports_what_is_missing(settings: Settings, tmp_path: Any) -> None:
    from dataclasses import replace

    app = create_app({"SETTINGS": replace(settings, artifacts=tmp_path / "none",
                                          broker_url="redis://127.0.0.1:1/0")})
    body = app.test_client().get("/readyz")
    assert body.status_code == 503
    checks = body.get_json()["checks"]
    assert checks["artifacts"] == "missing" and checks["broker"].startswith("unreachable")


def test_submit_with_broker_down_still_accepts(settings: Settings) -> None:
    """The row is the truth: with Redis unreachable the submission waits in SQL."""
    from dataclasses import replace

    app = create_app({"SETTINGS": replace(settings, broker_url="redis://127.0.0.1:1/0")})
    key = create_key(resources(app).sessions, "board-b")
    r = app.test_client().post("/v1/submissions", json={"cv": "x"},
                               headers={"Authorization": f"Bearer {key}"})
    assert r.status_code == 202
    assert count_rows(app) == 1


def test_a_status_only_poll_carries_no_result(app: Flask, client: FlaskClient) -> None:
    ids = [client.post("/v1/submissions", json={"cv": f"Go developer {i}"}).get_json()["id"]
           for i in range(3)]
    r = client.get(f"/v1/submissions?ids={','.join(ids)},{'f' * 32}&fields=status")
    assert r.status_code == 200
    body = r.get_json()
    assert body["items"] == [{"id": i, "status": "queued", "finished_at": None} for i in ids]
    assert body["missing"] == ["f" * 32]
    assert client.get(f"/v1/submissions?ids={ids[0]}&fields=result").status_code == 400
    assert client.get("/v1/submissions?fields=status").status_code == 400
    assert client.get(f"/v1/submissions?ids={ids[0]}&limit=5").status_code == 400


def board_client(settings: Settings, database: str,
                 request: pytest.FixtureRequest) -> tuple[Flask, FlaskClient]:
    """An app on `database` (SQLite, or a fresh PostgreSQL database) and a board's client."""
    from dataclasses import replace

    if database == "postgresql":
        settings = replace(settings, database_url=request.getfixturevalue("pg_url"))
    app = create_app({"SETTINGS": settings})
    client = app.test_client()
    key = create_key(resources(app).sessions, "board-w")
    client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {key}"
    keys = resources(app).keys
    request.addfinalizer(keys.close)
    assert wait_until(lambda: database != "postgresql" or keys.serving, 10, [], 0.01), \
        "the key cache's listener (api.keycache) did not start"
    return app, client


def key_lookup(database: str) -> list[str]:
    """The statement a request's key costs: none on PostgreSQL once the key is cached."""
    return [] if database == "postgresql" else ["SELECT"]


def on_the_wire(app: Flask) -> tuple[list[tuple[str, Any]], list[int]]:
    """From now on, what the app sends its database: each statement with its parameters,
    and a 1 for each connection taken from the pool."""
    from sqlalchemy import event

    engine = resources(app).sessions.kw["bind"]
    sent: list[tuple[str, Any]] = []
    checkouts: list[int] = []
    event.listen(engine, "before_cursor_execute",
                 lambda _conn, _cursor, sql, params, *rest: sent.append((sql, params)))
    event.listen(engine.pool, "checkout", lambda *args: checkouts.append(1))
    return sent, checkouts


def verbs(sent: list[tuple[str, Any]]) -> list[str]:
    return [sql.split()[0] for sql, _ in sent]


@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
def test_a_submit_reads_on_one_connection_and_writes_in_one_transaction(
        settings: Settings, database: str, request: pytest.FixtureRequest) -> None:
    """The key, the Idempotency-Key and the board's queue share the request's read
    connection; the rows go in one transaction on a second: two checkouts in all. The
    response says how long the app took (Server-Timing)."""
    app, client = board_client(settings, database, request)
    sent, checkouts = on_the_wire(app)
    r = client.post("/v1/submissions", json={"cv": "Go developer"},
                    headers={"Idempotency-Key": "k-1"})
    assert r.status_code == 202
    assert len(checkouts) == 2
    assert verbs(sent) == ["SELECT", "SELECT", "SELECT", "INSERT", "INSERT"]
    name, _, ms = r.headers["Server-Timing"].partition(";dur=")
    assert name == "app" and 0 < float(ms) < 10_000


def test_polls_by_id_use_the_id_index_before_any_analyze(
        settings: Settings, request: pytest.FixtureRequest) -> None:
    """A fresh PostgreSQL table has no statistics until autovacuum's first ANALYZE: the
    planner then takes the board index for selective, and a poll would read all the board's
    rows. Every poll by id must find its rows through the unique id index whatever the
    statistics say: the plans of the statements the polls send, read with EXPLAIN."""
    app, client = board_client(settings, "postgresql", request)
    filler = "Built payment services in Go and PostgreSQL, led a team of five. " * 8
    ids: list[str] = []
    for n in range(6):  # CVs of a usual length: enough pages that the plan matters
        ids += client.post("/v1/submissions/batch", json=[
            {"cv": f"CV {n}-{i}. {filler}"} for i in range(1000)]).get_json()["ids"]
    sent, _ = on_the_wire(app)
    for query in ("", "&fields=status"):
        assert client.get(f"/v1/submissions?ids={','.join(ids[-100:])}{query}").status_code == 200
    assert client.get(f"/v1/submissions/{ids[0]}").status_code == 200
    polls = [(sql, params) for sql, params in sent
             if sql.lstrip().startswith("SELECT") and "WHERE submissions.id" in sql]
    assert len(polls) == 3
    raw = resources(app).sessions.kw["bind"].raw_connection()
    try:
        for sql, params in polls:
            cursor = raw.cursor()
            cursor.execute("EXPLAIN " + sql, params)
            plan = "\n".join(row[0] for row in cursor.fetchall())
            assert "submissions_id_key" in plan and "ix_submissions_board_id" not in plan, plan
    finally:
        raw.close()


@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
def test_a_poll_reads_on_one_connection_in_at_most_two_statements(
        settings: Settings, database: str, request: pytest.FixtureRequest) -> None:
    """Round trips are what a poll waits for on a busy machine: the key (on PostgreSQL
    cached after the first request) and the submission with its result and neighbours, on
    one pooled connection, no BEGIN or ROLLBACK."""
    app, client = board_client(settings, database, request)
    sid = client.post("/v1/submissions", json={"cv": "Rust developer"}).get_json()["id"]
    sent, checkouts = on_the_wire(app)
    assert client.get(f"/v1/submissions/{sid}").get_json()["status"] == "queued"
    assert len(checkouts) == 1
    assert verbs(sent) == [*key_lookup(database), "SELECT"]
    assert client.get(f"/v1/submissions/{'f' * 32}").status_code == 404
