"""Submissions and batches as the API (and its webhooks) show them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, bindparam, func, select
from sqlalchemy.orm import Session

from shared.db import STATUSES, Batch, Neighbour, Result, Submission

#: What the API shows of a submission and its result, read as rows (never the CV text).
SHOWN = (Submission.seq, Submission.id, Submission.status, Submission.position,
         Submission.external_id, Submission.created_at, Submission.started_at,
         Submission.finished_at, Submission.attempts, Submission.batch_id, Submission.error,
         Result.label, Result.probabilities, Result.classifier, Result.model_version,
         Result.explanation)
#: The neighbours of the finished submissions `shown` answers with, built once (with the
#: expanding parameter, 100 seqs are not 100 literals to coerce on every poll).
NEIGHBOURS_OF = (
    select(Neighbour.submission_seq, Neighbour.reference_id, Neighbour.similarity,
           Neighbour.label)
    .where(Neighbour.submission_seq.in_(bindparam("seqs", expanding=True)))
    .order_by(Neighbour.submission_seq, Neighbour.rank))


def iso_time(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def submission_json(s: Submission) -> dict[str, Any]:
    return fields_json(s, s.result, [neighbour_json(n.reference_id, n.similarity, n.label)
                                     for n in s.neighbours])


def neighbour_json(reference_id: str, similarity: float, label: str) -> dict[str, Any]:
    return {"reference_id": reference_id, "similarity": similarity, "outcome": label,
            "url": f"/v1/reference/{reference_id}"}


def fields_json(s: Any, result: Any, neighbours: list[dict[str, Any]]) -> dict[str, Any]:
    """A submission as the API shows it, from its `Submission` (with its `Result` or None, and
    its neighbours' `neighbour_json` in rank order), or from rows holding the same columns."""
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
            "neighbours": neighbours,
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


def shown(session: Session, where: ColumnElement[bool], limit: int | None = None
          ) -> list[dict[str, Any]]:
    """The submissions `where` selects as the API shows them, in submission order, read as
    rows rather than ORM objects (building 100 finished submissions with their results and
    500 neighbours as objects was two thirds of a 100-id poll's CPU): the submissions joined
    to their results, then the finished ones' neighbours, if any."""
    # Core rows on the session's connection: the ORM's row loading for the same columns was
    # a fifth of a 100-id poll's CPU.
    connection = session.connection()
    rows = connection.execute(
        select(*SHOWN).outerjoin(Result, Result.submission_seq == Submission.seq)
        .where(where).order_by(Submission.seq).limit(limit)).all()
    near: dict[int, list[dict[str, Any]]] = {}
    if finished := [r.seq for r in rows if r.label is not None]:
        for seq, reference_id, similarity, label in connection.execute(
                NEIGHBOURS_OF, {"seqs": finished}).tuples().all():
            near.setdefault(seq, []).append(neighbour_json(reference_id, similarity, label))
    return [fields_json(r, r if r.label is not None else None, near.get(r.seq, []))
            for r in rows]


def page_json(items: list[dict[str, Any]], limit: int, after: str) -> dict[str, Any]:
    """One page of a cursor listing: `items` holds up to `limit + 1` submissions (the extra
    one only tells that more follow); the cursor is the last id shown."""
    page = items[:limit]
    return {"items": page, "has_more": len(items) > limit,
            "next_cursor": page[-1]["id"] if page else after}


def batch_counts(session: Session, batch_id: str) -> dict[str, int]:
    return {status: int(n) for status, n in session.execute(
        select(Submission.status, func.count()).where(Submission.batch_id == batch_id)
        .group_by(Submission.status)).tuples()}
