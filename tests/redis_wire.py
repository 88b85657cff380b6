"""What a piece of code sends to Redis: one send per round trip (a pipeline is one)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest
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
