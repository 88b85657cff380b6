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


class DriverDetailsFilter(logging.Filter):
    """SQLAlchemy's own warnings (a connection reset in the pool, say) quote the driver's
    message: host, user, database, sometimes a statement. Keep the logger, level and the
    exception's type; drop the rest."""

    def filter(self, record: logging.LogRecord) -> bool:
        if (record.name.startswith("sqlalchemy") and record.exc_info
                and record.exc_info[1] is not None):
            kind = type(record.exc_info[1]).__name__
            record.msg, record.args = f"{record.getMessage()} ({kind})", None
            record.exc_info, record.exc_text = None, None
        return True


def setup_logging(loglevel: str = "INFO") -> None:
    logging.basicConfig(level=loglevel, format=LOG_FORMAT)
    for handler in logging.getLogger().handlers:
        handler.addFilter(DriverDetailsFilter())


def service_settings(loglevel: str = "INFO") -> Settings:
    """Settings for a process that talks to the broker (API, worker, sweeper)."""
    setup_logging(loglevel)
    settings = Settings.from_env()
    if not settings.broker_url:
        raise ConfigError("CVQ_BROKER_URL is not set (cvqueue up starts an embedded Redis)")
    return settings


def database(settings: Settings) -> sessionmaker[Any]:
    return open_database(settings.database_url, settings.env)
