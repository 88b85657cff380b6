"""shared/broker.py on a real Redis: what an enqueue puts on the wire and in the queue."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
import redis

from shared.broker import (
    BROKER_ERRORS,
    CLASSIFY_TASK,
    MESSAGE_IDS,
    enqueue,
    lane_queue,
    make_celery,
    message_ids,
)
from shared.config import Settings
from tests.redis_wire import message_bodies, redis_sends


def test_a_batch_of_ids_is_one_round_trip_of_id_only_messages(
        settings: Settings, redis_url: str) -> None:
    celery = make_celery(replace(settings, broker_url=redis_url))
    ids = [f"{i:032x}" for i in range(3 * MESSAGE_IDS + 2)]
    enqueue(celery, ids[:1], settings.queue)  # the producer's connection, once
    with redis_sends() as sends:
        enqueue(celery, ids[1:], settings.queue)
    assert len(sends) == 1, f"{len(sends)} round trips for {len(ids) - 1} ids"

    client = redis.Redis.from_url(redis_url)
    bodies = message_bodies(client, lane_queue(settings.queue, "bulk"))
    client.delete(lane_queue(settings.queue, "bulk"))
    chunks = [ids[1:][i:i + MESSAGE_IDS] for i in range(0, len(ids) - 1, MESSAGE_IDS)]
    assert [b[0] for b in bodies] == [[ids[:1]], *([chunk] for chunk in chunks)]  # in order
    assert [len(c) for c in chunks] == [MESSAGE_IDS] * 3 + [1]
    assert all(b[1] == {} for b in bodies)  # no kwargs: nothing but the ids travel


def test_a_message_carries_ids_in_either_format_and_nothing_else() -> None:
    sid = "a" * 32
    assert message_ids([[sid, "b" * 32]]) == [sid, "b" * 32]
    assert message_ids([sid]) == [sid]  # as published before messages carried several
    assert message_ids([[sid, 7, None, "x" * 65, ["nested"]]]) == [sid]
    assert message_ids([]) == message_ids([sid, sid]) == message_ids([{"id": sid}]) == []


def test_an_enqueued_message_is_the_one_celery_send_task_sends(
        settings: Settings, redis_url: str) -> None:
    """`enqueue` builds its messages with the calls `send_task` makes, minus its routing:
    the worker must see the same message, but for the task's own ids."""
    celery = make_celery(replace(settings, broker_url=redis_url))
    target, sid = lane_queue(settings.queue, "bulk"), "a" * 32
    enqueue(celery, [sid], settings.queue)
    celery.send_task(CLASSIFY_TASK, args=[[sid]], queue=target, ignore_result=True)
    client = redis.Redis.from_url(redis_url)
    ours, celerys = (json.loads(m) for m in reversed(client.lrange(target, 0, -1)))
    client.delete(target)
    for message in (ours, celerys):
        assert message["headers"].pop("id") == message["headers"].pop("root_id")
        assert message["headers"]["argsrepr"] == f"[['{sid}']]"
        del message["properties"]["correlation_id"], message["properties"]["delivery_tag"]
    assert ours == celerys


def test_an_unreachable_broker_raises_what_callers_catch(settings: Settings) -> None:
    """The API and the sweeper catch BROKER_ERRORS and leave the rows `queued` in SQL."""
    celery = make_celery(replace(settings, broker_url="redis://127.0.0.1:1/0"))
    celery.conf.broker_connection_max_retries = 1
    with pytest.raises(BROKER_ERRORS):
        enqueue(celery, ["0" * 32, "1" * 32], settings.queue)
