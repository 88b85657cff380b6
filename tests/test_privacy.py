"""Personal data: no CV text in logs or in Redis; the worker refuses pickled messages."""

from __future__ import annotations

import time
import uuid
from dataclasses import replace
from pathlib import Path

import pytest
from kombu import Connection

from shared.broker import CLASSIFY_TASK
from shared.config import Settings
from shared.stack import LocalStack
from tests.faults import RedisServer

pytestmark = pytest.mark.e2e


def redis_contents(server: RedisServer) -> bytes:
    client = server.client()
    dump = b""
    for key in client.scan_iter("*"):
        kind = client.type(key)
        if kind == b"string":
            dump += client.get(key) or b""
        elif kind == b"list":
            dump += b"".join(client.lrange(key, 0, -1))
        elif kind == b"hash":
            dump += b"".join(v for kv in client.hgetall(key).items() for v in kv)
        elif kind == b"set":
            dump += b"".join(client.smembers(key))
        elif kind == b"zset":
            dump += b"".join(client.zrange(key, 0, -1))
    return dump


def test_canary_cv_never_reaches_logs_or_redis(settings: Settings, tmp_path: Path) -> None:
    canary = f"CANARY-{uuid.uuid4().hex}"
    server = RedisServer(tmp_path / "redis")
    server.start()
    try:
        s = replace(settings, broker_url=server.url, worker_pool="solo", requeue_after=1,
                    sweep_interval=0.5)
        with LocalStack(s, log_dir=tmp_path / "log") as stack:
            client = stack.client()
            cv = f"DevOps Engineer with 5 years. Docker, Kubernetes, Terraform. {canary}"
            ids = [client.submit({"cv": cv, "external_id": "canary"})]
            ids += client.submit_many([{"cv": cv + " batch"}])
            bad = client.http.post(f"{stack.url}/v1/submissions",
                                   json={"cv": cv, "unexpected": 1})  # an error body
            assert bad.status_code == 400 and canary not in bad.text
            client.wait(ids, timeout=240)
            got = client.get_many(ids)
            assert all(canary not in str(item) for item in got)
            contents = redis_contents(server)
            assert contents, "nothing was written to Redis: the check would prove nothing"
            assert canary.encode() not in contents
        logs = {p.name: p.read_text() for p in (tmp_path / "log").iterdir()}
        assert "batch done" in logs["worker-1.log"]
        for name, text in logs.items():
            assert canary not in text, f"CV text leaked into {name}"
    finally:
        server.stop()


def test_worker_refuses_pickled_messages(settings: Settings, redis_url: str,
                                         tmp_path: Path) -> None:
    s = replace(settings, broker_url=redis_url, worker_pool="solo")
    with LocalStack(s, sweepers=0, log_dir=tmp_path / "log") as stack:
        client = stack.client()
        ids = [client.submit({"cv": "QA Engineer, 2 years, Selenium"})]
        client.wait(ids, timeout=240)  # the worker is up and consuming
        with Connection(redis_url) as conn:
            producer = conn.Producer(serializer="pickle")
            producer.publish({"args": ["0" * 32], "kwargs": {}}, routing_key=s.queue,
                             exchange="", headers={"task": CLASSIFY_TASK, "id": "evil"},
                             declare=[])
        log = tmp_path / "log" / "worker-1.log"
        deadline = time.monotonic() + 30
        while "pickle" not in log.read_text() and time.monotonic() < deadline:
            time.sleep(0.2)
        text = log.read_text()
    assert "Refusing to deserialize untrusted content of type pickle" in text


def test_database_errors_never_carry_the_statements_values(tmp_path: Path) -> None:
    """Worker failures used to log the SQL parameters of the whole batch (other boards'
    labels and probabilities, CV text): the engine hides them from every error text."""
    from sqlalchemy.exc import IntegrityError

    from shared.db import Board
    from shared.schema import open_database

    sessions = open_database(f"sqlite:///{tmp_path / 'p.db'}")
    secret = "CANARY-PARAM-5e1d"
    with sessions.begin() as s:
        s.add(Board(name=secret, key_hash="h1", key_prefix="p"))
    with pytest.raises(IntegrityError) as caught, sessions.begin() as s:
        s.add(Board(name=secret, key_hash="h2", key_prefix="p"))
    assert secret not in str(caught.value)
    assert "parameters hidden" in str(caught.value)


def test_library_warnings_lose_the_drivers_details() -> None:
    import logging
    import sys

    from shared.bootstrap import DriverDetailsFilter

    try:
        raise ConnectionError('connection to server at "db.internal" (10.0.0.5), port 5432 '
                              'failed: FATAL: password authentication failed for user "app"')
    except ConnectionError:
        record = logging.LogRecord("sqlalchemy.pool.impl.QueuePool", logging.ERROR, __file__, 1,
                                   "Exception during reset or similar", None, sys.exc_info())
    DriverDetailsFilter().filter(record)
    text = logging.Formatter().format(record)
    assert "db.internal" not in text and "user" not in text
    assert "Exception during reset or similar (ConnectionError)" in text
    try:
        raise ValueError("a library's own error")
    except ValueError:
        other = logging.LogRecord("celery.worker", logging.ERROR, __file__, 1, "kept: %s",
                                  ("whole message",), sys.exc_info())
    DriverDetailsFilter().filter(other)
    assert other.getMessage() == "kept: whole message", "only SQLAlchemy's records change"
    assert other.exc_info is not None
