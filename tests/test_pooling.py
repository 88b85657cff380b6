"""shared.pooling: a connection the server dropped is replaced before use, and a busy
pool's connections cost no ping (real PostgreSQL on loopback)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import psycopg
import pytest
from flask import Flask
from sqlalchemy import Engine, create_engine, text

from api import create_app
from api.resources import resources
from shared.config import Settings
from shared.db import make_engine
from shared.keys import create_key
from shared.pooling import check_on_checkout
from shared.stack import wait_until


def backend_pid(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(text("SELECT pg_backend_pid()")).scalar_one())


def terminate(url: str, pids: set[int]) -> None:
    """Terminate the backends and wait until they are gone, as after a restart."""
    with psycopg.connect(url, autocommit=True) as admin:
        for pid in pids:
            admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
        assert wait_until(lambda: admin.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE pid = ANY(%s)", (list(pids),)
        ).fetchone() == (0,), 10, [], 0.05), "the backends did not exit"


def count_pings(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    pings: list[int] = []
    ping: Callable[[Any], bool] = engine.dialect.do_ping

    def counted(dbapi_connection: Any) -> bool:
        pings.append(1)
        return ping(dbapi_connection)

    monkeypatch.setattr(engine.dialect, "do_ping", counted)
    return pings


def test_a_busy_connection_is_reused_without_a_ping(pg_url: str,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    engine = make_engine(pg_url)
    pings = count_pings(engine, monkeypatch)
    assert len({backend_pid(engine) for _ in range(20)}) == 1
    assert pings == []


def test_a_terminated_backend_is_replaced_before_use(pg_url: str,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """The server's FATAL error and close show on the idle socket: no ping needed."""
    engine = make_engine(pg_url)
    pings = count_pings(engine, monkeypatch)
    first = backend_pid(engine)
    terminate(pg_url, {first})
    assert backend_pid(engine) != first
    assert pings == []


def test_an_idle_connection_is_pinged_and_replaced_when_the_ping_fails(
        pg_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """A connection dropped without a word (a firewall's timeout) shows nothing on its
    socket: past the idle time it is pinged, and a failed ping recycles the pool."""
    engine = create_engine(pg_url.replace("postgresql://", "postgresql+psycopg://"))
    check_on_checkout(engine, ping_idle_after=0.0)
    pings = count_pings(engine, monkeypatch)
    first = backend_pid(engine)
    assert backend_pid(engine) == first and pings == [1]

    def dropped(_: Any) -> bool:
        pings.append(1)
        raise psycopg.OperationalError("server closed the connection unexpectedly")

    monkeypatch.setattr(engine.dialect, "do_ping", dropped)
    assert backend_pid(engine) != first
    assert pings == [1, 1]


def app_on(url: str, settings: Settings) -> tuple[Flask, str]:
    from dataclasses import replace

    app = create_app({"SETTINGS": replace(settings, database_url=url)})
    return app, create_key(resources(app).sessions, "board-p")


def test_the_api_answers_after_its_database_connections_are_dropped(
        pg_url: str, settings: Settings) -> None:
    """What the pre-ping was for: every pooled connection terminated (a restart), and the
    next poll and submit are answered, not 503."""
    app, key = app_on(pg_url, settings)
    client = app.test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {key}"
    sid = client.post("/v1/submissions", json={"cv": "Go developer"}).get_json()["id"]
    assert client.get(f"/v1/submissions/{sid}").status_code == 200
    engine = resources(app).sessions.kw["bind"]
    pooled = engine.pool.checkedin()
    assert pooled >= 1
    with psycopg.connect(pg_url, autocommit=True) as own:
        mine = own.execute("SELECT pg_backend_pid()").fetchone()
        pids = {pid for (pid,) in own.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
            " AND pid <> %s", mine).fetchall()}
    assert len(pids) >= pooled  # the pool's, and the key cache's listener (api.keycache)
    terminate(pg_url, pids)
    assert client.get(f"/v1/submissions/{sid}").status_code == 200
    assert client.post("/v1/submissions", json={"cv": "Rust developer"}).status_code == 202
