"""Retention: erase old submissions with their results, and expired idempotency records."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any, cast

from sqlalchemy import ColumnElement, delete, select
from sqlalchemy.engine import CursorResult
from sqlalchemy.orm import Session, sessionmaker

from shared.db import IdempotencyRecord, Neighbour, Result, Submission, utcnow
from shared.errors import CvqError

IDEMPOTENCY_TTL = timedelta(hours=24)
VACUUMED = ("submissions", "results", "neighbours", "idempotency_keys")
_UNITS = {"d": "days", "h": "hours", "m": "minutes"}


def parse_age(text: str) -> timedelta:
    match = re.fullmatch(r"\s*(\d+)\s*([dhm])\s*", text)
    if not match:
        raise CvqError(f"age {text!r} is not like 90d, 12h or 30m")
    return timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})


def erase(session: Session, where: ColumnElement[bool]) -> int:
    """Delete matching submissions with their results, neighbours and the idempotency
    records they were created under (a replay must not answer with an erased id, and the
    record holds a hash of the body that carried the CV); returns how many."""
    keys = session.execute(select(Submission.board_id, Submission.idempotency_key).where(
        where, Submission.idempotency_key.is_not(None)).distinct()).tuples().all()
    for board, key in keys:
        session.execute(delete(IdempotencyRecord).where(IdempotencyRecord.board_id == board,
                                                        IdempotencyRecord.key == key))
    seqs = select(Submission.seq).where(where).scalar_subquery()
    session.execute(delete(Neighbour).where(Neighbour.submission_seq.in_(seqs)))
    session.execute(delete(Result).where(Result.submission_seq.in_(seqs)))
    deleted = cast(CursorResult[Any], session.execute(delete(Submission).where(where)))
    return int(deleted.rowcount or 0)


def erase_one(sessions: sessionmaker[Any], board_id: int, submission_id: str) -> bool:
    """A board's erasure of one of its submissions; False when it has no such submission."""
    with sessions.begin() as session:
        return erase(session, (Submission.id == submission_id)
                     & (Submission.board_id == board_id)) > 0


def purge_older_than(sessions: sessionmaker[Any], age: timedelta) -> int:
    with sessions.begin() as session:
        erased = erase(session, Submission.created_at < utcnow() - age)
        session.execute(delete(IdempotencyRecord).where(
            IdempotencyRecord.created_at < utcnow() - IDEMPOTENCY_TTL))
    vacuum(sessions)
    return erased


def vacuum(sessions: sessionmaker[Any]) -> None:
    """PostgreSQL keeps a deleted row's old version (CV text included) on disk until a vacuum
    reclaims it; autovacuum does within minutes, this does it now. (SQLite's
    `secure_delete` overwrites deleted content at once: see db.py.)"""
    engine = sessions.kw["bind"]
    if engine.dialect.name != "postgresql":
        return
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.exec_driver_sql(f"VACUUM {', '.join(VACUUMED)}")
