"""Heavy resources built once per worker process and handed to every batch."""

from __future__ import annotations

import gc
import importlib
import logging
import time
from typing import TYPE_CHECKING

from shared.bootstrap import database
from shared.broker import redis_for
from shared.config import Settings
from shared.errors import ConfigError
from shared.status import start_heartbeat
from worker.instruments import MODEL
from worker.processing import BatchProcessor

if TYPE_CHECKING:
    from models.runtime import ModelRuntime

log = logging.getLogger("cvqueue.worker")
_processor: BatchProcessor | None = None


def default_runtime(settings: Settings) -> ModelRuntime:
    from models.encoders import serving_encoder
    from models.runtime import ModelRuntime

    encoder = serving_encoder(settings.encoder, settings.artifacts)
    return ModelRuntime(settings.artifacts, settings.classifier or None, encoder=encoder,
                        threads=settings.threads_per_process, encode_batch=settings.encode_batch,
                        ann_threshold=settings.ann_threshold)


def load_runtime(settings: Settings) -> ModelRuntime:
    """The default runtime, or what `CVQ_RUNTIME_FACTORY` ("module:function") builds."""
    if not settings.runtime_factory:
        return default_runtime(settings)
    module, _, name = settings.runtime_factory.partition(":")
    try:
        factory = getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError):
        raise ConfigError(f"CVQ_RUNTIME_FACTORY {settings.runtime_factory!r} names no "
                          "importable module:function") from None
    runtime: ModelRuntime = factory(settings)
    return runtime


def limit_native_threads(threads: int) -> str:
    """The native thread pools loaded so far (numpy's OpenBLAS, OpenMP) to this process's
    share of the cores; what they are now, for the log. OpenBLAS starts a thread per core,
    and its idle threads spin for a while after each call: after every batch's top-k
    product they took CPU from the other process's encode and from this one's store. At
    one thread, drains of 1,200 CVs ran 7.1% faster (README, "What bought the speed")."""
    from threadpoolctl import ThreadpoolController

    controller = ThreadpoolController()  # one scan of the loaded libraries, for both
    controller.limit(limits=threads)
    return ", ".join(f"{pool['internal_api']} {pool['num_threads']}"
                     for pool in controller.info()) or "none"


def build(settings: Settings) -> BatchProcessor:
    """Load and warm the model (torch's threads are set before torch does any work, and
    torch is imported only when the encoder or the classifier needs it); the native thread
    pools the runtime loaded are limited before its first batch."""
    started = time.perf_counter()
    runtime = load_runtime(settings)
    pools = limit_native_threads(settings.threads_per_process)
    runtime.warmup()
    log.info("model ready in %.1f s: %s, %d thread(s); native thread pools: %s",
             time.perf_counter() - started, runtime.describe(), settings.threads_per_process,
             pools)
    MODEL.labels(runtime.model_version, runtime.classifier_name).set(1)
    gc.freeze()  # the model's objects live as long as the process: no collection walks them
    processor = BatchProcessor(database(settings), runtime, settings)
    start_heartbeat(redis_for(settings.broker_url), settings.queue, lambda: {
        "model_version": runtime.model_version, "classifier": runtime.classifier_name,
        "batches": processor.batches})
    return processor


def init(settings: Settings) -> BatchProcessor:
    global _processor
    if _processor is None:
        _processor = build(settings)
    return _processor


def get(settings: Settings) -> BatchProcessor:
    return _processor or init(settings)
