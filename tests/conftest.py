"""Fixtures: a small real artifact set, the machine's Redis and PostgreSQL, a running stack."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import NoReturn

import pytest

from models.generator import generate, write_dataset
from shared.config import Settings
from tests.databases import PG_ADMIN_URL, fresh_database

IN_CI = os.environ.get("CI", "").lower() == "true"
REDIS_URL = os.environ.get("CVQ_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def unavailable(what: str) -> NoReturn:
    """Skip on a developer machine without the service; fail in CI, where it must exist."""
    if IN_CI:
        pytest.fail(f"{what} is required when CI=true")
    pytest.skip(f"{what} not reachable")


@pytest.fixture(scope="session")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("data") / "recruitment.json"
    write_dataset(generate(240, seed=3), path)
    return path


@pytest.fixture(scope="session")
def artifacts(dataset: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real artifact set: MiniLM embeddings and all three classifiers, on 240 records."""
    from models.train import train

    out = tmp_path_factory.mktemp("artifacts") / "small"
    train(dataset, out, progress=False)
    return out


@pytest.fixture(scope="session")
def redis_url() -> str:
    import redis

    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2).ping()
    except redis.RedisError:
        unavailable(f"Redis at {REDIS_URL}")
    return REDIS_URL


@pytest.fixture()
def pg_url() -> Iterator[str]:
    """A fresh PostgreSQL database for one test, dropped afterwards."""
    with fresh_database("cvq_test") as url:
        if url is None:
            unavailable(f"PostgreSQL at {PG_ADMIN_URL}")
        yield url


@pytest.fixture()
def settings(artifacts: Path, tmp_path: Path) -> Settings:
    """Settings for one test: its own SQLite file and its own queue name."""
    return replace(Settings(), env="test", database_url=f"sqlite:///{tmp_path / 'cvq.db'}",
                   artifacts=artifacts, queue=f"cvq-test-{uuid.uuid4().hex[:8]}",
                   broker_url="memory://", batch_wait=0.3)
