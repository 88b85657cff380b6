"""API keys, tenant isolation, idempotency, limits and erasure (Flask test client, real Redis
for the rate limit and backpressure, which live there)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta

import pytest
import redis
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select, update

from api import create_app
from api.resources import resources
from shared.broker import MESSAGE_IDS, queue_depth, worker_queues
from shared.config import Settings
from shared.db import Board, IdempotencyRecord, Result, Submission, utcnow
from shared.errors import CvqError
from shared.keys import create_key, hash_key, revoke
from shared.retention import parse_age, purge_older_than
from tests.redis_wire import redis_sends


@pytest.fixture()
def app(settings: Settings, redis_url: str) -> Iterator[Flask]:
    s = replace(settings, broker_url=redis_url, rate_limit_per_minute=1000)
    yield create_app({"SETTINGS": s, "TESTING": True})
    redis.Redis.from_url(redis_url).delete(*worker_queues(s.queue))


def board(app: Flask, name: str) -> FlaskClient:
    client = app.test_client()
    key = create_key(resources(app).sessions, name)
    client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {key}"
    return client


def test_every_v1_endpoint_needs_a_valid_key(app: Flask) -> None:
    anonymous = app.test_client()
    for method, url in (("post", "/v1/submissions"), ("post", "/v1/submissions/batch"),
                        ("get", "/v1/submissions"), ("get", "/v1/submissions/" + "0" * 32),
                        ("delete", "/v1/submissions/" + "0" * 32), ("get", "/v1/reference/x")):
        r = getattr(anonymous, method)(url, headers={"Authorization": "Bearer cvq_wrong"})
        assert r.status_code == 401 and r.get_json()["error"] == "unauthorized", url
        assert getattr(anonymous, method)(url).status_code == 401
    assert anonymous.get("/healthz").status_code == 200


def test_keys_are_random_hashed_and_revocable(app: Flask) -> None:
    sessions = resources(app).sessions
    key_a, key_b = create_key(sessions, "one"), create_key(sessions, "two")
    assert key_a != key_b and len(key_a) >= 4 + 32  # 24 random bytes: 192 bits
    with sessions() as s:
        stored = {b.name: b.key_hash for b in s.scalars(select(Board))}
    assert stored["one"] == hash_key(key_a) and key_a not in stored.values()
    with pytest.raises(CvqError, match="already exists"):
        create_key(sessions, "one")
    client = app.test_client()
    headers = {"Authorization": f"Bearer {key_a}"}
    assert client.get("/v1/submissions", headers=headers).status_code == 200
    revoke(sessions, "one")
    assert client.get("/v1/submissions", headers=headers).status_code == 401


def test_a_board_sees_only_its_own_submissions(app: Flask) -> None:
    a, b = board(app, "a"), board(app, "b")
    mine = a.post("/v1/submissions", json={"cv": "board a's cv"}).get_json()["id"]
    b.post("/v1/submissions", json={"cv": "board b's cv"})
    unknown = b.get("/v1/submissions/" + "0" * 32)
    foreign = b.get(f"/v1/submissions/{mine}")
    assert foreign.status_code == unknown.status_code == 404
    assert foreign.get_json() == unknown.get_json()
    assert b.get(f"/v1/submissions?ids={mine}").get_json()["missing"] == [mine]
    assert b.get(f"/v1/submissions?ids={mine}&fields=status").get_json()["missing"] == [mine]
    assert len(b.get("/v1/submissions").get_json()["items"]) == 1
    assert b.delete(f"/v1/submissions/{mine}").status_code == 404
    assert a.get(f"/v1/submissions/{mine}").status_code == 200


def test_idempotency_key_replays_and_rejects_a_different_body(app: Flask) -> None:
    a = board(app, "a")
    headers = {"Idempotency-Key": "order-42"}
    first = a.post("/v1/submissions", json={"cv": "same"}, headers=headers)
    again = a.post("/v1/submissions", json={"cv": "same"}, headers=headers)
    assert first.status_code == again.status_code == 202
    assert first.get_json() == again.get_json()
    assert again.headers["Idempotent-Replayed"] == "true"
    other = a.post("/v1/submissions", json={"cv": "different"}, headers=headers)
    assert other.status_code == 422 and other.get_json()["error"] == "idempotency_key_reused"
    batch = [{"cv": "x"}, {"cv": "y"}]
    h2 = {"Idempotency-Key": "batch-1"}
    assert (a.post("/v1/submissions/batch", json=batch, headers=h2).get_json()
            == a.post("/v1/submissions/batch", json=batch, headers=h2).get_json())
    b = board(app, "b")  # keys are per board
    assert b.post("/v1/submissions", json={"cv": "different"}, headers=headers).status_code == 202
    with resources(app).sessions() as s:
        assert s.scalar(select(func.count()).select_from(Submission)) == 4


def test_external_id_is_unique_per_board(app: Flask) -> None:
    a, b = board(app, "a"), board(app, "b")
    first = a.post("/v1/submissions", json={"cv": "x", "external_id": "cand-1"}).get_json()
    dup = a.post("/v1/submissions", json={"cv": "y", "external_id": "cand-1"})
    assert dup.status_code == 409 and dup.get_json()["existing_id"] == first["id"]
    assert b.post("/v1/submissions", json={"cv": "y", "external_id": "cand-1"}).status_code == 202
    twice = a.post("/v1/submissions/batch", json=[{"cv": "p", "external_id": "e"},
                                                  {"cv": "q", "external_id": "e"}])
    assert twice.status_code == 400 and twice.get_json()["index"] == 1


def test_rate_limit_is_shared_across_processes_through_redis(settings: Settings,
                                                             redis_url: str) -> None:
    s = replace(settings, broker_url=redis_url, rate_limit_per_minute=5)
    one, two = create_app({"SETTINGS": s}), create_app({"SETTINGS": s})  # two API processes
    key = create_key(resources(one).sessions, f"rl-{uuid.uuid4().hex[:6]}")
    headers = {"Authorization": f"Bearer {key}"}
    codes = [app.test_client().get("/v1/submissions", headers=headers).status_code
             for app in (one, two, one, two, one, two, one)]
    assert codes[:5] == [200] * 5 and codes[5:] == [429, 429]
    limited = two.test_client().get("/v1/submissions", headers=headers)
    assert 1 <= int(limited.headers["Retry-After"]) <= 60
    assert limited.get_json()["error"] == "rate_limited"


def test_a_client_sending_bad_keys_is_limited_by_address(
        settings: Settings, redis_url: str) -> None:
    s = replace(settings, broker_url=redis_url, rate_limit_per_address=20)
    app = create_app({"SETTINGS": s})
    client = app.test_client()
    address = f"10.9.{uuid.uuid4().int % 250}.7"
    codes = [client.get("/v1/submissions", headers={"Authorization": f"Bearer bad-{i}"},
                        environ_base={"REMOTE_ADDR": address}).status_code for i in range(25)]
    assert codes[:20] == [401] * 20 and set(codes[20:]) == {429}
    other = client.get("/v1/submissions", headers={"Authorization": "Bearer bad"},
                       environ_base={"REMOTE_ADDR": "10.8.0.1"})
    assert other.status_code == 401, "another address is not affected"
    assert client.get("/healthz", environ_base={"REMOTE_ADDR": address}).status_code == 200


def test_a_boards_requests_count_against_the_board_not_its_address(
        settings: Settings, redis_url: str) -> None:
    """Boards behind one proxy share an address, not a limit; and a board's request pays one
    Redis round trip for its limit."""
    s = replace(settings, broker_url=redis_url, rate_limit_per_address=3,
                rate_limit_per_minute=1000)
    app = create_app({"SETTINGS": s})
    address = {"REMOTE_ADDR": f"10.7.{uuid.uuid4().int % 250}.9"}
    a, b = board(app, "a"), board(app, "b")
    sid = a.post("/v1/submissions", json={"cv": "Go developer"},
                 environ_base=address).get_json()["id"]
    with redis_sends() as sends:
        assert a.get(f"/v1/submissions/{sid}", environ_base=address).status_code == 200
    assert len(sends) == 1, f"{len(sends)} Redis round trips for a poll"
    codes = [c.get("/v1/submissions", environ_base=address).status_code
             for c in (a, b) * 4]
    assert codes == [200] * 8
    bad = [app.test_client().get("/v1/submissions", environ_base=address,
                                 headers={"Authorization": "Bearer bad"}).status_code
           for _ in range(4)]
    assert bad == [401, 401, 401, 429]


def test_queue_backpressure_answers_503(settings: Settings, redis_url: str) -> None:
    s = replace(settings, broker_url=redis_url, max_queue_depth=3)
    app = create_app({"SETTINGS": s})
    client = board(app, "a")
    try:
        codes = [client.post("/v1/submissions", json={"cv": f"c{i}"}).status_code
                 for i in range(5)]
        assert codes == [202, 202, 202, 503, 503]
        r = client.post("/v1/submissions", json={"cv": "late"})
        assert r.headers["Retry-After"] and "queue is full" in r.get_json()["message"]
    finally:
        redis.Redis.from_url(redis_url).delete(*worker_queues(s.queue))


def test_backpressure_counts_cvs_where_a_message_carries_several(
        settings: Settings, redis_url: str) -> None:
    """Redis counts messages; a bulk message carries up to MESSAGE_IDS ids, so between the
    bounds the database's queued rows decide."""
    s = replace(settings, broker_url=redis_url, max_queue_depth=20)
    app = create_app({"SETTINGS": s})
    client = board(app, "a")
    try:
        batch = [{"cv": f"c{i}"} for i in range(MESSAGE_IDS * 2)]
        assert client.post("/v1/submissions/batch", json=batch).status_code == 202
        assert queue_depth(redis.Redis.from_url(redis_url), s.queue) == 2  # two messages
        late = client.post("/v1/submissions/batch", json=batch[:20 - len(batch) + 1])
        assert late.status_code == 503, "a 21st CV where the queue holds 20"
        fits = client.post("/v1/submissions/batch", json=batch[:20 - len(batch)])
        assert fits.status_code == 202
    finally:
        redis.Redis.from_url(redis_url).delete(*worker_queues(s.queue))


