"""The worker's Celery app and its one batch task."""

from __future__ import annotations

import logging
import os
from typing import Any

from celery import Celery, signals
from celery_batches import SimpleRequest

from shared.broker import CLASSIFY_TASK, lane_queue, make_celery, message_ids, queue_depth, redis_for
from shared.config import Settings
from worker import context, metrics
from worker.batches import SettlingBatches
from worker.liveness import Watchdog, shut_down

log = logging.getLogger("cvqueue.worker")


def submission_ids(requests: list[SimpleRequest]) -> list[str]:
    """The ids in a batch's messages; anything that is not an id is dropped."""
    return [sid for r in requests for sid in message_ids(r.args)]


def create_worker_app(settings: Settings) -> Celery:
    celery = make_celery(settings)

    @celery.task(base=SettlingBatches, name=CLASSIFY_TASK, batch_ids=settings.batch_size,
                 interactive_queue=lane_queue(settings.queue, "interactive"),
                 flush_interval=settings.batch_wait, eager=settings.batch_eager)
    def classify(requests: list[SimpleRequest]) -> None:
        ids = submission_ids(requests)
        try:
            context.get(settings).process(ids)
        except Exception as exc:
            # Not Celery's traceback: a database error's text can carry statement details.
            # The rows stay `processing` and come back through the sweeper.
            log.error("batch of %d submission(s) failed: %s; ids: %s", len(ids),
                      type(exc).__name__, " ".join(ids))

    def load_model(**_: Any) -> None:
        context.init(settings)

    # prefork: each child loads its own model; solo: the one process does, before consuming.
    signals.worker_process_init.connect(load_model, weak=False)
    if settings.worker_pool == "solo":
        signals.worker_init.connect(load_model, weak=False)
    if settings.liveness_seconds:
        watch_liveness(settings)
    if settings.worker_metrics_port:
        serve_metrics(settings.worker_metrics_port)
    return celery


def serve_metrics(port: int) -> None:
    """From the main process once it is ready; children's files are retired as they exit."""
    signals.worker_ready.connect(lambda **_: metrics.serve(port), weak=False)
    signals.worker_process_shutdown.connect(
        lambda pid=None, **_: metrics.process_exited(pid or os.getpid()), weak=False)
    signals.worker_shutdown.connect(lambda **_: metrics.cleanup(), weak=False)


def watch_liveness(settings: Settings) -> Watchdog:
    broker = redis_for(settings.broker_url)
    watchdog = Watchdog(settings.liveness_seconds, lambda: queue_depth(broker, settings.queue),
                        shut_down)
    signals.task_received.connect(watchdog.received, weak=False)
    signals.worker_ready.connect(lambda **_: watchdog.start(), weak=False)
    signals.worker_shutting_down.connect(lambda **_: watchdog.halt(), weak=False)
    return watchdog
