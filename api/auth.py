"""Every /v1 request names its board with `Authorization: Bearer <key>`."""

from __future__ import annotations

from flask import g, request

from api.errors import ApiError
from api.resources import resources
from shared.keys import board_for_key


def _unauthorized(message: str) -> ApiError:
    error = ApiError(401, "unauthorized", message)
    error.headers["WWW-Authenticate"] = "Bearer"
    return error


def authenticate() -> None:
    scheme, _, key = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not key.strip():
        raise _unauthorized("missing API key: send 'Authorization: Bearer <key>'")
    found = board_for_key(resources().sessions, key.strip())
    if found is None:
        raise _unauthorized("invalid or revoked API key")
    g.board_id = found


def limit_address() -> None:
    resources().limits.check_address(request.remote_addr or "unknown")


def limit_board() -> None:
    resources().limits.check_board(board_id())


def board_id() -> int:
    return int(g.board_id)