def test_delete_erases_the_cv_and_its_result_and_a_leftover_message_is_harmless(
        app: Flask) -> None:
    from worker.processing import claim

    a = board(app, "a")
    sid = a.post("/v1/submissions", json={"cv": "secret cv text"}).get_json()["id"]
    keep = a.post("/v1/submissions", json={"cv": "another"}).get_json()["id"]
    res = resources(app)
    queue = redis.Redis.from_url(res.settings.broker_url)
    assert a.delete(f"/v1/submissions/{sid}").status_code == 204
    assert a.get(f"/v1/submissions/{sid}").status_code == 404
    assert a.delete(f"/v1/submissions/{sid}").status_code == 404
    assert queue_depth(queue, res.settings.queue) == 2  # the queue is not scanned: ids only
    assert claim(res.sessions, [sid], 300, fresh_only=True) == []  # a worker skips it
    with res.sessions() as s:
        assert list(s.scalars(select(Submission.id))) == [keep]
        assert s.scalar(select(func.count()).select_from(Result)) == 0


def test_a_concurrent_winner_with_the_same_idempotency_key_is_replayed(
        app: Flask, monkeypatch: pytest.MonkeyPatch) -> None:
    """Two requests with one key both find it new; the first commits. The second's insert
    fails on the key's unique index, and it answers with the winner's response, read on
    the request's read session, which sees the winner's commit."""
    import api.views
    from api import idempotency

    a, real = board(app, "a"), idempotency.stored_response
    winner = {"id": "w" * 32, "status": "queued", "status_url": "/v1/submissions/" + "w" * 32}

    def winner_commits_first(session: object, board_id: int, key: str, digest: str) -> object:
        monkeypatch.setattr(api.views.idempotency, "stored_response", real)
        with resources(app).sessions.begin() as s:
            s.add(IdempotencyRecord(board_id=board_id, key=key, request_hash=digest,
                                    status_code=202, response=winner))
        return None

    monkeypatch.setattr(api.views.idempotency, "stored_response", winner_commits_first)
    r = a.post("/v1/submissions", json={"cv": "same"}, headers={"Idempotency-Key": "race"})
    assert r.status_code == 202 and r.get_json() == winner
    assert r.headers["Idempotent-Replayed"] == "true"
    with resources(app).sessions() as s:
        assert s.scalar(select(func.count()).select_from(Submission)) == 0


