"""The sweeper: the SQL row is the truth, the broker only a hint.

Each pass, in one UPDATE ... RETURNING per step (so two sweepers never claim the same row):
1. `processing` rows whose lease ran out with their attempts used up become `failed`;
2. `processing` rows whose lease ran out (their worker died) are re-enqueued;
3. `queued` rows whose message may be lost are re-enqueued: when the broker queue is empty
   (Redis restarted or flushed) and they were last enqueued over `requeue_after` ago, or
   whatever the queue holds once they wait ten times that long.
A re-enqueued id that is already in the queue is harmless: workers skip rows they cannot claim.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import redis
from celery import Celery
from kombu.exceptions import OperationalError as BrokerError
from redis.exceptions import RedisError
from sqlalchemy import ColumnElement, select, update
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import sessionmaker

from shared.broker import enqueue, queue_depth, redis_for
from shared.config import Settings
from shared.db import Submission, utcnow

log = logging.getLogger("cvqueue.sweeper")
MAX_ROWS = 5_000


@dataclass
class SweepResult:
    failed: int = 0
    requeued: int = 0


def _stamp(sessions: sessionmaker[Any], where: ColumnElement[bool], now: Any) -> list[str]:
    """Stamp `enqueued_at` on up to MAX_ROWS matching rows and return their ids, atomically."""
    with sessions.begin() as session:
        seqs = select(Submission.seq).where(where).order_by(Submission.seq).limit(MAX_ROWS)
        stmt = (update(Submission).where(Submission.seq.in_(seqs.scalar_subquery()), where)
                .values(enqueued_at=now).returning(Submission.id))
        return list(session.scalars(stmt))


def sweep_once(sessions: sessionmaker[Any], celery: Celery, settings: Settings,
               broker_redis: redis.Redis | None) -> SweepResult:
    now = utcnow()
    stale = now - timedelta(seconds=settings.lease_seconds)
    result = SweepResult()
    expired = (Submission.status == "processing") & (Submission.started_at < stale)
    with sessions.begin() as session:
        result.failed = session.execute(
            update(Submission).where(expired, Submission.attempts >= settings.max_attempts)
            .values(status="failed", finished_at=now,
                    error=f"gave up after {settings.max_attempts} attempts: the worker "
                          "processing it stopped (crash or out of memory)")).rowcount
    depth = queue_depth(broker_redis, settings.queue)
    if depth is None:
        log.warning("broker unreachable; nothing re-enqueued this pass")
        return result
    quiet = now - timedelta(seconds=settings.requeue_after)
    long_quiet = now - timedelta(seconds=10 * settings.requeue_after)
    waiting = (Submission.status == "queued") & (
        Submission.enqueued_at < (quiet if depth == 0 else long_quiet))
    ids = _stamp(sessions, (expired & (Submission.enqueued_at < stale)) | waiting, now)
    if ids:
        enqueue(celery, ids, settings.queue)
    result.requeued = len(ids)
    return result


def run(sessions: sessionmaker[Any], celery: Celery, settings: Settings, once: bool = False
        ) -> None:
    broker_redis = redis_for(settings.broker_url)
    while True:
        try:
            result = sweep_once(sessions, celery, settings, broker_redis)
            if result.failed or result.requeued:
                log.info("sweep: %d re-enqueued, %d marked failed", result.requeued, result.failed)
        except (OperationalError, BrokerError, RedisError, OSError) as exc:
            log.warning("sweep skipped: %s", type(exc).__name__)
        if once:
            return
        time.sleep(settings.sweep_interval)
