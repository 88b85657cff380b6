"""The batches running in a worker's pool, and how many of the ids the worker holds a free
process takes: an equal share of the work left, so that at the end of a backlog the
processes finish together.

Taking a whole batch whenever the buffer holds one leaves the last batch of a burst to one
process while the others wait: on a drain of 1,200 CVs (two processes, batches of 64), one
core stood idle for 1.2 of its 17.8 s. The work left is what is buffered plus what the
running batches have still to do, estimated from how fast batches went so far. A backlog
larger than a batch per process is unaffected: every share is a full batch.

A batch whose end the pool never reports would hold its process's place forever: one that
has run `LOST_AFTER` times as long as its ids should take at the pace (and at least
`LOST_AFTER_SECONDS`) is presumed lost, and its place freed.
"""

from __future__ import annotations

import itertools
import math
import time
from collections.abc import Callable


class Shares:
    """Only the worker's event loop touches it: messages, the timer and the pool's
    callbacks all run there."""

    #: Weight of the latest batch in the pace (ids a second, per process).
    SMOOTHING = 0.5
    LOST_AFTER = 10
    LOST_AFTER_SECONDS = 60.0

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        #: token -> (when it started, its ids)
        self.running: dict[int, tuple[float, int]] = {}
        self.pace = 0.0
        self._tokens = itertools.count()

    def started(self, ids: int) -> int:
        token = next(self._tokens)
        self.running[token] = (self.clock(), ids)
        return token

    def ended(self, token: int) -> None:
        """A batch's end; a second end, or the end of a batch presumed lost, is ignored."""
        if token not in self.running:
            return
        began, ids = self.running.pop(token)
        seconds = self.clock() - began
        if seconds > 0 and ids:
            pace = ids / seconds
            self.pace = pace if not self.pace else (
                self.SMOOTHING * pace + (1 - self.SMOOTHING) * self.pace)

    def presume_lost(self) -> int:
        """Forget the batches that ran far longer than their ids should; how many."""
        now = self.clock()
        lost = [token for token, (began, ids) in self.running.items()
                if now - began > max(self.LOST_AFTER_SECONDS,
                                     self.LOST_AFTER * ids / self.pace if self.pace else 0)]
        for token in lost:
            del self.running[token]
        return len(lost)

    def left_running(self) -> float:
        """Ids the running batches have still to do: all of them until a batch has ended
        (no pace yet), none for a batch that has run longer than its ids take at the pace."""
        now = self.clock()
        if not self.pace:
            return float(sum(ids for _, ids in self.running.values()))
        return sum(max(0.0, ids - (now - began) * self.pace)
                   for began, ids in self.running.values())

    def share(self, buffered: int, processes: int, most: int) -> int:
        """A free process's ids: an equal share of the work left, at least one, at most
        `most` (a batch)."""
        left = buffered + self.left_running()
        return max(1, min(most, math.ceil(left / max(processes, 1))))
