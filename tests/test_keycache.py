"""api.keycache: an API process answers a known key without a database round trip, and
forgets it the moment PostgreSQL reports a change to the boards (real PostgreSQL, the real
API through Flask's client, changes made on other connections)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import Any

import psycopg
import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import event

from api import create_app
from api.keycache import APPLICATION_NAME, KeyCache, Listener
from api.resources import resources
from shared.config import Settings
from shared.db import make_sessions
from shared.keys import KeyHolder, create_key, revoke, rotate
from shared.schema import open_database
from shared.stack import wait_until
from tests.test_operators import metric


def wait_for(condition: Callable[[], bool], what: str, timeout: float = 10) -> None:
    assert wait_until(condition, timeout, [], 0.01), f"timed out waiting for {what}"


HOLDER = KeyHolder(7, "board")


class TestKeyCache:
    """The cache alone, with a lookup that counts its calls."""

    def lookup(self, calls: list[str], holder: KeyHolder | None = HOLDER
               ) -> Callable[[str], KeyHolder | None]:
        def looked_up(digest: str) -> KeyHolder | None:
            calls.append(digest)
            return holder
        return looked_up

    def test_answers_nothing_until_confirmed(self) -> None:
        cache, calls = KeyCache(), list[str]()
        for _ in range(3):
            assert cache.holder("d", self.lookup(calls)) == HOLDER
        assert calls == ["d"] * 3

    def test_a_confirmed_cache_answers_a_known_key(self) -> None:
        cache, calls = KeyCache(), list[str]()
        cache.confirm()
        for _ in range(3):
            assert cache.holder("d", self.lookup(calls)) == HOLDER
        assert calls == ["d"]

    def test_never_caches_an_invalid_key(self) -> None:
        cache, calls = KeyCache(), list[str]()
        cache.confirm()
        assert cache.holder("d", self.lookup(calls, None)) is None
        assert cache.holder("d", self.lookup(calls, None)) is None
        assert calls == ["d", "d"]

    def test_a_lookup_that_raced_a_change_is_not_stored(self) -> None:
        cache, calls = KeyCache(), list[str]()
        cache.confirm()

        def changed_meanwhile(digest: str) -> KeyHolder:
            calls.append(digest)
            cache.invalidate()  # a notification arrived while the row was read
            return HOLDER

        cache.holder("d", changed_meanwhile)
        cache.holder("d", self.lookup(calls))
        assert calls == ["d", "d"]

    def test_stops_serving_when_its_listener_is_lost(self) -> None:
        cache, calls = KeyCache(), list[str]()
        cache.confirm()
        cache.holder("d", self.lookup(calls))
        cache.stop_serving()
        cache.holder("d", self.lookup(calls))
        assert calls == ["d", "d"]


@pytest.fixture()
def pg_app(pg_url: str, settings: Settings) -> Iterator[Flask]:
    app = create_app({"SETTINGS": replace(settings, database_url=pg_url)})
    yield app
    resources(app).keys.close()


def client_with(app: Flask, key: str) -> FlaskClient:
    client = app.test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {key}"
    return client


def key_lookups(app: Flask) -> list[str]:
    """From now on, each statement the app sends that reads a key."""
    sent: list[str] = []
    event.listen(resources(app).sessions.kw["bind"], "before_cursor_execute",
                 lambda _conn, _cursor, sql, *rest: sent.append(sql) if "key_hash" in sql
                 else None)
    return sent


def notified(app: Flask, change: Callable[[], Any]) -> None:
    """Make `change` on another connection and wait until the API process has heard of it."""
    cache = resources(app).keys
    before = cache._generation
    change()
    wait_for(lambda: cache._generation != before, "the change's notification")


def metrics_of(app: Flask) -> str:
    operator = create_key(resources(app).sessions, "ops", role="operator")
    response = client_with(app, operator).get("/metrics")
    assert response.status_code == 200
    return response.get_data(as_text=True)


def test_a_known_key_costs_no_database_round_trip(pg_app: Flask) -> None:
    """Also on /metrics: the cache answers, four hits and two misses (the board's first
    request, and the operator's own key for this scrape)."""
    client = client_with(pg_app, create_key(resources(pg_app).sessions, "b1"))
    wait_for(lambda: resources(pg_app).keys.serving, "the listener")
    lookups = key_lookups(pg_app)
    for _ in range(5):
        assert client.get("/v1/submissions?ids=" + "0" * 32).status_code == 200
    assert len(lookups) == 1
    text = metrics_of(pg_app)
    assert metric(text, "cvqueue_api_key_cache_serving") == 1
    assert metric(text, "cvqueue_api_key_lookups_total", result="hit") == 4
    assert metric(text, "cvqueue_api_key_lookups_total", result="miss") == 2


def test_on_sqlite_every_key_is_looked_up(settings: Settings) -> None:
    app = create_app({"SETTINGS": settings})
    client = client_with(app, create_key(resources(app).sessions, "b0"))
    for _ in range(3):
        assert client.get("/v1/submissions?ids=" + "0" * 32).status_code == 200
    text = metrics_of(app)
    assert metric(text, "cvqueue_api_key_cache_serving") == 0
    assert metric(text, "cvqueue_api_key_lookups_total", result="hit") == 0
    assert metric(text, "cvqueue_api_key_lookups_total", result="miss") == 4


def test_a_revoked_or_rotated_key_stops_working_once_notified(pg_app: Flask,
                                                               pg_url: str) -> None:
    """The changes come from another process's connection, as `cvqueue keys` makes them."""
    other = make_sessions(pg_url)
    key = create_key(other, "b2")
    client = client_with(pg_app, key)
    wait_for(lambda: resources(pg_app).keys.serving, "the listener")
    assert client.get("/v1/submissions?ids=" + "0" * 32).status_code == 200
    notified(pg_app, lambda: revoke(other, "b2"))
    assert client.get("/v1/submissions?ids=" + "0" * 32).status_code == 401
    new_key: list[str] = []
    notified(pg_app, lambda: new_key.append(rotate(other, "b2")))
    assert client_with(pg_app, new_key[0]).get("/v1/submissions?ids=" + "0" * 32
                                               ).status_code == 200
    assert client.get("/v1/submissions?ids=" + "0" * 32).status_code == 401


def test_an_operators_own_sql_is_heard_too(pg_app: Flask, pg_url: str) -> None:
    """The trigger notifies whoever changes the boards, not only `cvqueue keys`."""
    client = client_with(pg_app, create_key(resources(pg_app).sessions, "b3"))
    wait_for(lambda: resources(pg_app).keys.serving, "the listener")
    assert client.get("/v1/submissions?ids=" + "0" * 32).status_code == 200

    def by_hand() -> None:
        with psycopg.connect(pg_url, autocommit=True) as conn:
            conn.execute("UPDATE boards SET revoked_at = now() WHERE name = 'b3'")

    notified(pg_app, by_hand)
    assert client.get("/v1/submissions?ids=" + "0" * 32).status_code == 401


def test_a_lost_listener_turns_the_cache_off_until_it_listens_again(
        pg_app: Flask, pg_url: str) -> None:
    """A change made while the listener is away is not missed: the cache is off then, and
    emptied when the listener is back."""
    cache = resources(pg_app).keys
    client = client_with(pg_app, create_key(resources(pg_app).sessions, "b4"))
    wait_for(lambda: cache.serving, "the listener")
    assert client.get("/v1/submissions?ids=" + "0" * 32).status_code == 200
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                     "WHERE application_name = %s AND datname = current_database()",
                     (APPLICATION_NAME,))
        wait_for(lambda: not cache.serving, "the cache off")
        conn.execute("UPDATE boards SET revoked_at = now() WHERE name = 'b4'")
    assert client.get("/v1/submissions?ids=" + "0" * 32).status_code == 401
    wait_for(lambda: cache.serving, "the listener back")
    assert client.get("/v1/submissions?ids=" + "0" * 32).status_code == 401


