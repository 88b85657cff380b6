"""The Flask intake API: validate, persist, enqueue, answer 202; poll results."""

from __future__ import annotations

from typing import Any

from flask import Flask

from api import errors
from api.auth import authenticate
from api.limits import Limits
from api.references import ReferenceStore
from api.routes import bp
from api.services import Services
from shared.bootstrap import database
from shared.broker import make_celery
from shared.config import Settings


def create_app(test_config: dict[str, Any] | None = None) -> Flask:
    """`test_config` may hold a ready `Settings` under "SETTINGS" and Flask options."""
    app = Flask(__name__)
    app.config.update(test_config or {})
    settings: Settings = app.config.get("SETTINGS") or Settings.from_env()
    app.config["MAX_CONTENT_LENGTH"] = settings.max_body_bytes
    app.json.sort_keys = False  # type: ignore[attr-defined]
    app.extensions["cvqueue"] = Services(
        settings=settings, sessions=database(settings),
        celery=make_celery(settings), references=ReferenceStore(settings.artifacts),
        limits=Limits(settings))
    errors.register(app)
    app.before_request(authenticate)
    app.register_blueprint(bp)
    return app
