"""worker.batches: when the buffer goes to the pool, against a pool that records its jobs.
The real worker's side of it: tests/test_e2e.py::test_sqlite_prefork_worker."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

from shared.broker import message_ids
from worker.batches import LaneBuffer, SettlingBatches
from worker.shares import Shares

INTERACTIVE = "q.interactive"


@dataclass
class Message:
    """What celery-batches reads of a worker's request."""

    ids: list[str]
    acknowledged: bool = False
    eta: None = None
    name: str = "classify"
    delivery_info: dict[str, Any] = field(default_factory=dict)
    hostname: str = "test"
    reply_to: None = None
    correlation_id: None = None
    request_dict: dict[str, Any] = field(default_factory=dict)

    @property
    def id(self) -> str:
        return "+".join(self.ids)

    @property
    def args(self) -> tuple[list[str]]:
        return (self.ids,)

    @property
    def _payload(self) -> tuple[tuple[list[str]], dict[str, Any], dict[str, Any]]:
        return self.args, {}, {}

    def acknowledge(self) -> None:
        self.acknowledged = True


@dataclass
class Job:
    ids: list[str]
    accept: Callable[..., None]
    succeed: Callable[..., None]
    lose: Callable[..., None]


@dataclass
class RecordingPool:
    num_processes: int = 2
    jobs: list[Job] = field(default_factory=list)

    def apply_async(self, _fn: Any, args: tuple[Any, ...], accept_callback: Callable[..., None],
                    callback: Callable[..., None], error_callback: Callable[..., None]) -> None:
        ids = [sid for r in args[1][0] for sid in message_ids(r.args)]
        self.jobs.append(Job(ids, accept_callback, callback, error_callback))


@dataclass
class Clock:
    now: float = 1000.0

    def __call__(self) -> float:
        return self.now


def batches(eager: bool = True, batch_ids: int = 64
            ) -> tuple[SettlingBatches, RecordingPool, Clock]:
    task, pool, clock = SettlingBatches(), RecordingPool(), Clock()
    task.eager, task.batch_ids, task._pool = eager, batch_ids, pool
    task._buffer = LaneBuffer(INTERACTIVE)
    task.shares = Shares(clock)
    return task, pool, clock


def receive(task: SettlingBatches, *ids: str, lane: str = "bulk") -> list[Message]:
    """What the task's message handler does with each message, minus Celery's decoding:
    each argument a message, its characters the ids it carries."""
    queue = INTERACTIVE if lane == "interactive" else "q"
    messages = [Message(list(i), delivery_info={"routing_key": queue}) for i in ids]
    for message in messages:
        task._buffer.put(message)  # type: ignore[arg-type]
        task.on_buffered()
    return messages


def occupy(task: SettlingBatches, processes: int) -> list[int]:
    """Count `processes` as busy with batches of no ids (none left to share)."""
    return [task.shares.started(0) for _ in range(processes)]


def test_a_free_process_takes_a_message_at_once_and_busy_ones_let_a_batch_gather() -> None:
    task, pool, _ = batches()
    receive(task, "a", "b", "c", "d", "e")
    assert [j.ids for j in pool.jobs] == [["a"], ["b"]]  # two processes, both now busy
    pool.jobs[0].succeed(None)  # free: its half of the work left, "b" still running included
    assert [j.ids for j in pool.jobs][2:] == [["c", "d"]]
    pool.jobs[1].lose(RuntimeError("child lost"))  # a lost batch frees its process too
    assert [j.ids for j in pool.jobs][3:] == [["e"]]
    pool.jobs[2].succeed(None)
    receive(task, "f")
    assert [j.ids for j in pool.jobs][4:] == [["f"]]


def test_at_the_end_of_a_backlog_free_processes_take_equal_shares_of_the_work_left() -> None:
    task, pool, clock = batches(batch_ids=8)
    busy = occupy(task, 2)
    receive(task, *["ab"] * 12)  # 24 ids, buffered while both processes are busy
    task.shares.ended(busy[0])
    task.dispatch_if_idle()
    clock.now += 0.5
    task.shares.ended(busy[1])
    task.dispatch_if_idle()
    assert [len(j.ids) for j in pool.jobs] == [8, 8]  # a batch each while 8 more wait
    clock.now += 0.5
    pool.jobs[0].succeed(None)  # 8 ids a second; the other has 4 left: (8 + 4) / 2
    assert [len(j.ids) for j in pool.jobs][2:] == [6]
    clock.now += 0.5
    pool.jobs[1].succeed(None)  # the 6 are 4 done: (2 + 2) / 2, the last message
    assert [len(j.ids) for j in pool.jobs][3:] == [2] and task._buffer.empty()


