"""What the API process holds, built once in `create_app`: settings, database sessions, the
Celery producer, the broker's Redis, the limits, the key cache, the reference records, the
positions catalogue."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import redis
from celery import Celery
from flask import Flask, current_app, g
from sqlalchemy.orm import Session, sessionmaker

from api.keycache import KeyCache
from api.limits import Limits
from api.positions import Catalogue
from api.references import ReferenceStore
from shared.config import Settings


@dataclass
class Resources:
    settings: Settings
    sessions: sessionmaker[Any]
    #: Autocommit sessions on the same pool, for `read_session`.
    reads: sessionmaker[Any]
    celery: Celery
    broker: redis.Redis | None
    references: ReferenceStore
    catalogue: Catalogue
    limits: Limits
    #: Key holders this process has seen, while the database reports changes (PostgreSQL).
    keys: KeyCache


def resources(app: Flask | None = None) -> Resources:
    return (app or current_app).extensions["cvqueue"]  # type: ignore[no-any-return]


def read_session() -> Session:
    """The request's one session for reads (the key, the queue count, the rows it answers
    with): one pooled connection, checked once (`shared.pooling`), and no transaction round
    trips; a poll costs one statement, and the key's lookup when the key cache does not
    answer (`api.keycache`). Closed when the request ends (`close_read_session`)."""
    if "read_session" not in g:
        g.read_session = resources().reads()
    return g.read_session  # type: ignore[no-any-return]


def close_read_session(_: BaseException | None = None) -> None:
    session = g.pop("read_session", None)
    if session is not None:
        session.close()