def test_erasure_takes_the_idempotency_record_along(app: Flask) -> None:
    a = board(app, "a")
    headers = {"Idempotency-Key": "order-77"}
    first = a.post("/v1/submissions", json={"cv": "a CV to erase"}, headers=headers)
    sid = first.get_json()["id"]
    assert a.delete(f"/v1/submissions/{sid}").status_code == 204
    with resources(app).sessions() as s:
        assert s.scalar(select(func.count()).select_from(IdempotencyRecord)) == 0
    again = a.post("/v1/submissions", json={"cv": "a CV to erase"}, headers=headers)
    assert again.status_code == 202 and again.get_json()["id"] != sid
    assert "Idempotent-Replayed" not in again.headers


def test_purge_enforces_retention(app: Flask) -> None:
    a = board(app, "a")
    old = a.post("/v1/submissions", json={"cv": "old"}).get_json()["id"]
    new = a.post("/v1/submissions", json={"cv": "new"}).get_json()["id"]
    sessions = resources(app).sessions
    with sessions.begin() as s:
        s.execute(update(Submission).where(Submission.id == old)
                  .values(created_at=utcnow() - timedelta(days=91)))
    assert purge_older_than(sessions, parse_age("90d")) == 1
    assert a.get(f"/v1/submissions/{old}").status_code == 404
    assert a.get(f"/v1/submissions/{new}").status_code == 200
    with pytest.raises(CvqError, match="not like"):
        parse_age("ninety days")


