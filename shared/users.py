"""Recruiters' accounts: one person each, within one board (an API key is a machine's).

Passwords are hashed with werkzeug's scrypt; a wrong e-mail costs the same hash check as a
wrong password, so sign-in timing does not tell which e-mails exist.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker
from werkzeug.security import check_password_hash, generate_password_hash

from shared.db import AuditEvent, Board, User, utcnow
from shared.errors import CvqError

EMAIL = re.compile(r"[^@\s]{1,64}@[^@\s]{1,189}\.[^@\s.]{2,63}")
MIN_PASSWORD = 12
MAX_PASSWORD = 256
# Checked when the e-mail is unknown, so both failures cost one scrypt.
_DUMMY_HASH = generate_password_hash("not a password of anyone's")


@dataclass(frozen=True)
class Recruiter:
    id: int
    board_id: int
    email: str


@dataclass(frozen=True)
class UserRow:
    email: str
    board: str
    created_at: datetime
    disabled: bool
    last_sign_in_at: datetime | None


def normalise_email(email: str) -> str:
    email = email.strip().lower()
    if not EMAIL.fullmatch(email):
        raise CvqError(f"{email[:60]!r} is not an e-mail address")
    return email


def check_password(password: str) -> None:
    if not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
        raise CvqError(f"a password must be {MIN_PASSWORD} to {MAX_PASSWORD} characters")


def add_user(sessions: sessionmaker[Any], board_name: str, email: str, password: str) -> None:
    email = normalise_email(email)
    check_password(password)
    with sessions.begin() as session:
        board = session.scalar(select(Board).where(Board.name == board_name.strip(),
                                                   Board.role == "board"))
        if board is None:
            raise CvqError(f"no job board named {board_name!r} (cvqueue keys list)")
        session.add(User(board_id=board.id, email=email,
                         password_hash=generate_password_hash(password)))
        try:
            session.flush()
        except IntegrityError:
            raise CvqError(f"a user {email!r} already exists") from None


def list_users(sessions: sessionmaker[Any]) -> list[UserRow]:
    with sessions() as session:
        rows = session.execute(select(User, Board.name).join(Board, Board.id == User.board_id)
                               .order_by(Board.name, User.email)).all()
    return [UserRow(u.email, board, u.created_at, u.disabled_at is not None, u.last_sign_in_at)
            for u, board in rows]


def disable_user(sessions: sessionmaker[Any], email: str) -> None:
    with sessions.begin() as session:
        done = session.execute(update(User).where(User.email == normalise_email(email),
                                                  User.disabled_at.is_(None))
                               .values(disabled_at=utcnow())).rowcount
    if not done:
        raise CvqError(f"no active user {email!r}")


def _active(session: Session, where: Any) -> User | None:
    return session.scalar(select(User).join(Board, Board.id == User.board_id).where(
        where, User.disabled_at.is_(None), Board.revoked_at.is_(None), Board.role == "board"))


def verify(sessions: sessionmaker[Any], email: str, password: str) -> Recruiter | None:
    """The active recruiter with these credentials (of a board not revoked), or None."""
    with sessions.begin() as session:
        user = _active(session, User.email == email.strip().lower()[:254])
        if not check_password_hash(user.password_hash if user else _DUMMY_HASH, password):
            return None
        if user is None:
            return None
        user.last_sign_in_at = utcnow()
        return Recruiter(user.id, user.board_id, user.email)


def active_recruiter(sessions: sessionmaker[Any], user_id: int) -> Recruiter | None:
    """Checked on every page request: a disabled user or a revoked board is signed out."""
    with sessions() as session:
        user = _active(session, User.id == user_id)
        return None if user is None else Recruiter(user.id, user.board_id, user.email)


def record(sessions: sessionmaker[Any], who: Recruiter, action: str,
           target: str | None = None) -> None:
    with sessions.begin() as session:
        session.add(AuditEvent(board_id=who.board_id, user_id=who.id, action=action,
                               target=target[:300] if target else None))
