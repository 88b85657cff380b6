"""What operators reach with an operator key: /metrics (Prometheus) and the dashboard."""

from __future__ import annotations

from flask import Blueprint, Response, current_app
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from api.auth import authenticate_operator, limit_address

ops = Blueprint("ops", __name__)
ops.before_request(limit_address)
ops.before_request(authenticate_operator)


@ops.get("/metrics")
def metrics() -> Response:
    registry: CollectorRegistry = current_app.extensions["cvqueue_metrics"]
    return Response(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)
