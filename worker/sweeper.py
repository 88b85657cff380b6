"""The sweeper: the SQL row is the truth, the broker only a hint.

A row's last message is *in flight* until a worker claims the row (its `started_at` moves
past `enqueued_at`): it is in the queue, in a worker's buffer, or lost with Redis. Each pass,
in one UPDATE ... RETURNING per step (so two sweepers never claim the same row):
1. `processing` rows whose lease ran out with their attempts used up become `failed`;
2. rows whose last message was consumed but which did not finish are re-enqueued: a
   `processing` row whose lease ran out (its worker died), a `queued` one put back after a
   failed model step;
3. rows whose message may be lost are re-enqueued: in flight for `requeue_after` while the
   broker queue is empty (Redis restarted or flushed), or ten times that whatever the queue
   holds (a stuck worker's buffer), the wait doubling with every copy sent (up to 16x).
So a stuck or slow worker makes the queue hold a few copies of an id, never one per pass.
Copies are harmless anyway: workers skip rows they cannot claim.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import redis
from celery import Celery
from sqlalchemy import ColumnElement, case, select, update
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import sessionmaker

from shared.broker import BROKER_ERRORS, enqueue, queue_depth, redis_for
from shared.config import Settings
from shared.db import Submission, utcnow
from shared.events import add_events, complete_batches
from shared.status import count
from worker.deliveries import Dispatcher

log = logging.getLogger("cvqueue.sweeper")
MAX_ROWS = 5_000


@dataclass
class SweepResult:
    failed: int = 0
    requeued: int = 0


def _stamp(sessions: sessionmaker[Any], where: ColumnElement[bool], now: datetime
           ) -> dict[str, list[str]]:
    """Stamp up to MAX_ROWS matching rows as enqueued now, atomically; their ids by lane."""
    with sessions.begin() as session:
        seqs = select(Submission.seq).where(where).order_by(Submission.seq).limit(MAX_ROWS)
        stmt = (update(Submission).where(Submission.seq.in_(seqs.scalar_subquery()), where)
                .values(enqueued_at=now, enqueue_count=Submission.enqueue_count + 1)
                .returning(Submission.id, Submission.lane))
        by_lane: dict[str, list[str]] = {}
        for sid, lane in session.execute(stmt).tuples():
            by_lane.setdefault(lane, []).append(sid)
        return by_lane


def _give_up(sessions: sessionmaker[Any], expired: ColumnElement[bool], now: datetime,
             max_attempts: int) -> int:
    with sessions.begin() as session:
        failed = session.execute(
            update(Submission).where(expired, Submission.attempts >= max_attempts)
            .values(status="failed", finished_at=now,
                    error=f"gave up after {max_attempts} attempts: the worker processing it "
                          "stopped (crash or out of memory)")
            .returning(Submission.board_id, Submission.id)).tuples().all()
        add_events(session, "submission.failed", failed)
        complete_batches(session)  # also the batches whose last rows two workers finished
        return len(failed)


def _lost_before(wait: timedelta, now: datetime) -> ColumnElement[datetime]:
    """The enqueue time before which a message not yet consumed counts as lost: `wait`,
    doubled for every copy already sent, at most 16 times."""
    steps = [(Submission.enqueue_count <= n, now - wait * 2 ** (n - 1)) for n in range(1, 5)]
    return case(*steps, else_=now - wait * 16)


def sweep_once(sessions: sessionmaker[Any], celery: Celery, settings: Settings,
               broker_redis: redis.Redis | None, now: datetime | None = None) -> SweepResult:
    now = now or utcnow()
    stale = now - timedelta(seconds=settings.lease_seconds)
    expired = (Submission.status == "processing") & (Submission.started_at < stale)
    result = SweepResult(failed=_give_up(sessions, expired, now, settings.max_attempts))
    count(broker_redis, settings.queue, "gave_up", result.failed)
    depth = queue_depth(broker_redis, settings.queue)
    if depth is None:
        log.warning("broker unreachable; nothing re-enqueued this pass")
        return result
    consumed = Submission.started_at.is_not(None) & (Submission.started_at > Submission.enqueued_at)
    unfinished = expired | (Submission.status == "queued")
    wait = timedelta(seconds=settings.requeue_after * (1 if depth == 0 else 10))
    lost = ~consumed & (Submission.enqueued_at < _lost_before(wait, now))
    by_lane = _stamp(sessions, unfinished & (consumed | lost), now)
    for lane, ids in by_lane.items():
        enqueue(celery, ids, settings.queue, lane)
    result.requeued = sum(len(ids) for ids in by_lane.values())
    count(broker_redis, settings.queue, "requeued", result.requeued)
    return result


def run(sessions: sessionmaker[Any], celery: Celery, settings: Settings, once: bool = False
        ) -> None:
    """Sweep every `sweep_interval`; the webhook dispatcher runs beside it in a thread."""
    broker_redis = redis_for(settings.broker_url)
    dispatcher = Dispatcher(sessions, settings)
    if not once:
        dispatcher.start()
    try:
        while True:
            _sweep_logged(sessions, celery, settings, broker_redis)
            if once:
                dispatcher.run_once()
                return
            time.sleep(settings.sweep_interval)
    finally:
        dispatcher.stop()


def _sweep_logged(sessions: sessionmaker[Any], celery: Celery, settings: Settings,
                  broker_redis: redis.Redis | None) -> None:
    try:
        result = sweep_once(sessions, celery, settings, broker_redis)
        if result.failed or result.requeued:
            log.info("sweep: %d re-enqueued, %d marked failed", result.requeued, result.failed)
    except (OperationalError, *BROKER_ERRORS) as exc:
        log.warning("sweep skipped: %s", type(exc).__name__)
