"""Batches as objects through the API (test client, real SQLite): progress, a cursor over
the results, cancel of what has not started, `batch.completed` queued exactly once."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select, update

from api import create_app
from api.resources import resources
from shared.config import Settings
from shared.db import Board, Submission, WebhookDelivery, utcnow
from shared.events import complete_batches
from shared.keys import create_key


@pytest.fixture()
def app(settings: Settings) -> Iterator[Flask]:
    yield create_app({"SETTINGS": settings, "TESTING": True})


def client_for(app: Flask, board: str) -> FlaskClient:
    client = app.test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {create_key(resources(app).sessions, board)}"
    return client


def submit_batch(client: FlaskClient, n: int) -> dict:
    r = client.post("/v1/submissions/batch", json=[{"cv": f"Python developer {i}"} for i in range(n)])
    assert r.status_code == 202
    return r.get_json()


def with_webhook(app: Flask) -> None:
    with resources(app).sessions.begin() as session:
        session.execute(update(Board).values(webhook_url="http://127.0.0.1:9/hook",
                                             webhook_secret="whsec_dGVzdA=="))


def test_a_batch_has_progress_and_a_cursor_over_its_results(app: Flask) -> None:
    client = client_for(app, "a")
    body = submit_batch(client, 7)
    assert body["batch_url"] == f"/v1/batches/{body['batch_id']}"
    got = client.get(body["batch_url"] + "?limit=3").get_json()
    assert got["status"] == "running" and got["total"] == 7
    assert got["counts"] == {"queued": 7, "processing": 0, "done": 0, "failed": 0,
                             "cancelled": 0}
    items = got["items"]
    while got["has_more"]:
        got = client.get(f"{body['batch_url']}?limit=3&after={got['next_cursor']}").get_json()
        items += got["items"]
    assert [i["id"] for i in items] == body["ids"]
    assert items == [client.get(f"/v1/submissions/{i}").get_json() for i in body["ids"]]
    assert all(i["batch_id"] == body["batch_id"] for i in got["items"])


def test_cancel_stops_what_has_not_started_and_completes_the_batch_once(app: Flask) -> None:
    client = client_for(app, "a")
    with_webhook(app)
    body = submit_batch(client, 5)
    sessions = resources(app).sessions
    with sessions.begin() as session:  # a worker claimed two of them
        session.execute(update(Submission).where(Submission.id.in_(body["ids"][:2]))
                        .values(status="processing", started_at=utcnow(), attempts=1))
    r = client.delete(body["batch_url"])
    assert r.status_code == 200
    got = r.get_json()
    assert got["cancelled_now"] == 3 and got["status"] == "cancelled"
    assert got["counts"]["cancelled"] == 3 and got["counts"]["processing"] == 2
    assert client.delete(body["batch_url"]).get_json()["cancelled_now"] == 0
    with sessions.begin() as session:  # the two claimed ones finish
        session.execute(update(Submission).where(Submission.id.in_(body["ids"][:2]))
                        .values(status="done", finished_at=utcnow()))
        assert complete_batches(session, [body["batch_id"]]) == 1
    with sessions.begin() as session:
        assert complete_batches(session) == 0  # the sweeper's pass finds nothing more
        events = session.scalars(select(WebhookDelivery.event).where(
            WebhookDelivery.subject == body["batch_id"])).all()
    assert events == ["batch.completed"]
    assert client.get(body["batch_url"]).get_json()["completed_at"]


def test_a_cancelled_submission_is_never_claimed(app: Flask) -> None:
    from worker.processing import claim

    client = client_for(app, "a")
    body = submit_batch(client, 3)
    client.delete(body["batch_url"])
    assert claim(resources(app).sessions, body["ids"], 300, fresh_only=False) == []


def test_batches_are_the_boards_own(app: Flask) -> None:
    body = submit_batch(client_for(app, "a"), 2)
    other = client_for(app, "b")
    assert other.get(body["batch_url"]).status_code == 404
    assert other.delete(body["batch_url"]).status_code == 404
    assert other.get("/v1/batches/nothex").status_code == 400
    assert other.get(body["batch_url"] + "?limit=0").status_code == 400


def test_single_submits_go_to_the_interactive_lane_batches_to_bulk(app: Flask) -> None:
    client = client_for(app, "a")
    single = client.post("/v1/submissions", json={"cv": "Java developer"}).get_json()["id"]
    bulk = submit_batch(client, 2)["ids"]
    with resources(app).sessions() as session:
        lanes = dict(session.execute(select(Submission.id, Submission.lane)).tuples().all())
    assert lanes == {single: "interactive", bulk[0]: "bulk", bulk[1]: "bulk"}
