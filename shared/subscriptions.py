"""A board's webhook: its URL, its signing secrets (shown once), its deliveries."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import sessionmaker

from shared.db import Board, WebhookDelivery, utcnow
from shared.errors import CvqError
from shared.serialize import iso_time
from shared.webhooks import EVENTS, check_url, new_secret, resolve

DELIVERY_STATUSES = ("pending", "delivered", "dead", "dropped")


def board_id_by_name(sessions: sessionmaker[Any], name: str) -> int:
    with sessions() as session:
        found = session.scalar(select(Board.id).where(Board.name == name.strip(),
                                                      Board.role == "board"))
    if found is None:
        raise CvqError(f"no job board named {name!r}")
    return int(found)


def set_webhook(sessions: sessionmaker[Any], board_id: int, url: str, allow_private: bool
                ) -> str | None:
    """Point the board's webhook at `url`; returns the new signing secret the first time (a
    URL change keeps the secret: rotate it for a new one)."""
    url = check_url(url)
    resolve(url, allow_private)
    with sessions.begin() as session:
        board = session.get(Board, board_id)
        if board is None:
            raise CvqError("no such board")
        board.webhook_url = url
        if board.webhook_secret:
            return None
        board.webhook_secret = new_secret()
        return board.webhook_secret


def rotate_secret(sessions: sessionmaker[Any], board_id: int, grace_hours: int) -> str:
    """A new secret; the old one keeps signing (beside it) for `grace_hours`."""
    with sessions.begin() as session:
        board = session.get(Board, board_id)
        if board is None or not board.webhook_url:
            raise CvqError("this board has no webhook to rotate the secret of")
        board.webhook_previous_secret = board.webhook_secret
        board.webhook_previous_until = utcnow() + timedelta(hours=grace_hours)
        board.webhook_secret = new_secret()
        return board.webhook_secret


def remove_webhook(sessions: sessionmaker[Any], board_id: int) -> None:
    """No more events; pending deliveries are dropped when their turn comes."""
    with sessions.begin() as session:
        session.execute(update(Board).where(Board.id == board_id).values(
            webhook_url=None, webhook_secret=None, webhook_previous_secret=None,
            webhook_previous_until=None))


def webhook_info(sessions: sessionmaker[Any], board_id: int) -> dict[str, Any]:
    with sessions() as session:
        board = session.get(Board, board_id)
    assert board is not None
    until = board.webhook_previous_until if board.webhook_previous_secret else None
    return {"url": board.webhook_url, "events": list(EVENTS),
            "previous_secret_valid_until": iso_time(until)}


def delivery_json(d: WebhookDelivery) -> dict[str, Any]:
    return {"id": d.id, "event": d.event, "subject": d.subject, "status": d.status,
            "attempts": d.attempts, "last_status": d.last_status, "last_error": d.last_error,
            "next_attempt_at": iso_time(d.next_attempt_at if d.status == "pending" else None),
            "created_at": iso_time(d.created_at), "delivered_at": iso_time(d.delivered_at)}


def list_deliveries(sessions: sessionmaker[Any], board_id: int, status: str | None,
                    limit: int) -> list[dict[str, Any]]:
    """The board's most recent deliveries first."""
    stmt = select(WebhookDelivery).where(WebhookDelivery.board_id == board_id)
    if status:
        stmt = stmt.where(WebhookDelivery.status == status)
    with sessions() as session:
        rows = session.scalars(stmt.order_by(WebhookDelivery.seq.desc()).limit(limit))
        return [delivery_json(d) for d in rows]


def redeliver(sessions: sessionmaker[Any], delivery_id: str, board_id: int | None = None
              ) -> bool:
    """Send a delivery again (same `webhook-id`), with a fresh set of attempts."""
    where = WebhookDelivery.id == delivery_id
    if board_id is not None:
        where = where & (WebhookDelivery.board_id == board_id)
    with sessions.begin() as session:
        return bool(session.execute(update(WebhookDelivery).where(where).values(
            status="pending", attempts=0, next_attempt_at=utcnow(), delivered_at=None)).rowcount)
