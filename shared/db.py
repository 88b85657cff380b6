"""The SQL record: submissions, their results and nearest historical candidates."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    create_engine,
    event,
)
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship, sessionmaker

from shared import fastjson
from shared.pooling import check_on_checkout

STATUSES = ("queued", "processing", "done", "failed", "cancelled")
UNFINISHED = ("queued", "processing")
#: Single submits and the page go to the interactive lane, batches to the bulk lane;
#: workers take the interactive queue first (shared/broker.py).
LANES = ("interactive", "bulk")
# SQLite only auto-increments an INTEGER primary key.
SeqType = BigInteger().with_variant(Integer(), "sqlite")


def utcnow() -> datetime:
    return datetime.now(UTC)


def as_utc(value: datetime) -> datetime:
    """SQLite returns naive datetimes (stored as UTC); PostgreSQL aware ones."""
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def new_id() -> str:
    return uuid.uuid4().hex


class Base(DeclarativeBase):
    pass


ROLES = ("board", "operator")


class Board(Base):
    """A key holder: a job board (tenant), or an operator (metrics and dashboard, no CV
    text), with its API key stored only as a SHA-256 hash."""

    __tablename__ = "boards"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    key_prefix: Mapped[str] = mapped_column(String(12))
    role: Mapped[str] = mapped_column(String(16), default="board", server_default="board")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    #: Where this board's webhooks go, signed with `webhook_secret` (and, during a
    #: rotation's grace period, with the previous one too).
    webhook_url: Mapped[str | None] = mapped_column(String(2000))
    webhook_secret: Mapped[str | None] = mapped_column(String(100))
    webhook_previous_secret: Mapped[str | None] = mapped_column(String(100))
    webhook_previous_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class User(Base):
    """A recruiter of one board, signing in to the page with an e-mail and a password
    (hashed with scrypt); disabled, never deleted, so what they did stays attributed."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    board_id: Mapped[int] = mapped_column(ForeignKey("boards.id"), index=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    disabled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_sign_in_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class AuditEvent(Base):
    """Who did what on the page: sign-in, sign-out, submit, erase, export. `target` is a
    submission id or a filter, never CV text."""

    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(SeqType, primary_key=True, autoincrement=True)
    board_id: Mapped[int] = mapped_column(ForeignKey("boards.id"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    action: Mapped[str] = mapped_column(String(32))
    target: Mapped[str | None] = mapped_column(String(300))
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)


class IdempotencyRecord(Base):
    """The first response to an Idempotency-Key, replayed for the same key and body."""

    __tablename__ = "idempotency_keys"

    board_id: Mapped[int] = mapped_column(ForeignKey("boards.id"), primary_key=True)
    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    request_hash: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int] = mapped_column(Integer)
    response: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow,
                                                 index=True)


class Batch(Base):
    """A batch submit: its submissions keep `batch_id`; `completed_at` is set once, when the
    last of them finished (done, failed or cancelled), with its `batch.completed` event."""

    __tablename__ = "batches"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    board_id: Mapped[int] = mapped_column(ForeignKey("boards.id"), index=True)
    total: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    cancelled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    completed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), index=True)


