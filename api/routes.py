"""The HTTP endpoints: submit, poll, look up references, health."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from flask import Blueprint, jsonify, request
from flask.typing import ResponseReturnValue
from kombu.exceptions import OperationalError as BrokerError
from redis.exceptions import RedisError
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm import selectinload

from api import idempotency, validation
from api.auth import board_id
from api.errors import ApiError, bad_request, not_found, unavailable
from api.services import services
from api.validation import NewSubmission
from api.views import submission_json
from shared.broker import enqueue
from shared.db import STATUSES, IdempotencyRecord, Submission, new_id
from shared.retention import erase

log = logging.getLogger("cvqueue.api")
bp = Blueprint("v1", __name__)
MAX_POLL_IDS = 100
MAX_LIMIT = 500


def _conflicting_external_id(session: Any, board: int, items: list[NewSubmission]) -> None:
    wanted = [i.external_id for i in items if i.external_id]
    if not wanted:
        return
    existing = session.execute(select(Submission.external_id, Submission.id).where(
        Submission.board_id == board, Submission.external_id.in_(wanted))).first()
    if existing:
        raise ApiError(409, "duplicate_external_id", f"external_id {existing[0]!r} was already "
                       "submitted", existing_id=existing[1])


def _persist(items: list[NewSubmission], body: Callable[[list[str]], dict[str, Any]],
             idem: tuple[str, str] | None) -> tuple[list[str], dict[str, Any]]:
    """Commit the submissions (and the idempotency record) first: a 202 means the rows exist.
    A database outage propagates to the app-wide handler: 503, nothing accepted."""
    svc, board = services(), board_id()
    rows = [Submission(id=new_id(), board_id=board, status="queued", cv=i.cv,
                       position=i.position, external_id=i.external_id) for i in items]
    ids = [r.id for r in rows]
    response = body(ids)
    try:
        with svc.sessions.begin() as session:
            _conflicting_external_id(session, board, items)
            session.add_all(rows)
            if idem:
                session.add(IdempotencyRecord(board_id=board, key=idem[0], request_hash=idem[1],
                                              status_code=202, response=response))
    except IntegrityError:
        # A concurrent request won the race for the same idempotency key or external_id.
        if idem and (replay := idempotency.replay(svc.sessions, board, *idem)):
            raise replay from None
        raise ApiError(409, "conflict", "a submission with this external_id or "
                       "Idempotency-Key was created concurrently") from None
    try:
        enqueue(svc.celery, ids, svc.settings.queue)
    except (BrokerError, RedisError, OSError) as exc:
        # The rows are committed and stay `queued`: the sweeper enqueues them later.
        log.warning("broker unavailable (%s); %d submission(s) wait in SQL",
                    type(exc).__name__, len(ids))
    return ids, response


def _accept(items: list[NewSubmission], body: Callable[[list[str]], dict[str, Any]],
            location: Callable[[list[str]], str | None]) -> ResponseReturnValue:
    svc = services()
    idem = idempotency.from_request(request)
    if idem and (replay := idempotency.replay(svc.sessions, board_id(), *idem)):
        raise replay
    svc.limits.check_queue()
    ids, response = _persist(items, body, idem)
    headers = {"Retry-After": str(svc.settings.retry_after)}
    if where := location(ids):
        headers["Location"] = where
    return jsonify(response), 202, headers


@bp.post("/v1/submissions")
def submit() -> ResponseReturnValue:
    item = validation.single_body(request.get_data(), request.content_type, services().settings)
    return _accept([item], lambda ids: {"id": ids[0], "status": "queued",
                                        "status_url": f"/v1/submissions/{ids[0]}"},
                   lambda ids: f"/v1/submissions/{ids[0]}")


@bp.post("/v1/submissions/batch")
def submit_batch() -> ResponseReturnValue:
    items = validation.batch_body(request.get_data(), request.content_type, services().settings)
    return _accept(items, lambda ids: {"ids": ids, "count": len(ids), "status": "queued"},
                   lambda ids: None)


def _load(where: Any, order: bool = False, limit: int | None = None) -> list[Submission]:
    stmt = (select(Submission).where(where, Submission.board_id == board_id())
            .options(selectinload(Submission.result), selectinload(Submission.neighbours)))
    if order:
        stmt = stmt.order_by(Submission.seq)
    if limit:
        stmt = stmt.limit(limit)
    with services().sessions() as session:
        return list(session.scalars(stmt))


@bp.get("/v1/submissions/<submission_id>")
def get_submission(submission_id: str) -> ResponseReturnValue:
    validation.submission_id(submission_id)
    found = _load(Submission.id == submission_id)
    if not found:
        raise not_found()
    return jsonify(submission_json(found[0]))


@bp.delete("/v1/submissions/<submission_id>")
def erase_submission(submission_id: str) -> ResponseReturnValue:
    """Erase the CV, its result and neighbours, and its queued messages; then it is 404."""
    validation.submission_id(submission_id)
    svc = services()
    with svc.sessions.begin() as session:
        if not erase(session, (Submission.id == submission_id)
                     & (Submission.board_id == board_id())):
            raise not_found()
    svc.limits.forget(submission_id)
    return "", 204


def _poll_ids(raw: str) -> ResponseReturnValue:
    ids = [validation.submission_id(i.strip()) for i in raw.split(",") if i.strip()]
    if not ids:
        raise bad_request("'ids' is empty")
    if len(ids) > MAX_POLL_IDS:
        raise bad_request(f"at most {MAX_POLL_IDS} ids per poll, got {len(ids)}")
    found = {s.id: s for s in _load(Submission.id.in_(ids))}
    return jsonify({"items": [submission_json(found[i]) for i in ids if i in found],
                    "missing": [i for i in ids if i not in found]})


def _int_param(name: str, default: int, low: int, high: int) -> int:
    raw = request.args.get(name)
    if raw is None:
        return default
    if not raw.isdigit() or not low <= int(raw) <= high:
        raise bad_request(f"'{name}' must be a whole number from {low} to {high}")
    return int(raw)


@bp.get("/v1/submissions")
def list_submissions() -> ResponseReturnValue:
    unknown = sorted(set(request.args) - {"ids", "status", "after", "limit"})
    if unknown:
        raise bad_request(f"unsupported query parameter '{unknown[0]}' "
                          "(use ids, or status, after and limit)")
    if "ids" in request.args:
        if len(request.args) > 1:
            raise bad_request("'ids' cannot be combined with other parameters")
        return _poll_ids(request.args["ids"])
    status = request.args.get("status")
    if status is not None and status not in STATUSES:
        raise bad_request(f"'status' must be one of {', '.join(STATUSES)}")
    after = _int_param("after", 0, 0, 2**62)
    limit = _int_param("limit", 100, 1, MAX_LIMIT)
    where = Submission.seq > after
    if status:
        where = where & (Submission.status == status)
    rows = _load(where, order=True, limit=limit + 1)
    page = rows[:limit]
    has_more = len(rows) > limit
    return jsonify({"items": [submission_json(s) for s in page], "has_more": has_more,
                    "next_cursor": str(page[-1].seq) if page else str(after)})


@bp.get("/v1/reference/<reference_id>")
def get_reference(reference_id: str) -> ResponseReturnValue:
    if len(reference_id) > 64:
        raise bad_request("malformed reference id")
    store = services().references
    if not store.available():
        raise unavailable("model artifacts are not available", services().settings.retry_after)
    found = store.get(reference_id)
    if found is None:
        raise not_found("reference record")
    return jsonify(found)


@bp.get("/healthz")
def healthz() -> ResponseReturnValue:
    return jsonify({"status": "ok"})


@bp.get("/readyz")
def readyz() -> ResponseReturnValue:
    svc = services()
    checks: dict[str, str] = {}
    try:
        with svc.sessions() as session:
            session.execute(text("SELECT 1"))
        checks["database"] = "ok"
    except DBAPIError as exc:
        checks["database"] = f"unreachable ({type(exc.orig).__name__})"
    try:
        with svc.celery.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=2)
        checks["broker"] = "ok"
    except (BrokerError, RedisError, OSError) as exc:
        checks["broker"] = f"unreachable ({type(exc).__name__})"
    checks["artifacts"] = "ok" if svc.references.available() else "missing"
    ready = all(v == "ok" for v in checks.values())
    return jsonify({"ready": ready, "checks": checks}), 200 if ready else 503


