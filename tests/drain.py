"""The bench's worker alone: a backlog queued before the worker starts, then drained with no
submits or polls beside it (the bench watches the database, not the API).

Its rate against the raw encode splits the end-to-end ratio in two: what the worker's own
steps cost (claim, tokenizing, classifying, top-k, explanations, store, Celery's consumer),
and what the API and its clients take from the cores they share with the workers on one
machine, which the burst's ratio adds to it."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from shared.config import Settings
from shared.db import UNFINISHED, Result, Submission, as_utc, make_sessions
from shared.stack import LocalStack


@dataclass(frozen=True)
class DrainFigure:
    cvs: int
    seconds: float
    batches: int

    @property
    def rate(self) -> float:
        return self.cvs / self.seconds

    def lines(self, yardstick: float) -> list[str]:
        return [
            f"end to end, worker alone on a backlog ({self.cvs} CVs queued before it started; "
            f"first claim to last stored, no submits or polls meanwhile): {self.rate:.1f} "
            f"CVs/s in {self.seconds:.1f} s, {self.batches} micro-batches",
            f"ratio worker alone / raw encode: {self.rate / yardstick:.3f} (what the worker's "
            "own steps cost; the burst's ratio adds what the API and clients take)"]


def backlog_drain(settings: Settings, items: list[dict[str, Any]], log_dir: Path,
                  timeout: float = 600) -> DrainFigure:
    """Queue `items` through the batch endpoint with no worker running, start one, and time
    it from its first claim to its last result, by the database's clock."""
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
            time.sleep(0.25)
        with sessions() as s:
            first, last = s.execute(select(func.min(Submission.started_at),
                                           func.max(Submission.finished_at))
                                    .where(Submission.id.in_(ids))).one()
            batches = s.scalar(select(func.count(func.distinct(Result.batch_id)))
                               .join(Submission).where(Submission.id.in_(ids)))
    return DrainFigure(len(ids), (as_utc(last) - as_utc(first)).total_seconds(),
                       int(batches or 0))


def unfinished(sessions: Any, ids: list[str]) -> int:
    with sessions() as s:
        return int(s.scalar(select(func.count()).where(Submission.id.in_(ids),
                                                       Submission.status.in_(UNFINISHED))))
