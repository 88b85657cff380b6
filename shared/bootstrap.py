"""What every long-running process does first, in one place: settings from the environment,
logging, the broker check, and a database whose schema is current."""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy.orm import sessionmaker

from shared.config import Settings
from shared.errors import ConfigError
from shared.schema import open_database

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def service_settings(loglevel: str = "INFO") -> Settings:
    """Settings for a process that talks to the broker (API, worker, sweeper)."""
    logging.basicConfig(level=loglevel, format=LOG_FORMAT)
    settings = Settings.from_env()
    if not settings.broker_url:
        raise ConfigError("CVQ_BROKER_URL is not set (cvqueue up starts an embedded Redis)")
    return settings


def database(settings: Settings) -> sessionmaker[Any]:
    return open_database(settings.database_url, settings.env)
