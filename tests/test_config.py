from __future__ import annotations

from pathlib import Path

import pytest

from shared.config import Settings
from shared.errors import ConfigError


def test_reads_typed_values_from_environment() -> None:
    s = Settings.from_env({"CVQ_BATCH_SIZE": "16", "CVQ_BATCH_WAIT": "0.25",
                           "CVQ_ARTIFACTS": "/x/y", "CVQ_BROKER_URL": "redis://h:1/0"})
    assert (s.batch_size, s.batch_wait, s.artifacts, s.broker_url) == (16, 0.25, Path("/x/y"),
                                                                      "redis://h:1/0")
    assert Settings.from_env(s.as_env()) == s


@pytest.mark.parametrize(("env", "message"), [
    ({"CVQ_BATCH_SIZE": "many"}, "CVQ_BATCH_SIZE: Input should be a valid integer"),
    ({"CVQ_BATCH_SIZE": "0"}, "greater than or equal to 1"),
    ({"CVQ_BATCH_SIZE": "2.5"}, "CVQ_BATCH_SIZE"),
    ({"CVQ_BATCH_WAIT": "0"}, "CVQ_BATCH_WAIT: Input should be greater than 0"),
    ({"CVQ_LIVENESS_SECONDS": "-1"}, "CVQ_LIVENESS_SECONDS"),
    ({"CVQ_ENV": "staging"}, "CVQ_ENV"),
    ({"CVQ_ENV": "production", "CVQ_BROKER_URL": "redis://h"}, "not SQLite"),
    ({"CVQ_ENV": "production", "CVQ_DATABASE_URL": "postgresql://h/db"}, "CVQ_BROKER_URL"),
    ({"CVQ_ENV": "production", "CVQ_DATABASE_URL": "postgresql://h/db",
      "CVQ_BROKER_URL": "redis://h", "CVQ_SECRET_KEY": "short"}, "CVQ_SECRET_KEY"),
    ({"CVQ_WORKER_POOL": "gevent"}, "'prefork' or 'solo'"),
])
def test_rejects_bad_or_unsafe_settings(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        Settings.from_env(env)


def test_threads_do_not_oversubscribe_cores() -> None:
    import os

    s = Settings(worker_concurrency=2)
    assert s.threads_per_process * s.worker_concurrency <= max(2, os.cpu_count() or 1)


def test_replace_validates_too() -> None:
    import dataclasses

    from pydantic import ValidationError

    with pytest.raises(ValidationError):
        dataclasses.replace(Settings(), max_attempts=0)
    assert dataclasses.replace(Settings(), max_attempts="4").max_attempts == 4  # type: ignore[arg-type]


def test_every_setting_survives_the_trip_through_the_environment() -> None:
    s = Settings(env="test", batch_wait=0.1, liveness_seconds=0, worker_pool="solo",
                 artifacts=Path("/a/b"), runtime_factory="m:f")
    assert Settings.from_env(s.as_env()) == s
