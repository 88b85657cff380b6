"""The sweeper re-enqueues what a worker will not finish, and never floods the queue.

Real Redis (the messages are counted in the queue), SQLite; time moves by passing `now`."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

import pytest
import redis
from sqlalchemy import update
from sqlalchemy.orm import sessionmaker

from shared.broker import make_celery, message_ids, redis_for, worker_queues
from shared.config import Settings
from shared.db import Submission, utcnow
from shared.keys import create_key
from shared.schema import open_database
from tests.redis_wire import message_bodies
from worker.sweeper import sweep_once


@pytest.fixture()
def sweeper_settings(settings: Settings, redis_url: str) -> Settings:
    return replace(settings, broker_url=redis_url, lease_seconds=6, requeue_after=2,
                   max_attempts=3)


@pytest.fixture()
def broker(sweeper_settings: Settings) -> Iterator[redis.Redis]:
    client = redis_for(sweeper_settings.broker_url)
    assert client is not None
    yield client
    client.delete(*worker_queues(sweeper_settings.queue))


@pytest.fixture()
def sessions(sweeper_settings: Settings) -> sessionmaker[Any]:
    sessions = open_database(sweeper_settings.database_url)
    create_key(sessions, "board")
    return sessions


def add(sessions: sessionmaker[Any], n: int, **values: Any) -> list[str]:
    with sessions.begin() as db:
        rows = [Submission(board_id=1, cv="text", **values) for _ in range(n)]
        db.add_all(rows)
    return [r.id for r in rows]


def queued_ids(broker: redis.Redis, queue: str) -> list[str]:
    """The ids the lanes' messages carry."""
    return [sid for body in message_bodies(broker, *worker_queues(queue))
            for sid in message_ids(body[0])]


def sweep(sessions: sessionmaker[Any], s: Settings, broker: redis.Redis, now: datetime) -> int:
    return sweep_once(sessions, make_celery(s), s, broker, now).requeued


def test_a_dead_workers_rows_are_re_enqueued_once_per_claim(
        sessions: sessionmaker[Any], sweeper_settings: Settings, broker: redis.Redis) -> None:
    start = utcnow()
    claimed = start - timedelta(seconds=10)
    add(sessions, 7, status="processing", attempts=1, enqueued_at=claimed - timedelta(seconds=1),
        started_at=claimed)
    assert sweep(sessions, sweeper_settings, broker, start) == 7
    # A worker that stopped consuming: its rows stay `processing`, nothing is claimed again.
    # Four minutes of one-second passes send each id only a few more copies.
    for second in range(1, 241):
        sweep(sessions, sweeper_settings, broker, start + timedelta(seconds=second))
        broker.rpush(sweeper_settings.queue, b"other work")  # the queue is never empty
    copies = len(queued_ids(broker, sweeper_settings.queue))
    assert 7 <= copies <= 7 * 4, copies


def test_a_message_that_is_not_consumed_is_sent_again_only_when_it_may_be_lost(
        sessions: sessionmaker[Any], sweeper_settings: Settings, broker: redis.Redis) -> None:
    now = utcnow()
    add(sessions, 3, enqueued_at=now - timedelta(seconds=5))
    broker.rpush(sweeper_settings.queue, b"other work")
    assert sweep(sessions, sweeper_settings, broker, now) == 0, "in the queue, not lost"
    broker.delete(*worker_queues(sweeper_settings.queue))
    assert sweep(sessions, sweeper_settings, broker, now) == 3, "queue empty: lost"
    broker.delete(*worker_queues(sweeper_settings.queue))  # flushed again: the wait has doubled to 4 s
    assert sweep(sessions, sweeper_settings, broker, now + timedelta(seconds=3)) == 0
    assert sweep(sessions, sweeper_settings, broker, now + timedelta(seconds=5)) == 3


def test_a_row_put_back_after_a_failed_model_step_goes_out_at_once(
        sessions: sessionmaker[Any], sweeper_settings: Settings, broker: redis.Redis) -> None:
    now = utcnow()
    broker.rpush(sweeper_settings.queue, b"other work")
    add(sessions, 1, status="queued", attempts=1, enqueued_at=now - timedelta(seconds=1),
                started_at=now)
    assert sweep(sessions, sweeper_settings, broker, now) == 1
    assert sweep(sessions, sweeper_settings, broker, now) == 0


def test_used_up_attempts_fail_with_a_reason(sessions: sessionmaker[Any],
                                             sweeper_settings: Settings,
                                             broker: redis.Redis) -> None:
    now = utcnow()
    add(sessions, 1, status="processing", attempts=3,
                started_at=now - timedelta(seconds=60))
    result = sweep_once(sessions, make_celery(sweeper_settings), sweeper_settings, broker, now)
    assert (result.failed, result.requeued) == (1, 0)
    with sessions() as db:
        failed = db.get(Submission, 1)
        assert failed is not None and failed.status == "failed"
        assert "gave up after 3 attempts" in (failed.error or "")
    with sessions.begin() as db:  # a failed row is never re-enqueued
        db.execute(update(Submission).values(enqueued_at=now - timedelta(days=1)))
    assert sweep(sessions, sweeper_settings, broker, now) == 0
