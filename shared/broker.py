"""The Celery app both sides share, and the enqueue call: messages carry ids, never CV text."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import redis
from celery import Celery
from kombu.exceptions import BatchPublishError
from kombu.exceptions import OperationalError as ConnectionFailed
from kombu.utils.uuid import uuid

from shared.config import Settings
from shared.db import LANES

CLASSIFY_TASK = "cvqueue.classify"
#: Ids one message carries at most. Each message costs the publisher a message to build, and
#: the worker's consumer a fetch plus kombu's unacked bookkeeping (two more Redis round
#: trips): one id a message, that was 3-5% of a worker's CPU on a backlog. More ids a
#: message share the cost; few keep a worker's prefetch (counted in messages) from holding
#: much of a backlog that other workers could take, and a message is never split between
#: two micro-batches.
MESSAGE_IDS = 8
#: The longest string taken for a submission id (ours are 32 hex digits).
MAX_ID_LENGTH = 64
#: What publishing raises when the broker is away or a batch's delivery is uncertain.
BROKER_ERRORS = (ConnectionFailed, BatchPublishError, redis.RedisError, OSError)


def make_celery(settings: Settings) -> Celery:
    app = Celery("cvqueue", broker=settings.broker_url or None, set_as_current=False)
    app.conf.update(
        task_serializer="json",
        accept_content=["json"],
        result_serializer="json",
        result_backend=None,
        task_ignore_result=True,
        task_default_queue=settings.queue,
        # Acknowledged when a pool child accepts the batch (worker/batches.py): SQL is the
        # record and the sweeper re-enqueues unfinished rows, so late acks would buy nothing
        # and cost prefetch slots held by batches lost with their child.
        task_acks_late=False,
        # celery-batches buffers prefetched messages: leave room for a batch in every
        # process plus one being gathered, or batches are capped by the prefetch limit.
        # Counted in messages, so a batch of single CVs (one id a message) fits too; of
        # bulk messages a process holds up to MESSAGE_IDS times as many ids.
        worker_prefetch_multiplier=2 * settings.batch_size,
        # "priority": every fetch asks the queues in the order the worker lists them (BRPOP
        # over both lists returns from the first that holds a message): the interactive
        # lane first, the bulk lane when it is empty (kombu's default rotates them).
        broker_transport_options={"visibility_timeout": settings.lease_seconds,
                                  "queue_order_strategy": "priority"},
        broker_connection_retry_on_startup=True,
        worker_proc_alive_timeout=120,
        worker_hijack_root_logger=False,
        worker_send_task_events=False,
        enable_utc=True,
    )
    return app


def lane_queue(queue: str, lane: str) -> str:
    """The broker queue of a lane: the bulk lane keeps the configured name."""
    return queue if lane == "bulk" else f"{queue}.{lane}"


def worker_queues(queue: str) -> list[str]:
    """What a worker consumes, in the order it asks for messages: interactive first."""
    return [lane_queue(queue, lane) for lane in LANES]


def enqueue(celery: Celery, ids: Sequence[str], queue: str, lane: str = "bulk") -> None:
    """Publish the ids, up to MESSAGE_IDS a message, all in one Redis round trip (kombu's
    publish batch: a pipeline). A failed batch raises `BatchPublishError`, delivery
    uncertain: the rows stay `queued` for the sweeper, and an id delivered twice is claimed
    once.

    Each message is what `celery.send_task` would send (tests/test_broker.py compares them),
    built and published by the two calls `send_task` makes, `amqp.create_task_message` and
    `amqp.send_task_message`: `send_task`'s routing and option merging, and the repr of the
    arguments for monitors, cost as much again, and a message with one fixed task, an
    explicit queue and no result needs neither."""
    target, amqp = lane_queue(queue, lane), celery.amqp
    with celery.producer_or_acquire() as producer, producer.batch():
        for start in range(0, len(ids), MESSAGE_IDS):
            args = [list(ids[start:start + MESSAGE_IDS])]
            message = amqp.create_task_message(
                uuid(), CLASSIFY_TASK, args, {}, ignore_result=True,
                reply_to=celery.thread_oid, argsrepr=repr(args), kwargsrepr="{}")
            amqp.send_task_message(producer, CLASSIFY_TASK, message, queue=target)


def message_ids(args: Sequence[Any]) -> list[str]:
    """The submission ids a classify message carries: `[[id, ...]]`, as `enqueue` publishes,
    or `[id]`, as it published before messages carried several. Anything else is no ids."""
    if len(args) != 1:
        return []
    ids = args[0] if isinstance(args[0], list) else [args[0]]
    return [i for i in ids if isinstance(i, str) and len(i) <= MAX_ID_LENGTH]


def redis_for(broker_url: str) -> redis.Redis | None:
    """A plain Redis client on the broker (for counters and queue length), if it is Redis."""
    if broker_url.startswith("redis+socket://"):
        return redis.Redis(unix_socket_path=broker_url.removeprefix("redis+socket://"),
                           socket_timeout=1, socket_connect_timeout=1)
    if broker_url.startswith(("redis://", "rediss://")):
        return redis.Redis.from_url(broker_url, socket_timeout=1, socket_connect_timeout=1)
    return None


def lane_depths(client: redis.Redis | None, queue: str) -> dict[str, int] | None:
    """Messages waiting in each lane's queue (kombu keeps a Redis queue as a list of that
    name), or None when the broker is not Redis or is unreachable."""
    if client is None:
        return None
    try:
        with client.pipeline(transaction=False) as pipe:
            for lane in LANES:
                pipe.llen(lane_queue(queue, lane))
            return {lane: int(n) for lane, n in zip(LANES, pipe.execute(), strict=True)}
    except redis.RedisError:
        return None


def queue_depth(client: redis.Redis | None, queue: str) -> int | None:
    """Messages waiting in both lanes, or None (see `lane_depths`)."""
    depths = lane_depths(client, queue)
    return None if depths is None else sum(depths.values())
