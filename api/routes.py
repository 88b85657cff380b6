"""The HTTP endpoints: submit, poll, look up references, health."""

from __future__ import annotations

import logging
from typing import Any

from flask import Blueprint, jsonify, request
from flask.typing import ResponseReturnValue
from kombu.exceptions import OperationalError as BrokerError
from redis.exceptions import RedisError
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import selectinload

from api import validation
from api.errors import bad_request, not_found, unavailable
from api.services import services
from api.views import submission_json
from shared.broker import enqueue
from shared.db import STATUSES, Submission, new_id

log = logging.getLogger("cvqueue.api")
bp = Blueprint("v1", __name__)
MAX_POLL_IDS = 100
MAX_LIMIT = 500


def _persist(items: list[validation.NewSubmission]) -> list[str]:
    """Commit the submissions first: a 202 always means the row exists."""
    svc = services()
    rows = [Submission(id=new_id(), status="queued", cv=i.cv, position=i.position,
                       external_id=i.external_id) for i in items]
    try:
        with svc.sessions.begin() as session:
            session.add_all(rows)
    except DBAPIError:
        log.error("database unavailable; %d submission(s) refused", len(rows))
        raise unavailable("the database is unavailable; nothing was accepted",
                          svc.settings.retry_after) from None
    ids = [r.id for r in rows]
    try:
        enqueue(svc.celery, ids, svc.settings.queue)
    except (BrokerError, RedisError, OSError) as exc:
        # The rows are committed and stay `queued`: the sweeper enqueues them later.
        log.warning("broker unavailable (%s); %d submission(s) wait in SQL",
                    type(exc).__name__, len(ids))
    return ids


def _accepted(body: dict[str, Any], location: str | None) -> ResponseReturnValue:
    headers = {"Retry-After": str(services().settings.retry_after)}
    if location:
        headers["Location"] = location
    return jsonify(body), 202, headers


@bp.post("/v1/submissions")
def submit() -> ResponseReturnValue:
    item = validation.single_body(request.get_data(), request.content_type, services().settings)
    (submission_id,) = _persist([item])
    url = f"/v1/submissions/{submission_id}"
    return _accepted({"id": submission_id, "status": "queued", "status_url": url}, url)


@bp.post("/v1/submissions/batch")
def submit_batch() -> ResponseReturnValue:
    items = validation.batch_body(request.get_data(), request.content_type, services().settings)
    ids = _persist(items)
    return _accepted({"ids": ids, "count": len(ids), "status": "queued",
                      "poll_url": "/v1/submissions?ids=<id>,<id>,..."}, None)


def _load(where: Any, order: bool = False, limit: int | None = None) -> list[Submission]:
    stmt = (select(Submission).where(where)
            .options(selectinload(Submission.result), selectinload(Submission.neighbours)))
    if order:
        stmt = stmt.order_by(Submission.seq)
    if limit:
        stmt = stmt.limit(limit)
    try:
        with services().sessions() as session:
            return list(session.scalars(stmt))
    except DBAPIError:
        raise unavailable("the database is unavailable", services().settings.retry_after) from None


@bp.get("/v1/submissions/<submission_id>")
def get_submission(submission_id: str) -> ResponseReturnValue:
    validation.submission_id(submission_id)
    found = _load(Submission.id == submission_id)
    if not found:
        raise not_found()
    return jsonify(submission_json(found[0]))


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


