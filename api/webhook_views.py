"""A board's own webhook: set, read, rotate, remove; its deliveries; redeliver."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify, request
from flask.typing import ResponseReturnValue

from api import validation
from api.auth import authenticate, board_id
from api.errors import bad_request, not_found
from api.resources import resources
from shared import subscriptions
from shared.errors import CvqError

hooks = Blueprint("webhook", __name__, url_prefix="/v1/webhook")
hooks.before_request(authenticate)
MAX_LIMIT = 500


def _json_object() -> dict[str, Any]:
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise bad_request("the body must be a JSON object")
    return body


@hooks.put("")
def set_webhook() -> ResponseReturnValue:
    body = _json_object()
    if set(body) != {"url"} or not isinstance(body["url"], str):
        raise bad_request("the body must be {\"url\": \"https://...\"}")
    res = resources()
    try:
        secret = subscriptions.set_webhook(res.sessions, board_id(), body["url"],
                                           res.settings.webhook_allow_private)
    except CvqError as exc:
        raise bad_request(str(exc)) from None
    info = subscriptions.webhook_info(res.sessions, board_id())
    return jsonify({**info, **({"secret": secret} if secret else {})})


@hooks.get("")
def get_webhook() -> ResponseReturnValue:
    return jsonify(subscriptions.webhook_info(resources().sessions, board_id()))


@hooks.delete("")
def remove_webhook() -> ResponseReturnValue:
    subscriptions.remove_webhook(resources().sessions, board_id())
    return "", 204


@hooks.post("/rotate")
def rotate() -> ResponseReturnValue:
    res = resources()
    try:
        secret = subscriptions.rotate_secret(res.sessions, board_id(),
                                             res.settings.webhook_grace_hours)
    except CvqError as exc:
        raise bad_request(str(exc)) from None
    return jsonify({**subscriptions.webhook_info(res.sessions, board_id()), "secret": secret})


@hooks.get("/deliveries")
def deliveries() -> ResponseReturnValue:
    status = request.args.get("status") or None
    if status is not None and status not in subscriptions.DELIVERY_STATUSES:
        raise bad_request(f"'status' must be one of {', '.join(subscriptions.DELIVERY_STATUSES)}")
    limit = validation.int_param(request.args, "limit", 100, 1, MAX_LIMIT)
    return jsonify({"items": subscriptions.list_deliveries(resources().sessions, board_id(),
                                                           status, limit)})


@hooks.post("/deliveries/<delivery_id>/redeliver")
def redeliver(delivery_id: str) -> ResponseReturnValue:
    if len(delivery_id) > 40 or not subscriptions.redeliver(resources().sessions, delivery_id,
                                                            board_id()):
        raise not_found("delivery")
    return jsonify({"id": delivery_id, "status": "pending"}), 202
