"""Heavy resources built once per worker process and handed to every batch."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy.orm import sessionmaker

from shared.config import Settings
from shared.db import make_sessions
from worker.processing import BatchProcessor

if TYPE_CHECKING:
    from models.runtime import ModelRuntime

log = logging.getLogger("cvqueue.worker")


@dataclass
class WorkerContext:
    settings: Settings
    sessions: sessionmaker[Any]
    runtime: ModelRuntime

    @property
    def processor(self) -> BatchProcessor:
        return BatchProcessor(self.sessions, self.runtime, self.settings)


_context: WorkerContext | None = None


def build(settings: Settings) -> WorkerContext:
    """Set torch threads before torch does any work, then load and warm the model."""
    import torch

    torch.set_num_threads(settings.threads_per_process)
    from models.embedder import Embedder
    from models.runtime import ModelRuntime

    started = time.perf_counter()
    runtime = ModelRuntime(settings.artifacts, settings.classifier or None,
                           Embedder(threads=settings.threads_per_process,
                                    batch_size=settings.encode_batch))
    runtime.warmup()
    log.info("model ready in %.1f s: %s, %d torch thread(s)", time.perf_counter() - started,
             runtime.describe(), settings.threads_per_process)
    return WorkerContext(settings, make_sessions(settings.database_url), runtime)


def init(settings: Settings) -> WorkerContext:
    global _context
    if _context is None:
        _context = build(settings)
    return _context


def get(settings: Settings) -> WorkerContext:
    return _context or init(settings)
