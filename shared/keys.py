"""API keys: random, shown once, stored as a SHA-256 hash, compared in constant time."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from shared.db import Board, utcnow
from shared.errors import CvqError

PREFIX = "cvq_"
#: Built once: every request looks its key up, and building the statement from ORM
#: attributes took longer than running it (0.36 -> 0.16 ms a lookup on SQLite).
ACTIVE_BY_HASH = select(Board.id, Board.role, Board.key_hash).where(
    Board.key_hash == bindparam("digest"), Board.revoked_at.is_(None))


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()


@dataclass(frozen=True)
class KeyHolder:
    id: int
    role: str


def _new_key() -> tuple[str, str, str]:
    """A 192-bit random key, its hash and its printable prefix."""
    key = PREFIX + secrets.token_urlsafe(24)
    return key, hash_key(key), key[:10]


def create_key(sessions: sessionmaker[Any], name: str, role: str = "board") -> str:
    """A new key holder (a board, or an operator) with a 192-bit random key; the key itself
    is returned once, never stored."""
    name = name.strip()
    if not name or len(name) > 100:
        raise CvqError("a board name must be 1 to 100 characters")
    key, digest, prefix = _new_key()
    try:
        with sessions.begin() as session:
            session.add(Board(name=name, key_hash=digest, key_prefix=prefix, role=role))
    except IntegrityError:
        raise CvqError(f"a board named {name!r} already exists") from None
    return key


def holder_of(session: Session, key: str) -> KeyHolder | None:
    """The active holder of `key`, or None."""
    return holder_by_digest(session, hash_key(key))


def holder_by_digest(session: Session, digest: str) -> KeyHolder | None:
    """The active holder of the key whose SHA-256 is `digest`, or None."""
    # On the session's connection: a Core row, without the ORM's execution path around it.
    row = session.connection().execute(ACTIVE_BY_HASH, {"digest": digest}).first()
    if row is None or not hmac.compare_digest(row.key_hash, digest):
        return None
    return KeyHolder(row.id, row.role)


def is_active_operator(sessions: sessionmaker[Any], holder_id: int) -> bool:
    with sessions() as session:
        return session.scalar(select(Board.id).where(
            Board.id == holder_id, Board.role == "operator", Board.revoked_at.is_(None))) is not None


def list_boards(sessions: sessionmaker[Any]) -> list[Board]:
    with sessions() as session:
        return list(session.scalars(select(Board).order_by(Board.id)))


def rotate(sessions: sessionmaker[Any], name: str) -> str:
    """A new key for an existing board, active or revoked: the old key stops working at
    once, the board keeps its data (a revoked board gets a way back to read or erase it)."""
    key, digest, prefix = _new_key()
    with sessions.begin() as session:
        done = session.execute(update(Board).where(Board.name == name.strip()).values(
            key_hash=digest, key_prefix=prefix, revoked_at=None)).rowcount
    if not done:
        raise CvqError(f"no board named {name!r}")
    return key


def revoke(sessions: sessionmaker[Any], name: str) -> None:
    with sessions.begin() as session:
        done = session.execute(update(Board).where(Board.name == name, Board.revoked_at.is_(None))
                               .values(revoked_at=utcnow())).rowcount
    if not done:
        raise CvqError(f"no active board named {name!r}")
