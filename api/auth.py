"""Every /v1 request names its board with `Authorization: Bearer <key>`."""

from __future__ import annotations

from flask import g, request

from api.errors import ApiError
from api.services import services
from shared.keys import board_for_key


def authenticate() -> None:
    if not request.path.startswith("/v1/"):
        return
    header = request.headers.get("Authorization", "")
    scheme, _, key = header.partition(" ")
    if scheme.lower() != "bearer" or not key.strip():
        error = ApiError(401, "unauthorized", "missing API key: send 'Authorization: Bearer <key>'")
        error.headers["WWW-Authenticate"] = "Bearer"
        raise error
    board_id = board_for_key(services().sessions, key.strip())
    if board_id is None:
        error = ApiError(401, "unauthorized", "invalid or revoked API key")
        error.headers["WWW-Authenticate"] = "Bearer"
        raise error
    g.board_id = board_id
    services().limits.check_rate(board_id)


def board_id() -> int:
    return int(g.board_id)