class WebhookDelivery(Base):
    """One event for one board's webhook (an outbox row, written in the transaction that
    caused it). Same `id` (the `webhook-id` header) on every attempt: at-least-once."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (Index("ix_webhook_deliveries_due", "status", "next_attempt_at"),)

    seq: Mapped[int] = mapped_column(SeqType, primary_key=True, autoincrement=True)
    id: Mapped[str] = mapped_column(String(40), unique=True)
    board_id: Mapped[int] = mapped_column(ForeignKey("boards.id"), index=True)
    event: Mapped[str] = mapped_column(String(32))
    #: The submission or batch id the event is about.
    subject: Mapped[str] = mapped_column(String(32))
    #: pending, delivered, dead (attempts used up) or dropped (its subject was erased).
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    last_status: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(String(300))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    delivered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class Submission(Base):
    __tablename__ = "submissions"
    __table_args__ = (UniqueConstraint("board_id", "external_id", name="uq_board_external_id"),
                      Index("ix_submissions_status_board", "status", "board_id"))

    seq: Mapped[int] = mapped_column(SeqType, primary_key=True, autoincrement=True)
    id: Mapped[str] = mapped_column(String(32), unique=True, default=new_id)
    board_id: Mapped[int] = mapped_column(ForeignKey("boards.id"), index=True)
    status: Mapped[str] = mapped_column(String(16), index=True, default="queued")
    cv: Mapped[str | None] = mapped_column(Text)
    position: Mapped[str | None] = mapped_column(String(200))
    external_id: Mapped[str | None] = mapped_column(String(200))
    #: The Idempotency-Key it was submitted with: erased with it (see retention.erase).
    idempotency_key: Mapped[str | None] = mapped_column(String(200))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    #: The batch it came in (batch submits only) and the lane it was queued on.
    batch_id: Mapped[str | None] = mapped_column(ForeignKey("batches.id"), index=True)
    lane: Mapped[str] = mapped_column(String(16), default="interactive",
                                      server_default="interactive")
    #: The recruiter who submitted it on the page; null for API submissions.
    submitted_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow,
                                                 index=True)
    #: When a message for this row was last published (by the API or the sweeper).
    enqueued_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow,
                                                  index=True)
    #: How many messages were published for this row (the sweeper backs off by it).
    enqueue_count: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), index=True)

    result: Mapped[Result | None] = relationship(back_populates="submission", uselist=False)
    neighbours: Mapped[list[Neighbour]] = relationship(order_by="Neighbour.rank")


class Result(Base):
    __tablename__ = "results"

    # Unique by construction: one result per submission, whatever the redeliveries.
    submission_seq: Mapped[int] = mapped_column(ForeignKey("submissions.seq", ondelete="CASCADE"),
                                                primary_key=True)
    label: Mapped[str] = mapped_column(String(200))
    probabilities: Mapped[dict[str, float]] = mapped_column(JSON)
    classifier: Mapped[str] = mapped_column(String(32))
    model_version: Mapped[str] = mapped_column(String(32))
    batch_id: Mapped[str] = mapped_column(String(32), index=True)
    batch_size: Mapped[int] = mapped_column(Integer)
    #: See models/explain.py; null for results stored before it existed.
    explanation: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    submission: Mapped[Submission] = relationship(back_populates="result")


class Neighbour(Base):
    __tablename__ = "neighbours"

    submission_seq: Mapped[int] = mapped_column(
        ForeignKey("submissions.seq", ondelete="CASCADE"), primary_key=True)
    rank: Mapped[int] = mapped_column(Integer, primary_key=True)
    reference_id: Mapped[str] = mapped_column(String(64))
    similarity: Mapped[float] = mapped_column(Float)
    label: Mapped[str] = mapped_column(String(200))


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA secure_delete=ON")  # an erased CV's bytes are overwritten
    cursor.close()


#: JSON columns (results' probabilities and explanations, stored answers) through orjson.
JSON_CODEC: dict[str, Any] = {"json_serializer": fastjson.dumps_text,
                              "json_deserializer": fastjson.loads}


def make_engine(url: str) -> Engine:
    """`hide_parameters`: a database error's text (which ends up in logs) never carries the
    statement's values: CV text, other boards' labels and probabilities."""
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 30}, hide_parameters=True,
                               **JSON_CODEC)
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    engine = create_engine(url, pool_size=5, max_overflow=10, hide_parameters=True,
                           **JSON_CODEC)
    check_on_checkout(engine)  # pool_pre_ping's guarantee without its round trip
    return engine


def autocommit(sessions: sessionmaker[Any]) -> sessionmaker[Any]:
    """Sessions on the same pool whose statements commit one by one: a read pays no BEGIN
    and ROLLBACK round trips. On PostgreSQL each statement sees what was committed when it
    started, as in the READ COMMITTED transactions the other sessions run; for reads only."""
    engine = sessions.kw["bind"]
    return sessionmaker(engine.execution_options(isolation_level="AUTOCOMMIT"),
                        expire_on_commit=False)


def make_sessions(url: str) -> sessionmaker[Any]:
    """Sessions on `url` as it is; `shared.schema.open_database` also brings it up to date."""
    return sessionmaker(make_engine(url), expire_on_commit=False)
