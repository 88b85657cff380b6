"""One micro-batch: claim rows, one encode + classify + top-k, one transaction of results.

Failure handling, in order of how often it happens:
- the write fails (database unreachable): retried with backoff; if it still fails the rows
  stay `processing` and the sweeper re-enqueues them when their lease runs out;
- the model step fails on the batch: each CV is retried alone, so a bad CV fails alone;
- a CV kills its process (OOM, segfault): its batch-mates come back through the sweeper
  with attempts > 0 and are then processed one at a time, claimed one at a time, so only
  the poison CV keeps dying; after `max_attempts` claims the sweeper marks it `failed`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy import ColumnElement, insert, or_, select, update
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import sessionmaker

from shared.config import Settings
from shared.db import Neighbour, Result, Submission, as_utc, new_id, utcnow
from shared.events import add_events, complete_batches
from worker.instruments import BATCH_SIZE, BATCHES, CVS, LAST_BATCH, STAGE_SECONDS

if TYPE_CHECKING:
    from models.runtime import ModelRuntime, Prediction

log = logging.getLogger("cvqueue.worker")
WRITE_RETRIES = (0.5, 1, 2, 4, 8, 15)
T = TypeVar("T")


@dataclass(frozen=True)
class Claimed:
    seq: int
    id: str
    cv: str
    position: str | None
    attempts: int
    created_at: datetime
    board_id: int
    batch_id: str | None


def claim(sessions: sessionmaker[Any], ids: list[str], lease_seconds: int,
          fresh_only: bool) -> list[Claimed]:
    """Mark claimable rows `processing` and load their texts, in one UPDATE ... RETURNING.

    Of two workers holding the same id one wins; a `done` row is never touched again.
    `fresh_only` claims rows never tried before (the batch path).
    """
    now = utcnow()
    stale = now - timedelta(seconds=lease_seconds)
    where: ColumnElement[bool] = Submission.id.in_(set(ids)) & or_(
        Submission.status == "queued",
        (Submission.status == "processing") & (Submission.started_at < stale))
    if fresh_only:
        where = where & (Submission.attempts == 0)
    stmt = (update(Submission).where(where)
            .values(status="processing", attempts=Submission.attempts + 1, started_at=now)
            .returning(Submission.seq, Submission.id, Submission.cv, Submission.position,
                       Submission.attempts, Submission.created_at, Submission.board_id,
                       Submission.batch_id))
    with sessions.begin() as session:
        rows = session.execute(stmt).all()
    for row in rows:
        STAGE_SECONDS.labels("queued").observe(max(0.0, (now - as_utc(row[5])).total_seconds()))
    return [Claimed(seq, sid, cv or "", position, attempts, created, board, batch)
            for seq, sid, cv, position, attempts, created, board, batch in rows]


def _rows(claimed: list[Claimed], predictions: list[Prediction], model_version: str
          ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    batch_id, now = new_id(), utcnow()
    results = [{"submission_seq": c.seq, "label": p.label, "probabilities": p.probabilities,
                "classifier": p.classifier, "model_version": model_version,
                "explanation": p.explanation, "batch_id": batch_id, "batch_size": len(claimed),
                "created_at": now}
               for c, p in zip(claimed, predictions, strict=True)]
    neighbours = [{"submission_seq": c.seq, "rank": rank, "reference_id": n.reference_id,
                   "similarity": n.similarity, "label": n.label}
                  for c, p in zip(claimed, predictions, strict=True)
                  for rank, n in enumerate(p.neighbours, 1)]
    return results, neighbours


def store(sessions: sessionmaker[Any], claimed: list[Claimed], predictions: list[Prediction],
          model_version: str) -> int:
    """Results, neighbours and status in one transaction, for the claimed rows that still
    need one: a row erased meanwhile (its board's DELETE) is skipped, not fatal to its
    batch-mates, and a row that already has a result (a lease taken over) is left as it is.
    The rows are locked first (PostgreSQL), so an erase waits for this transaction or
    happened before it; SQLite serialises writers. Returns how many were stored."""
    with sessions.begin() as session:
        seqs = [c.seq for c in claimed]
        alive = set(session.scalars(select(Submission.seq).where(Submission.seq.in_(seqs))
                                    .with_for_update()))
        have = set(session.scalars(select(Result.submission_seq)
                                   .where(Result.submission_seq.in_(seqs))))
        keep = [(c, p) for c, p in zip(claimed, predictions, strict=True)
                if c.seq in alive and c.seq not in have]
        if not keep:
            return 0
        results, neighbours = _rows([c for c, _ in keep], [p for _, p in keep], model_version)
        session.execute(insert(Result), results)
        if neighbours:
            session.execute(insert(Neighbour), neighbours)
        session.execute(update(Submission)
                        .where(Submission.seq.in_([c.seq for c, _ in keep]))
                        .values(status="done", finished_at=utcnow(), error=None))
        add_events(session, "submission.completed", [(c.board_id, c.id) for c, _ in keep])
        complete_batches(session, [c.batch_id for c, _ in keep if c.batch_id])
    if len(alive) < len(claimed):
        log.info("%d submission(s) erased while in the batch; stored the others",
                 len(claimed) - len(alive))
    return len(keep)


def with_retries(action: Callable[[], T], what: str) -> T:
    """Retry on a lost database connection (with backoff) or a lost unique-key race (at once);
    once the retries are used up the error propagates, so nothing is dropped silently."""
    for delay in (*WRITE_RETRIES, None):
        try:
            return action()
        except (IntegrityError, OperationalError) as exc:
            if delay is None:
                raise
            if isinstance(exc, IntegrityError):
                log.warning("%s: lost a race for a result row; retrying", what)
                continue
            log.warning("%s: database unavailable (%s); retry in %.1f s", what,
                        type(exc.orig).__name__, delay)
            time.sleep(delay)
    raise AssertionError("unreachable: the last try raises")


def mark_failed_attempt(sessions: sessionmaker[Any], claimed: Claimed, reason: str,
                        max_attempts: int) -> None:
    """Back to `queued` for another try, or `failed` once the attempts are used up."""
    final = claimed.attempts >= max_attempts
    values: dict[str, Any] = {"status": "failed" if final else "queued", "error": reason}
    if final:
        values["finished_at"] = utcnow()
        CVS.labels("failed").inc()
    with sessions.begin() as session:
        changed = session.execute(update(Submission).where(Submission.seq == claimed.seq,
                                                           Submission.status == "processing")
                                  .values(**values)).rowcount
        if final and changed:
            add_events(session, "submission.failed", [(claimed.board_id, claimed.id)])
            complete_batches(session, [claimed.batch_id] if claimed.batch_id else [])


class BatchProcessor:
    """The batch path, with the model and settings a worker process holds."""

    def __init__(self, sessions: sessionmaker[Any], runtime: ModelRuntime,
                 settings: Settings) -> None:
        self.sessions, self.runtime, self.settings = sessions, runtime, settings
        self.batches = 0

    def predict(self, claimed: list[Claimed]) -> list[Prediction]:
        return self.runtime.predict_batch([c.cv for c in claimed], k=self.settings.top_k,
                                          positions=[c.position for c in claimed])

    def run(self, claimed: list[Claimed]) -> int:
        """Classify and store claimed rows; a batch the model fails on is retried CV by CV."""
        try:
            pairs = list(zip(claimed, self.predict(claimed), strict=True))
        except Exception as exc:
            if len(claimed) == 1:
                log.warning("submission %d failed in the model step: %s", claimed[0].seq,
                            type(exc).__name__)
                mark_failed_attempt(self.sessions, claimed[0], f"model step failed: "
                                    f"{type(exc).__name__}", self.settings.max_attempts)
                return 0
            log.warning("batch of %d failed in the model step (%s); retrying one by one",
                        len(claimed), type(exc).__name__)
            return sum(self.run([c]) for c in claimed)
        for stage, seconds in self.runtime.last_timings.items():
            STAGE_SECONDS.labels(stage).observe(seconds)
        version, started = self.runtime.model_version, time.perf_counter()
        stored = with_retries(lambda: store(self.sessions, [c for c, _ in pairs],
                                            [p for _, p in pairs], version), "storing results")
        STAGE_SECONDS.labels("store").observe(time.perf_counter() - started)
        CVS.labels("done").inc(stored)
        return stored

    def claim(self, ids: list[str], fresh_only: bool) -> list[Claimed]:
        started = time.perf_counter()
        claimed = with_retries(lambda: claim(self.sessions, ids, self.settings.lease_seconds,
                                             fresh_only), "claiming")
        STAGE_SECONDS.labels("claim").observe(time.perf_counter() - started)
        return claimed

    def process(self, ids: list[str]) -> int:
        """Fresh rows as one batch; rows tried before (suspects) one at a time."""
        self.batches += 1
        BATCHES.inc()
        BATCH_SIZE.observe(len(ids))
        fresh = self.claim(ids, fresh_only=True)
        done = self.run(fresh) if fresh else 0
        tried = {c.id for c in fresh}
        for submission_id in dict.fromkeys(ids):
            if submission_id not in tried:
                single = self.claim([submission_id], fresh_only=False)
                done += self.run(single) if single else 0
        log.info("batch done: %d processed (%d fresh) of %d messages", done, len(fresh), len(ids))
        LAST_BATCH.set_to_current_time()
        return done
