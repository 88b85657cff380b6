"""Retention: erase old submissions with their results, and expired idempotency records."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import sessionmaker

from shared.db import IdempotencyRecord, Neighbour, Result, Submission, utcnow
from shared.errors import CvqError

IDEMPOTENCY_TTL = timedelta(hours=24)
_UNITS = {"d": "days", "h": "hours", "m": "minutes"}


def parse_age(text: str) -> timedelta:
    match = re.fullmatch(r"\s*(\d+)\s*([dhm])\s*", text)
    if not match:
        raise CvqError(f"age {text!r} is not like 90d, 12h or 30m")
    return timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})


def purge_older_than(sessions: sessionmaker[Any], age: timedelta) -> int:
    cutoff = utcnow() - age
    old = select(Submission.seq).where(Submission.created_at < cutoff).scalar_subquery()
    with sessions.begin() as session:
        session.execute(delete(Neighbour).where(Neighbour.submission_seq.in_(old)))
        session.execute(delete(Result).where(Result.submission_seq.in_(old)))
        erased = session.execute(delete(Submission).where(Submission.created_at < cutoff)).rowcount
        session.execute(delete(IdempotencyRecord).where(
            IdempotencyRecord.created_at < utcnow() - IDEMPOTENCY_TTL))
    return int(erased or 0)
