"""Per-key rate limit and queue backpressure, both read from the broker's Redis.

Both fail open: with Redis unreachable a submission is still accepted into SQL (the sweeper
enqueues it later), because refusing work the database can hold would lose nothing but
availability.
"""

from __future__ import annotations

import logging
import time

import redis

from api.errors import ApiError, unavailable
from shared.broker import queue_depth, redis_for
from shared.config import Settings

log = logging.getLogger("cvqueue.api")
WINDOW = 60


class Limits:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.redis = redis_for(settings.broker_url)

    def check_rate(self, board_id: int) -> None:
        if self.redis is None:
            return
        window = int(time.time()) // WINDOW
        key = f"cvq:rate:{self.settings.queue}:{board_id}:{window}"
        try:
            pipe = self.redis.pipeline()
            pipe.incr(key)
            pipe.expire(key, WINDOW + 1)
            count = int(pipe.execute()[0])
        except redis.RedisError:
            return
        if count > self.settings.rate_limit_per_minute:
            error = ApiError(429, "rate_limited", f"more than {self.settings.rate_limit_per_minute}"
                             " requests a minute for this API key")
            error.headers["Retry-After"] = str(WINDOW - int(time.time()) % WINDOW)
            raise error

    def check_queue(self) -> None:
        depth = queue_depth(self.redis, self.settings.queue)
        if depth is not None and depth >= self.settings.max_queue_depth:
            log.warning("backpressure: %d messages queued", depth)
            raise unavailable(f"the queue is full ({depth} waiting); retry later",
                              self.settings.retry_after)

    def forget(self, submission_id: str) -> int:
        """Remove queued messages for an erased submission (they carry only its id)."""
        if self.redis is None:
            return 0
        removed = 0
        try:
            for raw in self.redis.lrange(self.settings.queue, 0, -1):  # type: ignore[union-attr]
                message = raw if isinstance(raw, bytes) else raw.encode()
                if submission_id.encode() in _decoded_body(message):
                    removed += int(self.redis.lrem(self.settings.queue, 0, message))  # type: ignore[arg-type]
        except redis.RedisError:
            log.warning("could not scan the queue while erasing a submission")
        return removed


def _decoded_body(raw: bytes) -> bytes:
    import base64
    import json

    try:
        return base64.b64decode(json.loads(raw)["body"])
    except (ValueError, KeyError, TypeError):
        return b""
