"""Every error the API answers is JSON: {"error": code, "message": text, ...}."""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, Response, jsonify
from flask.typing import ResponseReturnValue
from werkzeug.exceptions import HTTPException

log = logging.getLogger("cvqueue.api")


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.extra = status, code, message, extra
        self.headers: dict[str, str] = {}


def bad_request(message: str, **extra: Any) -> ApiError:
    return ApiError(400, "invalid_request", message, **extra)


def not_found(what: str = "submission") -> ApiError:
    return ApiError(404, "not_found", f"no such {what}")


def error_code(reason: str) -> str:
    """"Request Entity Too Large" -> "request_entity_too_large"."""
    return reason.lower().replace(" ", "_")


def too_many(code: str, message: str, retry_after: int, **extra: Any) -> ApiError:
    error = ApiError(429, code, message, **extra)
    error.headers["Retry-After"] = str(retry_after)
    return error


def unavailable(message: str, retry_after: int) -> ApiError:
    error = ApiError(503, "unavailable", message)
    error.headers["Retry-After"] = str(retry_after)
    return error


def register(app: Flask) -> None:
    @app.errorhandler(ApiError)
    def api_error(exc: ApiError) -> ResponseReturnValue:
        body = {"error": exc.code, "message": exc.message, **exc.extra}
        return jsonify(body), exc.status, exc.headers

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> ResponseReturnValue:
        code = error_code(exc.name or "error")
        # Keep the exception's own headers (Allow on a 405), not its HTML content type.
        headers = [(k, v) for k, v in exc.get_headers() if k.lower() != "content-type"]
        return jsonify({"error": code, "message": exc.description}), exc.code or 500, headers

    @app.after_request
    def no_sniffing(response: Response) -> Response:
        response.headers["X-Content-Type-Options"] = "nosniff"
        return response

    from sqlalchemy.exc import DBAPIError

    @app.errorhandler(DBAPIError)
    def database_down(exc: DBAPIError) -> ResponseReturnValue:
        log.error("database unavailable (%s) while serving a request", type(exc.orig).__name__)
        retry_after = str(app.extensions["cvqueue"].settings.retry_after)
        body = {"error": "unavailable", "message": "the database is unavailable; nothing was changed"}
        return jsonify(body), 503, {"Retry-After": retry_after}

    @app.errorhandler(Exception)
    def unexpected(exc: Exception) -> ResponseReturnValue:
        # Log the type only: exception text could quote a CV.
        log.error("unexpected %s while serving a request", type(exc).__name__)
        return jsonify({"error": "internal_error", "message": "unexpected server error"}), 500
