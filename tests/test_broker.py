"""shared/broker.py on a real Redis: what an enqueue puts on the wire and in the queue."""

from __future__ import annotations

import base64
import json
from dataclasses import replace

import pytest
import redis

from shared.broker import BROKER_ERRORS, CLASSIFY_TASK, enqueue, lane_queue, make_celery
from shared.config import Settings
from tests.redis_wire import redis_sends


def test_a_batch_of_ids_is_one_round_trip_of_id_only_messages(
        settings: Settings, redis_url: str) -> None:
    celery = make_celery(replace(settings, broker_url=redis_url))
    ids = [f"{i:032x}" for i in range(50)]
    enqueue(celery, ids[:1], settings.queue)  # the producer's connection, once
    with redis_sends() as sends:
        enqueue(celery, ids[1:], settings.queue)
    assert len(sends) == 1, f"{len(sends)} round trips for {len(ids) - 1} messages"

    client = redis.Redis.from_url(redis_url)
    raw = client.lrange(lane_queue(settings.queue, "bulk"), 0, -1)
    client.delete(lane_queue(settings.queue, "bulk"))
    bodies = [json.loads(base64.b64decode(json.loads(m)["body"])) for m in reversed(raw)]
    assert [b[0] for b in bodies] == [[sid] for sid in ids]  # in order, each its own id
    assert all(b[1] == {} for b in bodies)  # no kwargs: nothing but the id travels


def test_an_enqueued_message_is_the_one_celery_send_task_sends(
        settings: Settings, redis_url: str) -> None:
    """`enqueue` builds its messages with the calls `send_task` makes, minus its routing:
    the worker must see the same message, but for the task's own ids."""
    celery = make_celery(replace(settings, broker_url=redis_url))
    target, sid = lane_queue(settings.queue, "bulk"), "a" * 32
    enqueue(celery, [sid], settings.queue)
    celery.send_task(CLASSIFY_TASK, args=[sid], queue=target, ignore_result=True)
    client = redis.Redis.from_url(redis_url)
    ours, celerys = (json.loads(m) for m in reversed(client.lrange(target, 0, -1)))
    client.delete(target)
    for message in (ours, celerys):
        assert message["headers"].pop("id") == message["headers"].pop("root_id")
        assert message["headers"]["argsrepr"] == f"['{sid}']"
        del message["properties"]["correlation_id"], message["properties"]["delivery_tag"]
    assert ours == celerys


def test_an_unreachable_broker_raises_what_callers_catch(settings: Settings) -> None:
    """The API and the sweeper catch BROKER_ERRORS and leave the rows `queued` in SQL."""
    celery = make_celery(replace(settings, broker_url="redis://127.0.0.1:1/0"))
    celery.conf.broker_connection_max_retries = 1
    with pytest.raises(BROKER_ERRORS):
        enqueue(celery, ["0" * 32, "1" * 32], settings.queue)
