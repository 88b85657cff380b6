"""Idempotency-Key: the first response is stored and replayed; a different body is 422."""

from __future__ import annotations

import hashlib

from flask import Request, jsonify
from flask.typing import ResponseReturnValue
from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from api.errors import ApiError, bad_request
from shared.db import IdempotencyRecord

MAX_KEY = 200
#: Built once, as the Python client sends a key with every submit (see
#: `shared.keys.ACTIVE_BY_HASH`).
RECORD = select(IdempotencyRecord).where(IdempotencyRecord.board_id == bindparam("board"),
                                         IdempotencyRecord.key == bindparam("key"))


def from_request(request: Request, content: bytes | None = None) -> tuple[str, str] | None:
    """`content`: what identifies the request when its raw body cannot (a multipart body's
    boundary differs on every retry): the body by default."""
    key = request.headers.get("Idempotency-Key")
    if key is None:
        return None
    if not key.strip() or len(key) > MAX_KEY or not key.isprintable():
        raise bad_request(f"Idempotency-Key must be 1 to {MAX_KEY} printable characters")
    digest = hashlib.sha256(request.path.encode() + b"\0" + (
        request.get_data() if content is None else content)).hexdigest()
    return key, digest


def stored_response(session: Session, board_id: int, key: str, request_hash: str
                    ) -> ResponseReturnValue | None:
    """The first response given for this key, or None when the key is new. `session`: the
    request's read session (`api.resources.read_session`), which sees every commit."""
    record = session.scalar(RECORD, {"board": board_id, "key": key})
    if record is None:
        return None
    if record.request_hash != request_hash:
        raise ApiError(422, "idempotency_key_reused",
                       "this Idempotency-Key was already used with a different request body")
    return jsonify(record.response), record.status_code, {"Idempotent-Replayed": "true"}
