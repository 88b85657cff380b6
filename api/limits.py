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
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from api.backlog import Backlogs
from api.errors import too_many, unavailable
from shared.broker import MESSAGE_IDS, queue_depth
from shared.config import Settings
from shared.db import UNFINISHED, Submission

log = logging.getLogger("cvqueue.api")
SIGN_INS_PER_15_MINUTES = 10
QUEUED = select(func.count()).where(Submission.status == "queued")


class QueuedCVs:
    """How many CVs the queue holds, as far as a comparison needs it: Redis counts messages,
    and a message carries 1 to MESSAGE_IDS ids, which settles most comparisons; only when a
    limit lies between the bounds does the database count its queued rows, once."""

    def __init__(self, session: Session, messages: int) -> None:
        self.session, self.messages = session, messages
        self.exact: int | None = None

    def at_least(self, n: int) -> bool:
        if self.messages >= n:
            return True
        if self.messages * MESSAGE_IDS < n:
            return False
        if self.exact is None:
            self.exact = int(self.session.scalar(QUEUED) or 0)
        return self.exact >= n


class Limits:
    def __init__(self, settings: Settings, broker: redis.Redis | None) -> None:
        self.settings, self.broker = settings, broker
        self.backlogs = Backlogs()
        self.window: MovingWindowRateLimiter | None = None
        if broker is not None:
            storage = RedisStorage("redis://", connection_pool=broker.connection_pool,
                                   key_prefix=f"cvq:{settings.queue}:rate", wrap_exceptions=True)
            self.window = MovingWindowRateLimiter(storage)
        self.per_board = RateLimitItemPerMinute(settings.rate_limit_per_minute)
        self.per_address = RateLimitItemPerMinute(settings.rate_limit_per_address)
        self.sign_ins = RateLimitItemPerMinute(SIGN_INS_PER_15_MINUTES, 15)

    def check_address(self, address: str) -> None:
        """A request without a valid board key (a client trying keys is limited like any
        other), and every request to the operators' and recruiters' pages."""
        self._hit(self.per_address, "address", address, what="from this address")

    def check_sign_in(self, address: str, email: str) -> None:
        """Password guessing: failed or not, sign-in attempts per e-mail and per address."""
        self._hit(self.sign_ins, "sign-in-email", email.strip().lower()[:254],
                  what="to sign in as this user")
        self._hit(self.sign_ins, "sign-in-address", address, what="to sign in from this address")

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
        per = "a minute" if item.multiples == 1 else f"in {item.multiples} minutes"
        raise too_many("rate_limited", f"more than {item.amount} requests {per} {what}",
                       max(1, math.ceil(reset - time.time())))

    def check_queue(self, session: Session, board_id: int, incoming: int) -> None:
        """Admission: each board has its share of the queue, so one board's flood answers
        that board 429 while the others go on.

        - a board holds at most `max_board_queue` unfinished submissions;
        - once the queue holds half of `max_queue_depth` CVs, at most an equal share of it
          among the boards with work waiting (this one included);
        - the queue as a whole holds at most `max_queue_depth` CVs (503 for all).
        The incoming batch counts in full against each limit."""
        limit, depth = self.settings.max_queue_depth, queue_depth(self.broker, self.settings.queue)
        queued = None if depth is None else QueuedCVs(session, depth)
        if queued is not None and queued.at_least(limit - incoming + 1):
            log.warning("backpressure: %d messages queued", depth)
            raise unavailable("the queue is full; retry later", self.settings.retry_after)
        share = self.settings.max_board_queue
        if queued is not None and queued.at_least(math.ceil(limit / 2)):
            share = min(share, limit // boards_waiting(session, board_id))
        mine = self.backlogs.waiting_unless_within(session, board_id, share - incoming)
        if mine is not None and mine + incoming > share:
            raise too_many("board_queue_full", f"this board has {mine} submission(s) waiting "
                           f"and may have at most {share} now; retry later",
                           self.settings.retry_after, waiting=mine, limit=share)


def boards_waiting(session: Session, board_id: int) -> int:
    """How many boards have unfinished submissions, this one included: only asked once the
    queue is half full, so the ordinary submit pays for its own board's bound alone."""
    boards = set(session.scalars(select(Submission.board_id).where(
        Submission.status.in_(UNFINISHED)).distinct()))
    return len(boards | {board_id})
