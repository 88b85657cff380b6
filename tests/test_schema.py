"""Alembic migrations: an empty database upgrades to the models' schema on SQLite and
PostgreSQL, autogenerate finds no difference, and production refuses a database behind."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect

from shared.db import Base, make_engine
from shared.errors import ConfigError
from shared.schema import BASELINE, current, ensure_current, head, upgrade


def assert_models_match(url: str) -> None:
    engine = make_engine(url)
    assert upgrade(engine) == head() == current(engine)
    with engine.connect() as connection:
        diff = compare_metadata(MigrationContext.configure(
            connection, opts={"compare_type": True}), Base.metadata)
    assert diff == [], diff


def test_sqlite_upgrades_from_empty_to_the_models(tmp_path: Path) -> None:
    assert_models_match(f"sqlite:///{tmp_path / 'm.db'}")


@pytest.mark.postgres
def test_postgres_upgrades_from_empty_to_the_models(pg_url: str) -> None:
    assert_models_match(pg_url)


def test_upgrade_twice_is_a_no_op(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'm.db'}")
    assert upgrade(engine) == upgrade(engine) == head()


def test_a_database_made_before_migrations_is_adopted(tmp_path: Path) -> None:
    """Releases before Alembic made the baseline tables with create_all and no version."""
    from alembic import command

    from shared.schema import alembic_config

    engine = make_engine(f"sqlite:///{tmp_path / 'old.db'}")
    with engine.begin() as connection:
        command.upgrade(alembic_config(connection), BASELINE)
        connection.exec_driver_sql("DROP TABLE alembic_version")
    assert current(engine) is None
    upgrade(engine)
    assert current(engine) == head() != BASELINE
    columns = {c["name"] for c in inspect(engine).get_columns("submissions")}
    assert {"enqueue_count", "idempotency_key"} <= columns


def test_production_refuses_a_database_that_is_behind(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'm.db'}")
    with pytest.raises(ConfigError, match="run `cvqueue db upgrade` first"):
        ensure_current(engine, "production")
    ensure_current(engine, "development")  # elsewhere it upgrades
    assert current(engine) == head()
    ensure_current(engine, "production")


@pytest.mark.postgres
def test_db_commands_and_production_refusal_through_the_cli(pg_url: str) -> None:
    import os
    import subprocess
    import sys

    def cvqueue(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "shared.cli", *args], text=True,
                              capture_output=True, timeout=120,
                              env={**os.environ, "CVQ_DATABASE_URL": pg_url, **env})

    behind = cvqueue("db", "current")
    assert behind.returncode == 1 and "database: none" in behind.stdout
    production = {"CVQ_ENV": "production", "CVQ_BROKER_URL": "redis://x:1/0",
                  "CVQ_SECRET_KEY": "s" * 32}
    refused = cvqueue("keys", "list", **production)
    assert refused.returncode == 2 and "run `cvqueue db upgrade` first" in refused.stderr
    assert refused.stderr.count("\n") == 1
    upgraded = cvqueue("db", "upgrade")
    assert upgraded.returncode == 0 and f"-> {head()}" in upgraded.stdout
    assert cvqueue("db", "current").returncode == 0
    assert cvqueue("keys", "list", **production).returncode == 0
