"""Schema migrations (Alembic): the database's revision, upgrading it, and the check every
process makes at start: behind in production is refused, elsewhere it is upgraded."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, inspect, text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import sessionmaker

from shared.db import make_engine
from shared.errors import ConfigError

MIGRATIONS = Path(__file__).with_name("migrations")
#: The revision whose schema the releases before migrations created with `create_all`.
BASELINE = "0001"
_PG_LOCK = 72731


def alembic_config(connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


def head() -> str:
    revision = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert revision is not None
    return revision


def current(engine: Engine) -> str | None:
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def _upgrade(connection: Connection) -> None:
    if connection.dialect.name == "postgresql":
        # API, workers and sweepers may start at once: one upgrades, the others wait.
        connection.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": _PG_LOCK})
    config = alembic_config(connection)
    tables = set(inspect(connection).get_table_names())
    if "alembic_version" not in tables and "submissions" in tables:
        command.stamp(config, BASELINE)  # created by create_all before migrations existed
    command.upgrade(config, "head")


def upgrade(engine: Engine) -> str:
    """Bring the database to the newest revision; safe when several processes start at once."""
    for delay in (0.2, 0.5, 1.0, 2.0, None):
        try:
            with engine.begin() as connection:
                _upgrade(connection)
            break
        except OperationalError:  # SQLite: another process holds the write lock
            if delay is None:
                raise
            time.sleep(delay)
    return head()


def ensure_current(engine: Engine, env: str) -> None:
    """Upgrade a database that is behind, except in production, where that is the
    operator's step (`cvqueue db upgrade`) and a process refuses to start instead."""
    at, needed = current(engine), head()
    if at == needed:
        return
    if env == "production":
        raise ConfigError(f"the database schema is at {at or 'no revision'} and this release "
                          f"needs {needed}: run `cvqueue db upgrade` first")
    upgrade(engine)


def open_database(url: str, env: str = "development") -> sessionmaker[Any]:
    """Sessions on a database whose schema is current (see `ensure_current`)."""
    engine = make_engine(url)
    ensure_current(engine, env)
    return sessionmaker(engine, expire_on_commit=False)
