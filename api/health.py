"""Liveness and readiness for load balancers and orchestrators (no key, no rate limit)."""

from __future__ import annotations

import threading
import time

from flask import Blueprint, jsonify
from flask.typing import ResponseReturnValue
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from api.resources import Resources, resources
from shared.broker import BROKER_ERRORS

health = Blueprint("health", __name__)
#: Readiness is computed at most once a second per process: probes cannot load the database.
READY_TTL = 1.0
_cache: dict[int, tuple[float, dict[str, str]]] = {}
_lock = threading.Lock()


def _checks(res: Resources) -> dict[str, str]:
    checks: dict[str, str] = {}
    try:
        with res.sessions() as session:
            session.execute(text("SELECT 1"))
        checks["database"] = "ok"
    except DBAPIError as exc:
        checks["database"] = f"unreachable ({type(exc.orig).__name__})"
    try:
        with res.celery.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=2)
        checks["broker"] = "ok"
    except BROKER_ERRORS as exc:
        checks["broker"] = f"unreachable ({type(exc).__name__})"
    checks["artifacts"] = "ok" if res.references.available() else "missing"
    return checks


def cached_checks(res: Resources) -> dict[str, str]:
    with _lock:
        at, checks = _cache.get(id(res), (0.0, {}))
        if time.monotonic() - at > READY_TTL:
            checks = _checks(res)
            _cache[id(res)] = (time.monotonic(), checks)
        return checks


@health.get("/healthz")
def healthz() -> ResponseReturnValue:
    return jsonify({"status": "ok"})


@health.get("/readyz")
def readyz() -> ResponseReturnValue:
    checks = cached_checks(resources())
    ready = all(v == "ok" for v in checks.values())
    return jsonify({"ready": ready, "checks": checks}), 200 if ready else 503
