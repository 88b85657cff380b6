"""What a piece of code sends to Redis (one send per round trip: a pipeline is one), and
what the Celery messages in its lists carry."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import redis
from redis.connection import Connection


@contextmanager
def redis_sends() -> Iterator[list[int]]:
    """Inside the block, one entry per command or pipeline sent on any Redis connection."""
    sends: list[int] = []
    real_send = Connection.send_packed_command

    def counting_send(self: Connection, command: object, check_health: bool = True) -> None:
        sends.append(1)
        real_send(self, command, check_health)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(Connection, "send_packed_command", counting_send)
        yield sends


def message_bodies(client: redis.Redis, *queues: str) -> list[list[Any]]:
    """The decoded bodies (args, kwargs, embed) of the Celery messages in these Redis lists,
    oldest first in each (kombu pushes at the head); anything else in them is skipped."""
    return [json.loads(base64.b64decode(json.loads(raw)["body"]))
            for queue in queues for raw in reversed(client.lrange(queue, 0, -1))
            if raw.startswith(b"{")]
