"""The worker's Celery app and its one batch task."""

from __future__ import annotations

from typing import Any

from celery import Celery, signals
from celery_batches import Batches, SimpleRequest

from shared.broker import CLASSIFY_TASK, make_celery
from shared.config import Settings
from worker import context


def submission_ids(requests: list[SimpleRequest]) -> list[str]:
    """The ids in a batch's messages; anything that is not one id string is dropped."""
    return [r.args[0] for r in requests
            if len(r.args) == 1 and isinstance(r.args[0], str) and len(r.args[0]) <= 64]


def create_worker_app(settings: Settings) -> Celery:
    celery = make_celery(settings)

    @celery.task(base=Batches, name=CLASSIFY_TASK, flush_every=settings.batch_size,
                 flush_interval=settings.batch_wait, acks_late=True)
    def classify(requests: list[SimpleRequest]) -> None:
        context.get(settings).processor.process(submission_ids(requests))

    def load_model(**_: Any) -> None:
        context.init(settings)

    # prefork: each child loads its own model; solo: the one process does, before consuming.
    signals.worker_process_init.connect(load_model, weak=False)
    if settings.worker_pool == "solo":
        signals.worker_init.connect(load_model, weak=False)
    return celery