def test_shares_estimate_the_work_left_from_the_pace() -> None:
    clock = Clock()
    shares = Shares(clock)
    first = shares.started(10)
    assert shares.left_running() == 10  # no pace yet: all of it
    clock.now += 2
    shares.ended(first)
    assert shares.pace == 5
    shares.started(10)
    clock.now += 1
    assert shares.left_running() == 5
    assert shares.share(buffered=15, processes=2, most=64) == 10
    assert shares.share(buffered=200, processes=2, most=64) == 64
    assert shares.share(buffered=0, processes=2, most=64) == 3
    clock.now += Shares.LOST_AFTER_SECONDS - 2
    assert shares.left_running() == 0 and shares.presume_lost() == 0
    clock.now += 2  # 10 ids at 5 a second should take 2 s; lost after 60 s at the least
    assert shares.presume_lost() == 1 and shares.running == {}


def test_nothing_goes_to_a_busy_pool_until_a_batch_is_presumed_lost(
        caplog: pytest.LogCaptureFixture) -> None:
    task, pool, clock = batches(batch_ids=3)
    receive(task, "a", "b", *"cdefg")
    assert [j.ids for j in pool.jobs] == [["a"], ["b"]]
    task._do_flush()  # the timer, every process busy: a queued batch would run before a
    assert len(pool.jobs) == 2 and task._buffer.qsize() == 5  # later single CV
    clock.now += Shares.LOST_AFTER_SECONDS + 1  # ends never reported: presumed lost
    task._do_flush()
    assert [j.ids for j in pool.jobs][2:] == [["c", "d", "e"], ["f", "g"]]
    assert "2 batch(es) presumed lost" in caplog.text
    pool.jobs[0].succeed(None)  # its late end counts for nothing
    assert task.running == 2 and len(pool.jobs) == 4


def test_a_free_process_takes_whole_messages_up_to_batch_ids_and_the_rest_waits() -> None:
    task, pool, _ = batches(batch_ids=4)
    receive(task, "ab", "cd", "efg", "hi", "jk")
    assert [j.ids for j in pool.jobs] == [["a", "b"], ["c", "d"]]
    pool.jobs[0].succeed(None)
    assert [j.ids for j in pool.jobs][2:] == [["e", "f", "g"]]  # "hi" would make five
    assert task._buffer.qsize() == 2  # "hi" and "jk", for the next process to finish
    pool.jobs[1].succeed(None)
    assert [j.ids for j in pool.jobs][3:] == [["h", "i", "j", "k"]]
    assert task._buffer.empty() and task.running == 2


def test_free_processes_take_a_batch_each_and_a_message_larger_than_one_goes_alone() -> None:
    task, pool, _ = batches(batch_ids=4)
    occupy(task, 2)  # both processes busy while the messages arrive
    receive(task, "abc", "def", "gh", "ijklmn")
    task.shares.running.clear()
    task.dispatch_if_idle()
    assert [j.ids for j in pool.jobs] == [["a", "b", "c"], ["d", "e", "f"]]
    assert task._buffer.qsize() == 2 and task.running == 2
    task.shares.running.clear()
    task.dispatch_if_idle()
    assert [j.ids for j in pool.jobs][2:] == [["g", "h"], list("ijklmn")]  # never split


def test_an_interactive_message_goes_ahead_of_the_buffered_bulk() -> None:
    task, pool, _ = batches(batch_ids=4)
    busy = occupy(task, 2)
    receive(task, "abcd", "efgh")
    receive(task, "x", lane="interactive")
    assert task._buffer.ids == 9  # type: ignore[attr-defined]
    task.shares.ended(busy[0])
    task.dispatch_if_idle()
    assert [j.ids for j in pool.jobs] == [["x"]]  # "x" + "abcd" would make five
    task.shares.ended(busy[1])
    task.dispatch_if_idle()
    assert [j.ids for j in pool.jobs][1:] == [list("abcd")]
    assert task._buffer.ids == 4  # type: ignore[attr-defined]


def test_not_eager_waits_for_a_buffer_of_batch_ids() -> None:
    task, pool, _ = batches(eager=False, batch_ids=6)
    receive(task, "ab", "c", "d")
    assert pool.jobs == []
    receive(task, "efgh")  # eight ids: one batch of six would split a message
    assert [j.ids for j in pool.jobs] == [["a", "b", "c", "d"], list("efgh")]


def test_messages_are_settled_when_accepted_or_lost_and_a_batch_ends_once() -> None:
    task, pool, _ = batches(eager=False, batch_ids=2)
    first = receive(task, "a", "b")
    pool.jobs[0].accept(123, 0.0)
    assert all(m.acknowledged for m in first)
    second = receive(task, "c", "d")
    pool.jobs[1].lose(RuntimeError("child lost"))
    pool.jobs[1].succeed(None)  # a second end of the same batch counts for nothing
    assert all(m.acknowledged for m in second) and task.running == 1


def test_a_batch_that_raises_in_the_pool_is_not_counted_as_running() -> None:
    task, pool, _ = batches()

    def raising(*_: Any, **__: Any) -> None:
        raise RuntimeError("the solo pool ran it inline")

    pool.apply_async = raising  # type: ignore[method-assign]
    with pytest.raises(RuntimeError):
        receive(task, "a")
    assert task.running == 0
