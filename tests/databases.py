"""A fresh PostgreSQL database, for the tests that need one and for the benchmark."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

PG_ADMIN_URL = os.environ.get("CVQ_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


@contextmanager
def fresh_database(prefix: str, admin_url: str = PG_ADMIN_URL) -> Iterator[str | None]:
    """The URL of a new database on `admin_url`'s server, dropped on leaving; None when no
    server answers there."""
    import psycopg

    try:
        admin = psycopg.connect(admin_url, connect_timeout=3, autocommit=True)
    except psycopg.OperationalError:
        yield None
        return
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    admin.execute(f"CREATE DATABASE {name}")
    try:
        yield admin_url.rsplit("/", 1)[0] + f"/{name}"
    finally:
        admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        admin.close()
