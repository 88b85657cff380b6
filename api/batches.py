"""Batches as objects: progress and a cursor over the results (GET), cancel (DELETE)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify, request
from flask.typing import ResponseReturnValue
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from api import validation
from api.auth import authenticate, board_id
from api.errors import bad_request, not_found
from api.resources import resources
from shared.db import Batch, Submission, utcnow
from shared.events import complete_batches
from shared.serialize import batch_counts, batch_json, page_json, shown, shown_statement

batches = Blueprint("batches", __name__, url_prefix="/v1/batches")
batches.before_request(authenticate)
MAX_LIMIT = 500


def _own_batch(session: Session, batch_id: str) -> Batch:
    validation.submission_id(batch_id)  # batch ids have the same shape
    found = session.scalar(select(Batch).where(Batch.id == batch_id,
                                               Batch.board_id == board_id()))
    if found is None:
        raise not_found("batch")
    return found


def _page(session: Session, batch_id: str, after: str, limit: int) -> dict[str, Any]:
    """Its submissions in input order, `limit` at a time after the cursor (a submission id)."""
    where = Submission.batch_id == batch_id
    if after:
        validation.submission_id(after)
        seq = session.scalar(select(Submission.seq).where(where, Submission.id == after))
        if seq is None:
            raise bad_request("'after' is not a submission of this batch")
        where = where & (Submission.seq > seq)
    return page_json(shown(session, shown_statement(where).limit(limit + 1)), limit, after)


@batches.get("/<batch_id>")
def get_batch(batch_id: str) -> ResponseReturnValue:
    unknown = sorted(set(request.args) - {"after", "limit"})
    if unknown:
        raise bad_request(f"unsupported query parameter '{unknown[0][:40]}' (use after, limit)")
    limit = validation.int_param(request.args, "limit", 100, 1, MAX_LIMIT)
    with resources().sessions() as session:
        batch = _own_batch(session, batch_id)
        body = batch_json(batch, batch_counts(session, batch_id))
        body.update(_page(session, batch_id, request.args.get("after", ""), limit))
    return jsonify(body)


@batches.delete("/<batch_id>")
def cancel_batch(batch_id: str) -> ResponseReturnValue:
    """Cancel what no worker has claimed: a claimed row runs to its end, nothing is left
    half-written (a worker claims with a conditional UPDATE, so a row is one or the other)."""
    with resources().sessions.begin() as session:
        batch = _own_batch(session, batch_id)
        cancelled = session.execute(update(Submission).where(
            Submission.batch_id == batch_id, Submission.status == "queued")
            .values(status="cancelled", finished_at=utcnow())).rowcount
        if batch.cancelled_at is None:
            batch.cancelled_at = utcnow()
        complete_batches(session, [batch_id])
        session.refresh(batch)  # completed_at, set by complete_batches's UPDATE
        body = batch_json(batch, batch_counts(session, batch_id))
    return jsonify({**body, "cancelled_now": int(cancelled)})
