"""Every /v1 request names its board with `Authorization: Bearer <key>`."""

from __future__ import annotations

from flask import g, request

from api.errors import ApiError
from api.resources import read_session, resources
from shared.keys import KeyHolder, hash_key, holder_by_digest


def _unauthorized(message: str) -> ApiError:
    error = ApiError(401, "unauthorized", message)
    error.headers["WWW-Authenticate"] = "Bearer"
    return error


def _holder() -> KeyHolder:
    scheme, _, key = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not key.strip():
        raise _unauthorized("missing API key: send 'Authorization: Bearer <key>'")
    found = resources().keys.holder(hash_key(key.strip()),
                                    lambda digest: holder_by_digest(read_session(), digest))
    if found is None:
        raise _unauthorized("invalid or revoked API key")
    return found


def authenticate() -> None:
    """A job board's key: its own submissions, nothing else. An operator key reads no CV.

    Rate limits: a board's requests count against the board's limit, a request without a
    valid key against its address's (a client trying keys is limited like any other, after
    one indexed lookup of the key it sent). So a board's request costs one Redis round
    trip, not two, and boards behind one proxy do not share a limit."""
    try:
        holder = _holder()
    except ApiError:
        limit_address()  # 429 instead, past the address's limit
        raise
    if holder.role != "board":
        raise ApiError(403, "forbidden", "an operator key cannot use the job boards' endpoints")
    g.board_id = holder.id
    limit_board()


def authenticate_operator() -> None:
    """An operator's key: metrics and the dashboard. A job board's key is refused."""
    if _holder().role != "operator":
        raise ApiError(403, "forbidden", "this needs an operator key "
                       "(cvqueue keys create --operator --name NAME)")


def limit_address() -> None:
    resources().limits.check_address(request.remote_addr or "unknown")


def limit_board() -> None:
    resources().limits.check_board(board_id())


def board_id() -> int:
    return int(g.board_id)
