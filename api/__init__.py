"""The Flask intake API: validate, persist, enqueue, answer 202; poll results."""

from __future__ import annotations

import secrets
from typing import Any

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from api import errors, metrics
from api.accounts import init_accounts
from api.batches import batches
from api.contract import contract
from api.dashboard import dashboard
from api.health import health
from api.jsonprovider import FastJSONProvider
from api.keycache import key_cache
from api.limits import Limits
from api.operators import ops
from api.positions import Catalogue
from api.recruiters import recruiters
from api.references import ReferenceStore
from api.resources import Resources, close_read_session
from api.views import v1
from api.webhook_views import hooks
from shared.bootstrap import database
from shared.broker import make_celery, redis_for
from shared.config import Settings
from shared.db import autocommit


def create_app(test_config: dict[str, Any] | None = None) -> Flask:
    """`test_config` may hold a ready `Settings` under "SETTINGS" and Flask options."""
    app = Flask(__name__)
    app.json = FastJSONProvider(app)
    app.config.update(test_config or {})
    settings: Settings = app.config.get("SETTINGS") or Settings.from_env()
    app.config["MAX_CONTENT_LENGTH"] = settings.max_body_bytes
    app.config["MAX_FORM_PARTS"] = 10  # a CV upload has three
    app.config.update(SECRET_KEY=settings.secret_key or secrets.token_hex(32),
                      SESSION_COOKIE_HTTPONLY=True, SESSION_COOKIE_SAMESITE="Strict",
                      SESSION_COOKIE_SECURE=settings.env == "production")
    # `//v1//x` is a 404, not a redirect whose Location would be built from the Host header.
    app.url_map.merge_slashes = False
    app.url_map.strict_slashes = False
    if settings.proxy_hops:  # client addresses (for rate limits) from X-Forwarded-For
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=settings.proxy_hops,  # type: ignore[method-assign]
                                x_proto=settings.proxy_hops)
    broker, sessions = redis_for(settings.broker_url), database(settings)
    resources = Resources(
        settings=settings, sessions=sessions, reads=autocommit(sessions),
        celery=make_celery(settings),
        broker=broker, references=ReferenceStore(settings.artifacts),
        catalogue=Catalogue(settings.artifacts),
        limits=Limits(settings, broker), keys=key_cache(settings.database_url))
    app.extensions["cvqueue"] = resources
    app.extensions["cvqueue_metrics"] = metrics.install(app, resources)
    app.teardown_appcontext(close_read_session)
    errors.register(app)
    app.register_blueprint(health)
    app.register_blueprint(contract)
    app.register_blueprint(v1)
    app.register_blueprint(batches)
    app.register_blueprint(hooks)
    app.register_blueprint(ops)
    app.register_blueprint(dashboard)
    app.register_blueprint(recruiters)
    init_accounts(app)
    return app
