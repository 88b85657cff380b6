"""Webhook events as outbox rows (`webhook_deliveries`), written in the transaction that
caused them, so an event exists exactly when its cause was committed; the dispatcher
(worker/deliveries.py) sends them. Boards without a webhook get no rows."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import exists, insert, select, update
from sqlalchemy.orm import Session

from shared.db import UNFINISHED, Batch, Board, Submission, WebhookDelivery, utcnow
from shared.webhooks import new_message_id


def add_events(session: Session, event: str, subjects: Iterable[tuple[int, str]]) -> int:
    """One pending delivery per (board id, subject id) whose board has a webhook."""
    subjects = list(subjects)
    if not subjects:
        return 0
    boards = set(session.scalars(select(Board.id).where(
        Board.id.in_({b for b, _ in subjects}), Board.webhook_url.is_not(None))))
    now = utcnow()
    rows = [{"id": new_message_id(), "board_id": board, "event": event, "subject": subject,
             "status": "pending", "attempts": 0, "next_attempt_at": now, "created_at": now}
            for board, subject in subjects if board in boards]
    if rows:
        session.execute(insert(WebhookDelivery), rows)
    return len(rows)


def complete_batches(session: Session, batch_ids: Iterable[str] | None = None) -> int:
    """Mark batches with nothing left unfinished completed and queue their `batch.completed`:
    once per batch, whoever gets there first (the conditional UPDATE decides). Called where a
    batch's rows finish (worker, cancel) and on every sweeper pass, which catches the batch
    two workers finished at the same moment in two transactions that could not see each
    other's rows."""
    unfinished = exists().where(Submission.batch_id == Batch.id,
                                Submission.status.in_(UNFINISHED))
    where = Batch.completed_at.is_(None) & ~unfinished
    if batch_ids is not None:
        wanted = [b for b in set(batch_ids) if b]
        if not wanted:
            return 0
        where = where & Batch.id.in_(wanted)
    done = session.execute(update(Batch).where(where).values(completed_at=utcnow())
                           .returning(Batch.board_id, Batch.id)).tuples().all()
    add_events(session, "batch.completed", done)
    return len(done)
