"""worker.batches: when the buffer goes to the pool, against a pool that records its jobs.
The real worker's side of it: tests/test_e2e.py::test_sqlite_prefork_worker."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

from worker.batches import SettlingBatches


@dataclass
class Message:
    """What celery-batches reads of a worker's request."""

    id: str
    acknowledged: bool = False
    eta: None = None
    name: str = "classify"
    delivery_info: dict[str, Any] = field(default_factory=dict)
    hostname: str = "test"
    reply_to: None = None
    correlation_id: None = None
    request_dict: dict[str, Any] = field(default_factory=dict)

    @property
    def _payload(self) -> tuple[tuple[str], dict[str, Any], dict[str, Any]]:
        return (self.id,), {}, {}

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
        ids = [r.args[0] for r in args[1][0]]
        self.jobs.append(Job(ids, accept_callback, callback, error_callback))


def batches(eager: bool = True, flush_every: int = 4) -> tuple[SettlingBatches, RecordingPool]:
    task, pool = SettlingBatches(), RecordingPool()
    task.eager, task.flush_every, task._pool = eager, flush_every, pool
    return task, pool


def receive(task: SettlingBatches, *ids: str) -> list[Message]:
    """What the task's message handler does with each message, minus Celery's decoding."""
    messages = [Message(i) for i in ids]
    for message in messages:
        task._buffer.put(message)  # type: ignore[arg-type]
        if task._buffer.qsize() >= task.flush_every:
            task._do_flush()
        task.dispatch_if_idle()
    return messages


def test_a_free_process_takes_a_message_at_once_and_busy_ones_let_a_batch_gather() -> None:
    task, pool = batches()
    receive(task, "a", "b", "c", "d", "e")
    assert [j.ids for j in pool.jobs] == [["a"], ["b"]]  # two processes, both now busy
    pool.jobs[0].succeed(None)  # a process is free: it takes all that gathered meanwhile
    assert [j.ids for j in pool.jobs][2:] == [["c", "d", "e"]]
    pool.jobs[1].lose(RuntimeError("child lost"))  # a lost batch frees its process too
    receive(task, "f")
    assert [j.ids for j in pool.jobs][3:] == [["f"]]


def test_while_every_process_is_busy_a_full_buffer_still_goes_to_the_pool() -> None:
    task, pool = batches(flush_every=3)
    receive(task, "a", "b", *"cdefg")
    assert [j.ids for j in pool.jobs] == [["a"], ["b"], ["c", "d", "e"]]
    assert task._buffer.qsize() == 2 and task.running == 3


def test_not_eager_waits_for_a_full_buffer() -> None:
    task, pool = batches(eager=False)
    receive(task, "a", "b", "c")
    assert pool.jobs == []
    receive(task, "d")
    assert [j.ids for j in pool.jobs] == [["a", "b", "c", "d"]]


def test_messages_are_settled_when_accepted_or_lost_and_a_batch_ends_once() -> None:
    task, pool = batches(flush_every=2)
    task.eager = False
    first = receive(task, "a", "b")
    pool.jobs[0].accept(123, 0.0)
    assert all(m.acknowledged for m in first)
    second = receive(task, "c", "d")
    pool.jobs[1].lose(RuntimeError("child lost"))
    pool.jobs[1].succeed(None)  # a second end of the same batch counts for nothing
    assert all(m.acknowledged for m in second) and task.running == 1


def test_a_batch_that_raises_in_the_pool_is_not_counted_as_running() -> None:
    task, pool = batches()

    def raising(*_: Any, **__: Any) -> None:
        raise RuntimeError("the solo pool ran it inline")

    pool.apply_async = raising  # type: ignore[method-assign]
    with pytest.raises(RuntimeError):
        receive(task, "a")
    assert task.running == 0
