"""celery-batches' `Batches`, made safe for a pool child that dies mid-batch.

celery-batches 0.11 hands a batch to the pool with an accept and a success callback but no
error callback. When the child running the batch is killed (a poison CV, the OOM killer) the
job ends in `WorkerLostError` and its messages are neither acknowledged nor rejected: they
keep holding prefetch slots (kombu's virtual QoS counts delivered-but-unsettled messages),
and after enough lost batches every slot is held and the worker never fetches again.

Here the messages are acknowledged when a child accepts the batch, and a batch that fails
for any reason (its child lost included) settles whatever is still unsettled. Nothing is
lost by that: a message only wakes a worker; the SQL row is the record, and the sweeper
re-enqueues rows whose claim was never completed.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from celery.worker.request import Request
from celery_batches import Batches, SimpleRequest, apply_batches_task


def settle(requests: Collection[Request]) -> None:
    for request in requests:
        if not request.acknowledged:
            request.acknowledge()


class SettlingBatches(Batches):
    """`Batches` whose every request is settled once its batch is accepted, run or lost."""

    acks_late = False

    def flush(self, requests: Collection[Request]) -> Any:
        requests = list(requests)
        payload = ([SimpleRequest.from_request(r) for r in requests],)
        return self._pool.apply_async(
            apply_batches_task, (self, payload, 0, None),
            accept_callback=lambda *_: settle(requests),
            callback=lambda *_: settle(requests),
            error_callback=lambda *_: settle(requests))