@pytest.mark.postgres
def test_purge_leaves_no_erased_cv_text_in_dead_row_versions(pg_url: str) -> None:
    """Read the table's raw heap pages: a DELETE leaves the old row version (the CV text)
    on disk until a vacuum; purge runs that vacuum."""
    from sqlalchemy import text

    from shared.schema import open_database

    sessions = open_database(pg_url)
    create_key(sessions, "board")
    canary = f"CANARY-{uuid.uuid4().hex} Java developer, 6 years"
    with sessions.begin() as s:
        s.add(Submission(board_id=1, cv=canary, created_at=utcnow() - timedelta(days=100)))

    def pages_hold_canary() -> bool:
        with sessions.begin() as s:
            s.execute(text("CREATE EXTENSION IF NOT EXISTS pageinspect"))
            blocks = s.scalar(text("SELECT pg_relation_size('submissions') / 8192"))
            return any(s.scalar(text(
                "SELECT count(*) FROM heap_page_items(get_raw_page('submissions', :b)) "
                "WHERE position(convert_to(:c, 'UTF8') in t_data) > 0"),
                {"b": b, "c": canary}) for b in range(int(blocks or 0)))

    assert pages_hold_canary()
    from shared.retention import erase

    with sessions.begin() as s:  # what DELETE /v1/submissions/<id> does
        erase(s, Submission.cv == canary)
    assert pages_hold_canary(), "PostgreSQL keeps the dead version until a vacuum"
    purge_older_than(sessions, parse_age("90d"))
    assert not pages_hold_canary()


def test_rotation_voids_the_old_key_and_brings_a_revoked_board_back(app: Flask) -> None:
    from shared.keys import rotate

    sessions = resources(app).sessions
    old = create_key(sessions, "rotating")
    client = app.test_client()

    def status(key: str) -> int:
        return client.get("/v1/submissions", headers={"Authorization": f"Bearer {key}"}
                          ).status_code

    sid = client.post("/v1/submissions", json={"cv": "kept across rotation"},
                      headers={"Authorization": f"Bearer {old}"}).get_json()["id"]
    revoke(sessions, "rotating")
    assert status(old) == 401
    new = rotate(sessions, "rotating")
    assert status(old) == 401 and status(new) == 200
    erased = client.delete(f"/v1/submissions/{sid}", headers={"Authorization": f"Bearer {new}"})
    assert erased.status_code == 204, "a revoked board's data can be erased after rotation"
    with pytest.raises(CvqError, match="no board named"):
        rotate(sessions, "nobody")
