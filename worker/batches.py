"""celery-batches' `Batches`, made safe for a pool child that dies mid-batch, handing a
partial batch to an idle pool process at once, and cutting batches by ids, not messages.

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
does the last part of every burst. Here a process that is free takes its share of what is
buffered (`worker.shares`) the moment a message arrives or its previous batch ends: batches
are as large as the backlog (up to `batch_ids`) while every process is busy, shares shrink
at the end of a backlog so that the processes finish together, and nothing waits while one
is idle. Nothing is handed to a pool whose processes are all busy: a batch queued in the
pool would run before a single CV that arrives after it. The timer stays, as the backstop
it was, and is the whole policy in the solo pool. A batch whose end is never reported is
presumed lost after a while (`Shares.presume_lost`), and its process counted free again.

A message carries up to `MESSAGE_IDS` ids (shared/broker.py) and celery-batches counts
messages, so here the buffer counts ids (`LaneBuffer`) and is cut into micro-batches of at
most `batch_ids` (a message is never split). Free processes take one each and the rest stays
buffered for the next process to finish; while every process is busy the buffer grows,
and the timer policy flushes once the buffer holds a batch.
The buffer hands out the interactive lane's messages first: the worker fetches that lane
first, but a single CV fetched behind a buffer of bulk messages would otherwise wait for
all of them.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable, Collection, Sequence
from queue import Queue
from typing import Any

from celery import Celery
from celery.concurrency.solo import TaskPool as SoloPool
from celery.worker.request import Request
from celery_batches import Batches, SimpleRequest, apply_batches_task

from shared.broker import message_ids
from worker.shares import Shares

log = logging.getLogger("cvqueue.worker")


def split(requests: Sequence[Request], batch_ids: int) -> list[list[Request]]:
    """Consecutive runs of messages holding at most `batch_ids` ids each, or a single
    message that alone holds more."""
    runs: list[list[Request]] = [[]]
    held = 0
    for request in requests:
        size = ids_in(request)
        if runs[-1] and held + size > batch_ids:
            runs.append([])
            held = 0
        runs[-1].append(request)
        held += size
    return runs if runs[0] else []


def ids_in(request: Request) -> int:
    return len(message_ids(request.args))


class LaneBuffer(Queue[Request]):
    """celery-batches' buffer: the interactive lane's messages come out first, and it
    counts the ids its messages hold (`ids`). Only the worker's event loop touches it."""

    def __init__(self, interactive_queue: str) -> None:
        self.interactive_queue = interactive_queue
        super().__init__()

    def _init(self, maxsize: int) -> None:
        self.first: deque[Request] = deque()
        self.rest: deque[Request] = deque()
        self.ids = 0

    def _qsize(self) -> int:
        return len(self.first) + len(self.rest)

    def _put(self, item: Request) -> None:
        interactive = item.delivery_info.get("routing_key") == self.interactive_queue
        (self.first if interactive else self.rest).append(item)
        self.ids += ids_in(item)

    def _get(self) -> Request:
        item = (self.first or self.rest).popleft()
        self.ids -= ids_in(item)
        return item


def settle(requests: Collection[Request]) -> None:
    for request in requests:
        if not request.acknowledged:
            request.acknowledge()


class SettlingBatches(Batches):
    """`Batches` whose every request is settled once its batch is accepted, run or lost,
    and whose buffer goes to the pool as soon as a pool process is free (`eager`)."""

    acks_late = False
    #: The most ids a micro-batch holds (the worker sets its `batch_size`).
    batch_ids = 64
    #: The interactive lane's queue, whose messages the buffer hands out first.
    interactive_queue = ""
    #: celery-batches' own trigger, by messages: off, the buffer's ids trigger instead.
    flush_every = 2**62
    #: False: the upstream policy (flush when full or when the timer fires).
    eager = True

    def __init__(self) -> None:
        super().__init__()
        self.shares = Shares()

    @property
    def running(self) -> int:
        """Batches handed to the pool and not yet finished (nor presumed lost)."""
        return len(self.shares.running)

    def Strategy(self, task: Batches, app: Celery, consumer: Any) -> Callable[..., None]:
        self._buffer = LaneBuffer(self.interactive_queue)
        buffer_message = super().Strategy(task, app, consumer)
        # The solo pool runs a batch inline, in the event loop that receives the messages:
        # it is free whenever a message arrives, and eager batches would be single CVs.
        self.eager = self.eager and not isinstance(consumer.pool, SoloPool)

        def on_message(*args: Any, **kwargs: Any) -> None:
            buffer_message(*args, **kwargs)
            self.on_buffered()

        return on_message

    def on_buffered(self) -> None:
        """After each message: to a free process at once (`eager`), or to the pool once the
        buffer holds a batch's worth."""
        if not self.eager and self._buffer.ids >= self.batch_ids:  # type: ignore[attr-defined]
            self._do_flush()
        self.dispatch_if_idle()

    def dispatch_if_idle(self) -> None:
        if self.eager and self.running < self._pool.num_processes and not self._buffer.empty():
            self._do_flush()

    def flush(self, requests: Collection[Request]) -> None:
        """Eager: a batch of its share to each free process, the rest back in the buffer.
        Otherwise every batch of `batch_ids` to the pool."""
        requests = list(requests)
        if not self.eager:
            for batch in split(requests, self.batch_ids):
                self.dispatch(batch)
            return
        lost = self.shares.presume_lost()
        if lost:
            log.warning("%d batch(es) presumed lost: the pool reported no end in %d times "
                        "their expected time (%.0f s at the least); their processes are "
                        "counted free again", lost, Shares.LOST_AFTER, Shares.LOST_AFTER_SECONDS)
        processes = self._pool.num_processes
        share = self.shares.share(sum(ids_in(r) for r in requests), processes, self.batch_ids)
        batches = split(requests, share)
        free = max(0, processes - self.running)
        for request in (r for batch in batches[free:] for r in batch):
            self._buffer.put(request)
        for batch in batches[:free]:
            self.dispatch(batch)

    def dispatch(self, requests: list[Request]) -> Any:
        payload = ([SimpleRequest.from_request(r) for r in requests],)
        finished = self._batch_started(sum(ids_in(r) for r in requests))

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

    def _batch_started(self, ids: int) -> Callable[[], None]:
        """Count a batch of `ids` as running; the function returned ends it (once, whichever
        of the pool's callbacks calls it) and hands a free process what has been buffered
        since."""
        token = self.shares.started(ids)

        def finished() -> None:
            self.shares.ended(token)
            self.dispatch_if_idle()

        return finished
