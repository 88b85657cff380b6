"""Rate limits (moving window, counted in the broker's Redis so every API process shares
them) and queue backpressure.

Both fail open: with Redis unreachable a submission is still accepted into SQL (the sweeper
enqueues it later), because refusing work the database can hold would lose nothing but
availability.
"""

from __future__ import annotations

import logging
import math
import time

import redis
from limits import RateLimitItem, RateLimitItemPerMinute
from limits.errors import StorageError
from limits.storage import RedisStorage
from limits.strategies import MovingWindowRateLimiter

from api.errors import ApiError, unavailable
from shared.broker import queue_depth
from shared.config import Settings

log = logging.getLogger("cvqueue.api")


class Limits:
    def __init__(self, settings: Settings, broker: redis.Redis | None) -> None:
        self.settings, self.broker = settings, broker
        self.window: MovingWindowRateLimiter | None = None
        if broker is not None:
            storage = RedisStorage("redis://", connection_pool=broker.connection_pool,
                                   key_prefix=f"cvq:{settings.queue}:rate", wrap_exceptions=True)
            self.window = MovingWindowRateLimiter(storage)
        self.per_board = RateLimitItemPerMinute(settings.rate_limit_per_minute)
        self.per_address = RateLimitItemPerMinute(settings.rate_limit_per_address)

    def check_address(self, address: str) -> None:
        """Before authentication: a client sending bad keys is limited like any other."""
        self._hit(self.per_address, "address", address, what="from this address")

    def check_board(self, board_id: int) -> None:
        self._hit(self.per_board, "board", str(board_id), what="for this API key")

    def _hit(self, item: RateLimitItem, *identifiers: str, what: str) -> None:
        if self.window is None:
            return
        try:
            if self.window.hit(item, *identifiers):
                return
            reset = self.window.get_window_stats(item, *identifiers).reset_time
        except (StorageError, redis.RedisError):
            return
        error = ApiError(429, "rate_limited", f"more than {item.amount} requests a minute {what}")
        error.headers["Retry-After"] = str(max(1, math.ceil(reset - time.time())))
        raise error

    def check_queue(self) -> None:
        depth = queue_depth(self.broker, self.settings.queue)
        if depth is not None and depth >= self.settings.max_queue_depth:
            log.warning("backpressure: %d messages queued", depth)
            raise unavailable(f"the queue is full ({depth} waiting); retry later",
                              self.settings.retry_after)
