"""The webhook dispatcher: sends due deliveries, records each outcome, schedules retries.

It runs as a thread of the sweeper process, off the batch path: a slow or dead receiver
costs a dispatcher thread, never a worker's batch. At-least-once: a delivery is claimed by
moving its `next_attempt_at` past a lease (one UPDATE ... RETURNING, so two dispatchers never
send the same attempt), and it stays `pending` until an answer is recorded; a dispatcher
that dies mid-send leaves it to be sent again when the lease runs out, with the same
`webhook-id`. Retries wait `webhook_backoff` seconds, doubling per attempt with +-50%
jitter (so receivers coming back are not hit by every board at once), at most an hour;
after `webhook_max_attempts` the delivery is `dead` until redelivered.
"""

from __future__ import annotations

import logging
import random
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from shared import fastjson
from shared.config import Settings
from shared.db import Batch, Board, Submission, WebhookDelivery, as_utc, utcnow
from shared.serialize import batch_counts, batch_json, shown, shown_statement
from shared.webhooks import Answer, post, signature

log = logging.getLogger("cvqueue.webhooks")
CLAIM = 20
LEASE = timedelta(seconds=60)
MAX_WAIT = 3600.0


@dataclass(frozen=True)
class Due:
    seq: int
    id: str
    board_id: int
    event: str
    subject: str
    attempts: int


@dataclass(frozen=True)
class Message:
    url: str
    secrets: list[str]
    body: str


def claim_due(sessions: sessionmaker[Any], now: datetime) -> list[Due]:
    due = (WebhookDelivery.status == "pending") & (WebhookDelivery.next_attempt_at <= now)
    with sessions.begin() as session:
        seqs = (select(WebhookDelivery.seq).where(due).order_by(WebhookDelivery.next_attempt_at)
                .limit(CLAIM).scalar_subquery())
        rows = session.execute(
            update(WebhookDelivery).where(WebhookDelivery.seq.in_(seqs), due)
            .values(next_attempt_at=now + LEASE)
            .returning(WebhookDelivery.seq, WebhookDelivery.id, WebhookDelivery.board_id,
                       WebhookDelivery.event, WebhookDelivery.subject,
                       WebhookDelivery.attempts)).tuples().all()
    return [Due(*row) for row in rows]


def _data(session: Session, due: Due) -> dict[str, Any] | None:
    """The event's data as the board's API would show it now; None once it was erased."""
    if due.event == "batch.completed":
        batch = session.get(Batch, due.subject)
        if batch is None or batch.board_id != due.board_id:
            return None
        return batch_json(batch, batch_counts(session, batch.id))
    found = shown(session, shown_statement((Submission.id == due.subject)
                                           & (Submission.board_id == due.board_id)))
    return found[0] if found else None


def message(sessions: sessionmaker[Any], due: Due, now: datetime) -> Message | str:
    """What to send, or why nothing will be (the reason the delivery is dropped)."""
    with sessions() as session:
        board = session.get(Board, due.board_id)
        if board is None or not board.webhook_url or not board.webhook_secret:
            return "the board has no webhook any more"
        data = _data(session, due)
    if data is None:
        return "its subject was erased"
    keys = [board.webhook_secret]
    if (board.webhook_previous_secret and board.webhook_previous_until
            and as_utc(board.webhook_previous_until) > now):
        keys.append(board.webhook_previous_secret)
    body = fastjson.dumps_text({"type": due.event, "timestamp": now.isoformat(), "data": data})
    return Message(board.webhook_url, keys, body)


def retry_wait(attempts: int, base: float) -> float:
    return min(MAX_WAIT, base * 2 ** (attempts - 1)) * random.uniform(0.5, 1.5)


def record(sessions: sessionmaker[Any], due: Due, outcome: Answer | str, settings: Settings,
           now: datetime) -> str:
    """Store an attempt's outcome; returns the delivery's new status."""
    values: dict[str, Any]
    if isinstance(outcome, str):
        values = {"status": "dropped", "last_error": outcome}
    else:
        attempts = due.attempts + 1
        values = {"attempts": attempts, "last_status": outcome.status,
                  "last_error": outcome.error}
        if outcome.ok:
            values.update(status="delivered", delivered_at=now)
        elif attempts >= settings.webhook_max_attempts:
            values.update(status="dead")
        else:
            wait = retry_wait(attempts, settings.webhook_backoff)
            values.update(next_attempt_at=now + timedelta(seconds=wait))
    with sessions.begin() as session:
        session.execute(update(WebhookDelivery).where(WebhookDelivery.seq == due.seq)
                        .values(**values))
    return str(values.get("status", "pending"))


def attempt(sessions: sessionmaker[Any], due: Due, settings: Settings) -> str:
    now = utcnow()
    built = message(sessions, due, now)
    if isinstance(built, str):
        return record(sessions, due, built, settings, now)
    headers = {"webhook-id": due.id, "webhook-timestamp": str(int(now.timestamp())),
               "webhook-signature": signature(built.secrets, due.id, now, built.body)}
    answer = post(built.url, headers, built.body, settings.webhook_allow_private,
                  settings.webhook_timeout)
    status = record(sessions, due, answer, settings, utcnow())
    if status != "delivered":
        log.info("webhook %s (%s) attempt %d: %s", due.id, due.event, due.attempts + 1,
                 answer.error)
    return status


class Dispatcher:
    def __init__(self, sessions: sessionmaker[Any], settings: Settings) -> None:
        self.sessions, self.settings = sessions, settings
        self.pool = ThreadPoolExecutor(max_workers=8, thread_name_prefix="webhook")
        self.stopping = threading.Event()

    def run_once(self) -> int:
        due = claim_due(self.sessions, utcnow())
        list(self.pool.map(lambda d: attempt(self.sessions, d, self.settings), due))
        return len(due)

    def run(self) -> None:
        while not self.stopping.is_set():
            try:
                if self.run_once() == CLAIM:
                    continue  # more are due
            except Exception as exc:  # the database away: try again next round
                log.warning("webhook dispatch skipped: %s", type(exc).__name__)
            self.stopping.wait(self.settings.webhook_interval)

    def start(self) -> threading.Thread:
        thread = threading.Thread(target=self.run, name="webhook-dispatcher", daemon=True)
        thread.start()
        return thread

    def stop(self) -> None:
        self.stopping.set()
        self.pool.shutdown(wait=True, cancel_futures=True)
