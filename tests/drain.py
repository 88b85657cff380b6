"""The bench's worker alone: a backlog queued before the worker starts, then drained with no
submits or polls beside it (the bench watches the database, not the API).

Its rate against the raw encode splits the end-to-end ratio in two: what the worker's own
steps cost (claim, tokenizing, classifying, top-k, explanations, store, Celery's consumer),
and what the API and its clients take from the cores they share with the workers on one
machine, which the burst's ratio adds to it."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from shared.config import Settings
from shared.db import UNFINISHED, Result, Submission, as_utc, make_sessions
from shared.stack import LocalStack

#: The worker's per-stage histogram sums: stage -> (seconds, observations).
StageSums = dict[str, tuple[float, float]]
#: Seconds between two looks at whether the backlog is drained.
DRAIN_POLL_EVERY = 1.0


def stages_since(before: StageSums, after: StageSums) -> StageSums:
    """The stage sums of what ran between two reads of the worker's metrics."""
    return {s: (v[0] - before[s][0], v[1] - before[s][1]) for s, v in after.items()}


def per_batch(stages: StageSums) -> str:
    """Each stage's mean seconds (a stage is observed once a batch; `queued` once a CV)."""
    return "  ".join(f"{s} {v[0] / max(v[1], 1):.3f}" for s, v in stages.items()
                     if s != "queued")


@dataclass(frozen=True)
class DrainFigure:
    cvs: int
    seconds: float
    batches: int
    #: The drain's stages, from the worker's own metrics (it ran nothing else).
    stages: StageSums = field(default_factory=dict)

    @property
    def rate(self) -> float:
        return self.cvs / self.seconds

    def lines(self, yardstick: float, layout_per_process: float) -> list[str]:
        """`layout_per_process`: one process's CVs/s in the workers' layout, the encode
        alone; a batch of this drain's mean size takes it `mean / layout_per_process` s."""
        mean = self.cvs / max(self.batches, 1)
        return [
            f"end to end, worker alone on a backlog ({self.cvs} CVs queued before it started; "
            f"first claim to last stored, no submits or polls meanwhile): {self.rate:.1f} "
            f"CVs/s in {self.seconds:.1f} s, {self.batches} micro-batches, mean size {mean:.1f}",
            f"ratio worker alone / raw encode: {self.rate / yardstick:.3f} (what the worker's "
            "own steps cost; the burst's ratio adds what the API and clients take)",
            f"stage seconds per batch (worker alone): {per_batch(self.stages)};  the encode "
            f"alone in the workers' layout, a batch of {mean:.1f}: {mean / layout_per_process:.3f}"]


def backlog_drain(settings: Settings, items: list[dict[str, Any]], log_dir: Path,
                  stages: Callable[[], StageSums] = dict, timeout: float = 600) -> DrainFigure:
    """Queue `items` through the batch endpoint with no worker running, start one, and time
    it from its first claim to its last result, by the database's clock; `stages` reads the
    worker's stage metrics once it is done."""
    with LocalStack(settings, workers=0, sweepers=0, log_dir=log_dir) as stack:
        client, ids = stack.client(), list[str]()
        for start in range(0, len(items), 100):
            ids += client.submit_many(items[start:start + 100])
        stack.start_worker()
        sessions = make_sessions(stack.settings.database_url)
        deadline = time.monotonic() + timeout
        while unfinished(sessions, ids):
            if time.monotonic() > deadline or stack.worker_procs[0].poll() is not None:
                raise RuntimeError(f"the backlog was not drained; see {log_dir}")
            # The drain is timed by the database's clock, so a late look costs nothing; a
            # count of 1,200 ids every 0.25 s took 1.5% (SQLite) to 4% (PostgreSQL) of a
            # core from the worker it measures.
            time.sleep(DRAIN_POLL_EVERY)
        with sessions() as s:
            first, last = s.execute(select(func.min(Submission.started_at),
                                           func.max(Submission.finished_at))
                                    .where(Submission.id.in_(ids))).one()
        batches, _ = batch_sizes(stack.settings.database_url, ids)
        sums = stored_stages(stages, batches, deadline)
    return DrainFigure(len(ids), (as_utc(last) - as_utc(first)).total_seconds(), batches, sums)


def stored_stages(stages: Callable[[], StageSums], batches: int, deadline: float
                  ) -> StageSums:
    """The stage metrics once they count every batch's store: a result is visible before
    its batch's store time is observed, which follows the commit."""
    sums = stages()
    while sums and sums["store"][1] < batches and time.monotonic() < deadline:
        time.sleep(0.05)
        sums = stages()
    return sums


def batch_sizes(database_url: str, ids: list[str]) -> tuple[int, float]:
    sessions = make_sessions(database_url)
    with sessions() as s:
        rows = s.execute(select(Result.batch_id, func.count()).join(Submission)
                         .where(Submission.id.in_(ids)).group_by(Result.batch_id)).all()
    return len(rows), len(ids) / max(1, len(rows))


def unfinished(sessions: Any, ids: list[str]) -> int:
    with sessions() as s:
        return int(s.scalar(select(func.count()).where(Submission.id.in_(ids),
                                                       Submission.status.in_(UNFINISHED))))
