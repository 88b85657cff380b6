"""Fault tests: real worker, sweeper and API processes; a Redis of the tests' own that is
stopped and flushed; PostgreSQL cut off behind a proxy. Each asserts that every accepted
submission ends `done` exactly once (or `failed` with a reason, for the poison CV)."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest
from sqlalchemy import func, select

from models.generator import generate
from shared.broker import queue_depth
from shared.config import Settings
from shared.db import Result, Submission, make_sessions
from shared.schema import open_database
from shared.stack import LocalStack
from tests import poison
from tests.faults import RedisServer, TcpProxy

pytestmark = [pytest.mark.faults, pytest.mark.postgres]


@pytest.fixture()
def own_redis(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path / "redis")
    server.start()
    yield server
    server.stop()


@pytest.fixture()
def fault_settings(settings: Settings, own_redis: RedisServer, pg_url: str) -> Settings:
    return replace(settings, broker_url=own_redis.url, database_url=pg_url, batch_size=16,
                   batch_wait=0.3, lease_seconds=6, requeue_after=2, sweep_interval=1.0,
                   max_attempts=3, worker_pool="solo")


def cvs(n: int, seed: int = 31) -> list[dict[str, Any]]:
    return [{"cv": r["cv"], "position": r["opening_position"]} for r in generate(n, seed)]


def status_counts(database_url: str) -> dict[str, int]:
    sessions = make_sessions(database_url)
    with sessions() as s:
        rows = s.execute(select(Submission.status, func.count()).group_by(Submission.status))
        return {status: int(n) for status, n in rows}


def wait_for(predicate: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def audit(database_url: str, accepted: list[str]) -> dict[str, int]:
    """accepted / done / failed / lost / duplicated, from SQL."""
    sessions = make_sessions(database_url)
    with sessions() as s:
        statuses = dict(s.execute(select(Submission.id, Submission.status)).all())
        per_row = list(s.scalars(select(func.count()).select_from(Result)
                                 .group_by(Result.submission_seq)))
    report = {"accepted": len(accepted),
              "done": sum(statuses.get(i) == "done" for i in accepted),
              "failed": sum(statuses.get(i) == "failed" for i in accepted),
              "lost": sum(i not in statuses for i in accepted),
              "duplicated": sum(n - 1 for n in per_row if n > 1)}
    print("fault audit:", report)
    return report


def test_sigkill_worker_mid_batch(fault_settings: Settings, tmp_path: Path) -> None:
    with LocalStack(fault_settings, log_dir=tmp_path / "log") as stack:
        client = stack.client()
        ids = client.submit_many(cvs(60))
        wait_for(lambda: status_counts(fault_settings.database_url).get("processing", 0) > 0,
                 120, "a batch in progress")
        victim = stack.worker_procs[0]
        os.killpg(victim.pid, signal.SIGKILL)
        victim.wait()
        stack.start_worker("worker-2")
        client.wait(ids, timeout=240)
    assert audit(fault_settings.database_url, ids) == {
        "accepted": 60, "done": 60, "failed": 0, "lost": 0, "duplicated": 0}


def test_redis_down_at_submit_then_back(fault_settings: Settings, own_redis: RedisServer,
                                        tmp_path: Path) -> None:
    with LocalStack(fault_settings, log_dir=tmp_path / "log") as stack:
        client = stack.client()
        client.wait([client.submit(cvs(1, seed=1)[0])], timeout=120)  # worker warmed up
        own_redis.stop()
        ids = client.submit_many(cvs(20)) + [client.submit(c) for c in cvs(3, seed=2)]
        assert status_counts(fault_settings.database_url)["queued"] == 23
        own_redis.start()
        client.wait(ids, timeout=240)
    assert audit(fault_settings.database_url, ids) == {
        "accepted": 23, "done": 23, "failed": 0, "lost": 0, "duplicated": 0}


def test_redis_flushall_mid_run(fault_settings: Settings, own_redis: RedisServer,
                                tmp_path: Path) -> None:
    with LocalStack(fault_settings, log_dir=tmp_path / "log") as stack:
        client = stack.client()
        ids = client.submit_many(cvs(80))
        wait_for(lambda: status_counts(fault_settings.database_url).get("done", 0) > 0,
                 120, "the first batch")
        own_redis.client().flushall()
        client.wait(ids, timeout=240)
    assert audit(fault_settings.database_url, ids) == {
        "accepted": 80, "done": 80, "failed": 0, "lost": 0, "duplicated": 0}


def test_database_cut_during_worker_write(fault_settings: Settings, pg_url: str,
                                          tmp_path: Path) -> None:
    parts = urlsplit(pg_url)
    proxy = TcpProxy(parts.hostname or "127.0.0.1", parts.port or 5432)
    via_proxy = urlunsplit(parts._replace(netloc=f"{parts.username}@127.0.0.1:{proxy.port}"))
    stack = LocalStack(fault_settings, workers=0, log_dir=tmp_path / "log")
    try:
        stack.start()
        stack.settings = replace(stack.settings, database_url=via_proxy)
        stack.start_worker("worker-1")  # only the worker goes through the proxy
        client = stack.client()
        ids = client.submit_many(cvs(48))
        wait_for(lambda: status_counts(pg_url).get("processing", 0) > 0, 120, "a batch")
        proxy.cut()
        time.sleep(4)
        proxy.restore()
        client.wait(ids, timeout=240)
    finally:
        stack.stop()
        proxy.close()
    log = (tmp_path / "log" / "worker-1.log").read_text()
    assert "database unavailable" in log, "the cut did not hit the worker"
    assert audit(pg_url, ids) == {
        "accepted": 48, "done": 48, "failed": 0, "lost": 0, "duplicated": 0}


def test_poison_cv_that_kills_its_process_fails_alone(fault_settings: Settings,
                                                      tmp_path: Path) -> None:
    s = replace(fault_settings, worker_pool="prefork", worker_concurrency=1,
                runtime_factory=poison.FACTORY)
    items = cvs(12)
    items.insert(5, {"cv": f"Backend developer {poison.KILL} with 4 years of Redis"})
    with LocalStack(s, log_dir=tmp_path / "log") as stack:
        client = stack.client()
        ids = client.submit_many(items)
        results = client.wait(ids, timeout=300)
    killer = results[5]
    assert killer["status"] == "failed" and "gave up after 3 attempts" in killer["error"]
    assert killer["attempts"] == 3
    assert audit(s.database_url, ids) == {
        "accepted": 13, "done": 12, "failed": 1, "lost": 0, "duplicated": 0}


def test_worker_keeps_consuming_after_losing_more_batches_than_its_prefetch(
        fault_settings: Settings, tmp_path: Path) -> None:
    """Each batch of process-killing CVs dies with its pool child. Before batches were
    settled on loss, their messages held prefetch slots (here 2 x 4 = 8: two lost batches)
    and the worker never fetched again, so the healthy CVs behind them waited forever."""
    s = replace(fault_settings, worker_pool="prefork", worker_concurrency=1, batch_size=4,
                batch_wait=0.2, runtime_factory=poison.FACTORY, lease_seconds=600,
                requeue_after=600,  # no sweeper help: only the worker itself may recover
                # full batches only, so no healthy CV shares a batch with a killer (its
                # batch-mates would wait for the lease the sweeper is not here to end)
                batch_eager=False)
    with LocalStack(s, sweepers=0, log_dir=tmp_path / "log") as stack:
        client = stack.client()
        killers = client.submit_many([{"cv": f"{poison.KILL} {i}"} for i in range(12)])
        healthy = client.submit_many(cvs(8))
        results = client.wait(healthy, timeout=240)
    assert [r["status"] for r in results] == ["done"] * 8
    assert status_counts(s.database_url)["processing"] == len(killers)


def test_two_workers_two_sweepers(fault_settings: Settings, tmp_path: Path) -> None:
    s = replace(fault_settings, requeue_after=1, sweep_interval=0.5)
    with LocalStack(s, workers=2, sweepers=2, log_dir=tmp_path / "log") as stack:
        client = stack.client()
        ids = client.submit_many(cvs(120))
        client.wait(ids, timeout=300)
    assert audit(s.database_url, ids) == {
        "accepted": 120, "done": 120, "failed": 0, "lost": 0, "duplicated": 0}


def test_database_down_at_submit_is_503_and_enqueues_nothing(settings: Settings,
                                                             own_redis: RedisServer,
                                                             pg_url: str) -> None:
    from api import create_app
    from api.resources import resources
    from shared.keys import create_key

    parts = urlsplit(pg_url)
    proxy = TcpProxy(parts.hostname or "127.0.0.1", parts.port or 5432)
    via_proxy = urlunsplit(parts._replace(netloc=f"{parts.username}@127.0.0.1:{proxy.port}"))
    s = replace(settings, broker_url=own_redis.url, database_url=via_proxy)
    try:
        app = create_app({"SETTINGS": s})
        key = create_key(resources(app).sessions, "board")
        client = app.test_client()
        client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {key}"
        assert client.post("/v1/submissions", json={"cv": "ok"}).status_code == 202
        proxy.cut()
        resources(app).sessions.kw["bind"].dispose()  # drop pooled connections: a real outage
        r = client.post("/v1/submissions/batch", json=[{"cv": "a"}, {"cv": "b"}])
        assert r.status_code == 503 and r.is_json
        assert r.headers["Retry-After"] and "database" in r.get_json()["message"]
    finally:
        proxy.close()
    assert queue_depth(own_redis.client(), s.queue) == 1  # only the first one was enqueued
    assert status_counts(pg_url) == {"queued": 1}


def test_cv_that_fails_in_the_model_fails_alone(settings: Settings, artifacts: Path) -> None:
    """The in-process path (no crash): batch-mates complete, the bad CV ends `failed`."""
    from models.runtime import ModelRuntime
    from shared.keys import create_key
    from worker.processing import BatchProcessor

    s = replace(settings, max_attempts=2)
    sessions = open_database(s.database_url)
    create_key(sessions, "b")
    with sessions.begin() as db:
        rows = [Submission(board_id=1, cv=c["cv"]) for c in cvs(6)]
        rows.insert(2, Submission(board_id=1, cv=f"QA Engineer {poison.RAISE}"))
        db.add_all(rows)
    ids = [r.id for r in rows]
    processor = BatchProcessor(sessions, poison.PoisonedRuntime(ModelRuntime(artifacts)), s)
    assert processor.process(ids) == 6
    assert status_counts(s.database_url) == {"done": 6, "queued": 1}
    processor.process([ids[2]])  # second attempt: used up
    with sessions() as db:
        bad = db.scalar(select(Submission).where(Submission.id == ids[2]))
        assert bad is not None and bad.status == "failed" and bad.attempts == 2
        assert "model step failed" in (bad.error or "")
    assert audit(s.database_url, ids)["duplicated"] == 0
