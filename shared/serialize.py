"""Submissions and batches as the API (and its webhooks) show them."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from shared.db import STATUSES, Batch, Submission


def iso_time(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def submission_json(s: Submission) -> dict[str, Any]:
    return fields_json(s, s.result, s.neighbours)


def fields_json(s: Any, result: Any, neighbours: Iterable[Any]) -> dict[str, Any]:
    """A submission as the API shows it, from its `Submission` (with its `Result` or None, and
    its neighbours in rank order), or from rows holding the same columns."""
    body: dict[str, Any] = {
        "id": s.id, "status": s.status, "position": s.position, "external_id": s.external_id,
        "created_at": iso_time(s.created_at), "started_at": iso_time(s.started_at),
        "finished_at": iso_time(s.finished_at), "attempts": s.attempts,
    }
    if s.batch_id:
        body["batch_id"] = s.batch_id
    if s.status == "failed":
        body["error"] = s.error
    if s.status == "done" and result is not None:
        r = result
        body["result"] = {
            "label": r.label, "probabilities": r.probabilities, "classifier": r.classifier,
            "model_version": r.model_version,
            "neighbours": [{"reference_id": n.reference_id, "similarity": n.similarity,
                            "outcome": n.label, "url": f"/v1/reference/{n.reference_id}"}
                           for n in neighbours],
            "explanation": r.explanation,
        }
    return body


def batch_json(batch: Batch, counts: dict[str, int]) -> dict[str, Any]:
    """A batch's progress: `counts` by status (every status present, zeros included)."""
    status = ("cancelled" if batch.cancelled_at else "completed" if batch.completed_at
              else "running")
    return {"id": batch.id, "status": status, "total": batch.total,
            "counts": {s: counts.get(s, 0) for s in STATUSES},
            "created_at": iso_time(batch.created_at), "completed_at": iso_time(batch.completed_at),
            "cancelled_at": iso_time(batch.cancelled_at)}


def page_json(rows: list[Submission], limit: int, after: str) -> dict[str, Any]:
    """One page of a cursor listing: `rows` holds up to `limit + 1` rows (the extra one only
    tells that more follow); the cursor is the last id shown."""
    page = rows[:limit]
    return {"items": [submission_json(s) for s in page], "has_more": len(rows) > limit,
            "next_cursor": page[-1].id if page else after}


def batch_counts(session: Session, batch_id: str) -> dict[str, int]:
    return {status: int(n) for status, n in session.execute(
        select(Submission.status, func.count()).where(Submission.batch_id == batch_id)
        .group_by(Submission.status)).tuples()}
