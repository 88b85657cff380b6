"""What an operator looks at, from the record (SQL) and the broker (Redis): queue depth, the
oldest queued submission's age (the signal to scale on), throughput, failures, and the
workers alive (their heartbeats). One source for `cvqueue status`, `/metrics` and the
dashboard."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import redis
from sqlalchemy import func, select
from sqlalchemy.orm import sessionmaker

from shared.broker import lane_depths
from shared.db import UNFINISHED, Submission, as_utc, utcnow

HEARTBEAT_EVERY = 10.0
HEARTBEAT_TTL = 35


@dataclass(frozen=True)
class WorkerBeat:
    name: str
    model_version: str
    classifier: str
    seconds_ago: float
    batches: int


@dataclass
class Status:
    queue_messages: int | None
    submissions: dict[str, int]
    oldest_queued_seconds: float
    done_last_minute: int
    done_last_hour: int
    failures_last_hour: list[tuple[str, int]]
    workers: list[WorkerBeat] = field(default_factory=list)
    requeued_total: int = 0
    gave_up_total: int = 0
    #: Messages waiting per lane (interactive, bulk); None without a Redis broker.
    lanes: dict[str, int] | None = None

    @property
    def waiting(self) -> int:
        return self.submissions.get("queued", 0) + self.submissions.get("processing", 0)

    @property
    def stalled(self) -> bool:
        """Work waits and no worker is alive: what a health check should page on."""
        return not self.workers and (self.waiting > 0 or bool(self.queue_messages))


def collect(sessions: sessionmaker[Any], broker: redis.Redis | None, queue: str) -> Status:
    now = utcnow()
    with sessions() as session:
        counts = dict(session.execute(select(Submission.status, func.count())
                                      .group_by(Submission.status)).tuples().all())
        oldest = session.scalar(select(func.min(Submission.created_at))
                                .where(Submission.status == "queued"))
        done = [session.scalar(select(func.count()).where(
            Submission.status == "done", Submission.finished_at >= now - span))
            for span in (timedelta(minutes=1), timedelta(hours=1))]
        failures = session.execute(
            select(Submission.error, func.count()).where(
                Submission.status == "failed",
                Submission.finished_at >= now - timedelta(hours=1))
            .group_by(Submission.error).order_by(func.count().desc()).limit(10)).tuples().all()
    lanes = lane_depths(broker, queue)
    return Status(
        queue_messages=None if lanes is None else sum(lanes.values()), lanes=lanes,
        submissions={k: int(v) for k, v in
                                                                 counts.items()},
        oldest_queued_seconds=(now - as_utc(oldest)).total_seconds() if oldest else 0.0,
        done_last_minute=int(done[0] or 0), done_last_hour=int(done[1] or 0),
        failures_last_hour=[(reason or "unknown", int(n)) for reason, n in failures],
        workers=workers_alive(broker, queue),
        requeued_total=counter(broker, queue, "requeued"),
        gave_up_total=counter(broker, queue, "gave_up"))


@dataclass(frozen=True)
class Point:
    at: datetime
    done: int
    waiting: int


def history(sessions: sessionmaker[Any], hours: int = 6, buckets: int = 36) -> list[Point]:
    """CVs done per bucket and the queue (queued + processing) at each bucket's end, over the
    last `hours`, from SQL timestamps: the queue then is the queue now, plus what finished
    since, minus what arrived since (erased rows are gone from both)."""
    now = utcnow()
    start = now - timedelta(hours=hours)
    width = (now - start) / buckets
    with sessions() as session:
        created = [as_utc(t) for t in session.scalars(
            select(Submission.created_at).where(Submission.created_at >= start))]
        finished = [as_utc(t) for t in session.scalars(
            select(Submission.finished_at).where(Submission.finished_at >= start))]
        waiting_now = session.scalar(select(func.count()).where(
            Submission.status.in_(UNFINISHED))) or 0

    def per_bucket(times: list[datetime]) -> list[int]:
        counts = [0] * buckets
        for t in times:
            counts[min(buckets - 1, int((t - start) / width))] += 1
        return counts

    arrived, done = per_bucket(created), per_bucket(finished)
    points, waiting = [], int(waiting_now)
    for i in reversed(range(buckets)):
        points.append(Point(start + width * (i + 1), done[i], max(0, waiting)))
        waiting += done[i] - arrived[i]
    return points[::-1]


# Heartbeats: each worker process writes one key with a time to live; a process that dies
# (or hangs) stops writing and its key expires.

def _beat_key(queue: str, name: str = "*") -> str:
    return f"cvq:{queue}:worker:{name}"


def beat(broker: redis.Redis, queue: str, name: str, info: dict[str, Any]) -> None:
    broker.set(_beat_key(queue, name), json.dumps({**info, "at": time.time()}),
               ex=HEARTBEAT_TTL)


def start_heartbeat(broker: redis.Redis | None, queue: str,
                    info: Callable[[], dict[str, Any]]) -> None:
    """A daemon thread that beats every HEARTBEAT_EVERY seconds for this process."""
    if broker is None:
        return
    name = f"{socket.gethostname()}:{os.getpid()}"

    def loop() -> None:
        while True:
            with contextlib.suppress(redis.RedisError):  # down: the next beat tries again
                beat(broker, queue, name, info())
            time.sleep(HEARTBEAT_EVERY)

    threading.Thread(target=loop, name="cvqueue-heartbeat", daemon=True).start()


def workers_alive(broker: redis.Redis | None, queue: str) -> list[WorkerBeat]:
    if broker is None:
        return []
    try:
        keys = list(broker.scan_iter(match=_beat_key(queue), count=500))
        values = broker.mget(keys) if keys else []
    except redis.RedisError:
        return []
    beats = []
    for key, raw in zip(keys, values, strict=True):
        if raw is None:
            continue
        info = json.loads(raw)
        beats.append(WorkerBeat(
            name=key.decode().rsplit(":worker:", 1)[-1], seconds_ago=time.time() - info["at"],
            model_version=str(info.get("model_version", "")),
            classifier=str(info.get("classifier", "")), batches=int(info.get("batches", 0))))
    return sorted(beats, key=lambda b: b.name)


# Counters the sweeper keeps in Redis, so that the API's /metrics can serve them.

def count(broker: redis.Redis | None, queue: str, what: str, n: int) -> None:
    if broker is not None and n:
        with contextlib.suppress(redis.RedisError):
            broker.incrby(f"cvq:{queue}:count:{what}", n)


def counter(broker: redis.Redis | None, queue: str, what: str) -> int:
    if broker is None:
        return 0
    try:
        return int(broker.get(f"cvq:{queue}:count:{what}") or 0)
    except redis.RedisError:
        return 0
