"""Start a Celery worker for the configured queue, pool and concurrency."""

from __future__ import annotations

import logging

from shared.config import Settings
from shared.errors import ConfigError
from worker.app import create_worker_app


def run(settings: Settings | None = None, loglevel: str = "INFO") -> None:
    settings = settings or Settings.from_env()
    if not settings.broker_url:
        raise ConfigError("CVQ_BROKER_URL is not set (cvqueue up starts an embedded Redis)")
    logging.basicConfig(level=loglevel, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    celery = create_worker_app(settings)
    concurrency = 1 if settings.worker_pool == "solo" else settings.worker_concurrency
    celery.worker_main(["worker", f"--loglevel={loglevel}", "-Q", settings.queue,
                        "-P", settings.worker_pool, "-c", str(concurrency), "--without-gossip",
                        "--without-mingle", "--without-heartbeat"])
