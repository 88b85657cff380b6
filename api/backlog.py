"""A board's unfinished submissions, as a submit's admission asks about them: bounded from
one index lookup, counted only near the board's share.

Counting them scans the (status, board_id) index over the whole backlog: on a 2-core AVX2
machine 0.35 ms a submit at 1,000 waiting and 1.3 ms at 10,000 on SQLite, 1.6 and 4.6 ms on
PostgreSQL, so a board's submits slowed as its backlog grew, just when the queue was
busiest. Instead each API process keeps, per board, its last exact count beside the
highest `seq` in the table when it was taken. Later the board holds at most that count
plus every row inserted since, of any board, which is the highest `seq` now minus then:
rows only enter the table with a higher `seq`, and only ever leave the unfinished states.
Only when that bound leaves no room for the incoming rows, or is older than `FRESH_FOR`,
does the submit count exactly, as it did before.

Exact as the count was, not more: a count misses the rows of transactions still in flight
(two concurrent submits each pass the check before the other commits, with or without the
bound), and a bound built on it misses them until it is retaken; so it does rows that
reuse a `seq` on SQLite (without AUTOINCREMENT, erasing the newest rows frees theirs).
`FRESH_FOR` caps both.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

from sqlalchemy import bindparam, func, select
from sqlalchemy.orm import Session

from shared.db import UNFINISHED, Submission

#: Seconds an exact count may stand behind a bound before it is taken again.
FRESH_FOR = 2.0
#: Built once, as every submit asks one of them (see `shared.keys.ACTIVE_BY_HASH`).
TOP_SEQ = select(func.max(Submission.seq))
WAITING_AND_TOP = select(
    select(func.count()).where(Submission.status.in_(UNFINISHED),
                               Submission.board_id == bindparam("board")).scalar_subquery(),
    TOP_SEQ.scalar_subquery())


@dataclass(frozen=True)
class Counted:
    waiting: int
    top_seq: int
    at: float


class Backlogs:
    """Per board, the last exact count of its unfinished submissions (thread-safe)."""

    def __init__(self, fresh_for: float = FRESH_FOR) -> None:
        self.fresh_for = fresh_for
        self._counted: dict[int, Counted] = {}
        self._lock = threading.Lock()

    def waiting_unless_within(self, session: Session, board_id: int, room: int) -> int | None:
        """None when the bound shows the board holds at most `room` unfinished submissions;
        otherwise their exact count."""
        with self._lock:
            last = self._counted.get(board_id)
        if last is not None and time.monotonic() - last.at < self.fresh_for:
            top = session.connection().scalar(TOP_SEQ) or 0
            if last.waiting + max(0, top - last.top_seq) <= room:
                return None
        return self.count(session, board_id)

    def count(self, session: Session, board_id: int) -> int:
        taken = time.monotonic()
        waiting, top = session.connection().execute(WAITING_AND_TOP, {"board": board_id}).one()
        with self._lock:
            self._counted[board_id] = Counted(int(waiting or 0), int(top or 0), taken)
        return int(waiting or 0)
