"""celery-batches' `Batches`, made safe for a pool child that dies mid-batch, and handing a
partial batch to an idle pool process at once.

celery-batches 0.11 hands a batch to the pool with an accept and a success callback but no
error callback. When the child running the batch is killed (a poison CV, the OOM killer) the
job ends in `WorkerLostError` and its messages are neither acknowledged nor rejected: they
keep holding prefetch slots (kombu's virtual QoS counts delivered-but-unsettled messages),
and after enough lost batches every slot is held and the worker never fetches again.

Here the messages are acknowledged when a child accepts the batch, and a batch that fails
for any reason (its child lost included) settles whatever is still unsettled. Nothing is
lost by that: a message only wakes a worker; the SQL row is the record, and the sweeper
re-enqueues rows whose claim was never completed.

celery-batches flushes a buffer when it holds `flush_every` messages or when its timer
(`flush_interval`) fires, so a CV that arrives at an idle worker waits out the timer, and so
does the last part of every burst. Here a process that is free takes whatever is buffered
the moment a message arrives or its previous batch ends: batches are as large as the backlog
(up to `flush_every`) while every process is busy, and nothing waits while one is idle. The
timer stays, as the backstop it was, and is the whole policy in the solo pool. Were a batch's
end never reported, the count would stay high and the worker would fall back to the timer's
policy for that process: slower for a lone CV, never stalled.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from typing import Any

from celery import Celery
from celery.concurrency.solo import TaskPool as SoloPool
from celery.worker.request import Request
from celery_batches import Batches, SimpleRequest, apply_batches_task


def settle(requests: Collection[Request]) -> None:
    for request in requests:
        if not request.acknowledged:
            request.acknowledge()


class SettlingBatches(Batches):
    """`Batches` whose every request is settled once its batch is accepted, run or lost,
    and whose buffer goes to the pool as soon as a pool process is free (`eager`)."""

    acks_late = False
    #: False: the upstream policy (flush when full or when the timer fires).
    eager = True
    #: Batches handed to the pool and not yet finished. Only the worker's event loop touches
    #: it: messages, the timer and the pool's callbacks all run there.
    running = 0

    def Strategy(self, task: Batches, app: Celery, consumer: Any) -> Callable[..., None]:
        buffer_message = super().Strategy(task, app, consumer)
        # The solo pool runs a batch inline, in the event loop that receives the messages:
        # it is free whenever a message arrives, and eager batches would be single CVs.
        self.eager = self.eager and not isinstance(consumer.pool, SoloPool)

        def on_message(*args: Any, **kwargs: Any) -> None:
            buffer_message(*args, **kwargs)
            self.dispatch_if_idle()

        return on_message

    def dispatch_if_idle(self) -> None:
        if self.eager and self.running < self._pool.num_processes and not self._buffer.empty():
            self._do_flush()

    def flush(self, requests: Collection[Request]) -> Any:
        requests = list(requests)
        payload = ([SimpleRequest.from_request(r) for r in requests],)
        finished = self._batch_started()

        def on_end(*_: Any) -> None:
            settle(requests)
            finished()

        try:
            return self._pool.apply_async(
                apply_batches_task, (self, payload, 0, None),
                accept_callback=lambda *_: settle(requests),
                callback=on_end, error_callback=on_end)
        except BaseException:
            finished()  # the solo pool runs the batch inline and raises what it raised
            raise

    def _batch_started(self) -> Callable[[], None]:
        """Count a batch as running; the function returned ends it (once, whichever of the
        pool's callbacks calls it) and hands a free process what has been buffered since."""
        self.running += 1
        ended = False

        def finished() -> None:
            nonlocal ended
            if not ended:
                ended = True
                self.running -= 1
                self.dispatch_if_idle()

        return finished
