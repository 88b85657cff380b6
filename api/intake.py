"""Accepting submissions, for the API and the recruiters' page alike: the rows are committed
first, then their ids enqueued; a 202 (or the page's redirect) means the rows exist."""

from __future__ import annotations

import logging
from typing import Any

from flask.typing import ResponseReturnValue
from sqlalchemy import Connection, insert, select
from sqlalchemy.exc import IntegrityError

from api import idempotency
from api.errors import ApiError
from api.resources import read_session, resources
from api.validation import NewSubmission
from shared.broker import BROKER_ERRORS, enqueue
from shared.db import Batch, IdempotencyRecord, Submission

log = logging.getLogger("cvqueue.api")


def _conflicting_external_id(conn: Connection, board: int, items: list[NewSubmission]
                              ) -> None:
    wanted = [i.external_id for i in items if i.external_id]
    if not wanted:
        return
    existing = conn.execute(select(Submission.external_id, Submission.id).where(
        Submission.board_id == board, Submission.external_id.in_(wanted))).first()
    if existing:
        raise ApiError(409, "duplicate_external_id", f"external_id {existing[0]!r} was already "
                       "submitted", existing_id=existing[1])


def lane_of(batch_id: str | None) -> str:
    """Batches go to the bulk lane, single CVs (API or page) to the interactive one."""
    return "bulk" if batch_id else "interactive"


def persist(items: list[NewSubmission], ids: list[str], board: int,
            body: dict[str, Any] | None = None, idem: tuple[str, str] | None = None,
            submitted_by: int | None = None, batch_id: str | None = None
            ) -> ResponseReturnValue | None:
    """Commit the submissions (and the idempotency record) before anything is enqueued: a
    202 means the rows exist. Returns the winner's response when a concurrent request with
    the same Idempotency-Key committed first. A database outage propagates to the app-wide
    handler: 503, nothing accepted. A batch (`batch_id`) goes to the bulk lane."""
    res = resources()
    lane = lane_of(batch_id)
    rows = [{"id": sid, "board_id": board, "status": "queued", "cv": i.cv,
             "position": i.position, "external_id": i.external_id,
             "idempotency_key": idem[0] if idem else None, "submitted_by": submitted_by,
             "batch_id": batch_id, "lane": lane}
            for sid, i in zip(ids, items, strict=True)]
    try:
        with res.sessions.begin() as session:
            # Core INSERTs on the transaction's connection (one executemany a table): not
            # the unit of work's row-by-row flush, which would fetch every row's `seq`, nor
            # the ORM's bulk path around the same statements (0.1 ms of a single submit).
            conn = session.connection()
            _conflicting_external_id(conn, board, items)
            if batch_id:  # the batch row before the rows that point to it
                conn.execute(insert(Batch), [{"id": batch_id, "board_id": board,
                                              "total": len(rows)}])
            conn.execute(insert(Submission), rows)
            if idem and body is not None:
                conn.execute(insert(IdempotencyRecord), [{
                    "board_id": board, "key": idem[0], "request_hash": idem[1],
                    "status_code": 202, "response": body}])
    except IntegrityError:
        if idem and (winner := idempotency.stored_response(read_session(), board, *idem)):
            return winner
        raise ApiError(409, "conflict", "a submission with this external_id or "
                       "Idempotency-Key was created concurrently") from None
    return None


def enqueue_ids(ids: list[str], lane: str = "interactive") -> None:
    res = resources()
    try:
        enqueue(res.celery, ids, res.settings.queue, lane)
    except BROKER_ERRORS as exc:
        # The rows are committed and stay `queued`: the sweeper enqueues them later.
        log.warning("broker unavailable (%s); %d submission(s) wait in SQL",
                    type(exc).__name__, len(ids))