def test_without_its_trigger_the_cache_stays_off(pg_url: str, settings: Settings,
                                                 caplog: pytest.LogCaptureFixture) -> None:
    app = create_app({"SETTINGS": replace(settings, database_url=pg_url)})
    resources(app).keys.close()
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("DROP TRIGGER boards_keys_changed ON boards")
    caplog.set_level(logging.WARNING, "cvqueue.api")
    app = create_app({"SETTINGS": replace(settings, database_url=pg_url)})
    try:
        client = client_with(app, create_key(resources(app).sessions, "b5"))
        wait_for(lambda: "boards_keys_changed missing" in caplog.text, "the warning")
        lookups = key_lookups(app)
        for _ in range(3):
            assert client.get("/v1/submissions?ids=" + "0" * 32).status_code == 200
        assert len(lookups) == 3 and not resources(app).keys.serving
    finally:
        resources(app).keys.close()


class PooledListener(Listener):
    """As behind a pooler in transaction mode: its notifications reach another session."""

    def probe(self, conn: psycopg.Connection[Any], probes: str) -> None:
        super().probe(conn, "cvq_probe_elsewhere")


def test_a_listener_whose_notifications_do_not_come_back_keeps_the_cache_off(
        pg_url: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    open_database(pg_url)
    monkeypatch.setattr("api.keycache.PROBE_TIMEOUT", 0.3)
    caplog.set_level(logging.WARNING, "cvqueue.api")
    cache = KeyCache()
    cache.listener = PooledListener(pg_url, cache)
    cache.listener.start()
    try:
        wait_for(lambda: "did not come back" in caplog.text, "the warning")
        assert not cache.serving
    finally:
        cache.close()
