"""One micro-batch: claim rows, one encode + classify + top-k, one transaction of results."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import insert, or_, update
from sqlalchemy.orm import sessionmaker

from shared.db import Neighbour, Result, Submission, new_id, utcnow

if TYPE_CHECKING:
    from models.runtime import ModelRuntime, Prediction

log = logging.getLogger("cvqueue.worker")


@dataclass(frozen=True)
class Claimed:
    seq: int
    cv: str
    position: str | None


def claim(sessions: sessionmaker[Any], ids: list[str], lease_seconds: int) -> list[Claimed]:
    """Mark queued rows (or rows whose lease ran out) `processing` and load their texts.

    A single UPDATE ... RETURNING: of two workers holding the same id, one wins, and
    a row already `done` is never touched again.
    """
    now = utcnow()
    stale = now - timedelta(seconds=lease_seconds)
    claimable = or_(Submission.status == "queued",
                    (Submission.status == "processing") & (Submission.started_at < stale))
    stmt = (update(Submission)
            .where(Submission.id.in_(set(ids)), claimable)
            .values(status="processing", attempts=Submission.attempts + 1, started_at=now)
            .returning(Submission.seq, Submission.cv, Submission.position))
    with sessions.begin() as session:
        rows = session.execute(stmt).all()
    return [Claimed(seq, cv or "", position) for seq, cv, position in rows]


def store(sessions: sessionmaker[Any], claimed: list[Claimed], predictions: list[Prediction],
          model_version: str) -> None:
    """Results, neighbours and status in one transaction."""
    batch_id, now = new_id(), utcnow()
    results = [{"submission_seq": c.seq, "label": p.label, "probabilities": p.probabilities,
                "classifier": p.classifier, "model_version": model_version,
                "batch_id": batch_id, "batch_size": len(claimed), "created_at": now}
               for c, p in zip(claimed, predictions, strict=True)]
    neighbours = [{"submission_seq": c.seq, "rank": rank, "reference_id": n.reference_id,
                   "similarity": n.similarity, "label": n.label}
                  for c, p in zip(claimed, predictions, strict=True)
                  for rank, n in enumerate(p.neighbours, 1)]
    with sessions.begin() as session:
        session.execute(insert(Result), results)
        if neighbours:
            session.execute(insert(Neighbour), neighbours)
        session.execute(update(Submission)
                        .where(Submission.seq.in_([c.seq for c in claimed]))
                        .values(status="done", finished_at=now, error=None))


def process_batch(sessions: sessionmaker[Any], runtime: ModelRuntime, ids: list[str], k: int,
                  lease_seconds: int) -> int:
    """Classify what can be claimed of `ids`; returns how many were processed."""
    claimed = claim(sessions, ids, lease_seconds)
    if not claimed:
        return 0
    predictions = runtime.predict_batch([c.cv for c in claimed], k=k,
                                        positions=[c.position for c in claimed])
    store(sessions, claimed, predictions, runtime.model_version)
    log.info("batch done: %d of %d messages processed", len(claimed), len(ids))
    return len(claimed)
