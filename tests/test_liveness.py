"""A worker that stops consuming while work waits exits non-zero for its supervisor."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import psutil
import pytest

from models.generator import generate
from shared.broker import MESSAGE_IDS
from shared.config import Settings
from shared.stack import LocalStack
from worker.liveness import EXIT_STALLED, Watchdog


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_watchdog_stops_only_when_work_waits_and_nothing_is_received() -> None:
    clock, depth, stops = Clock(), [0], []
    dog = Watchdog(10, lambda: depth[0], stops.append, clock)
    clock.now = 30
    assert not dog.stalled(), "an empty queue is not a stall"
    depth[0] = 5
    clock.now = 35
    assert not dog.stalled(), "the clock restarted when the queue was seen empty"
    dog.received()
    clock.now = 44
    assert not dog.stalled()
    clock.now = 46
    assert dog.stalled() and stops == [EXIT_STALLED]


def test_watchdog_ignores_an_unreachable_broker() -> None:
    clock, stops = Clock(), []
    dog = Watchdog(5, lambda: None, stops.append, clock)
    clock.now = 60
    assert not dog.stalled() and stops == []


@pytest.mark.e2e
def test_stuck_worker_exits_with_the_stalled_code(settings: Settings, redis_url: str,
                                                  tmp_path: Path) -> None:
    s = replace(settings, broker_url=redis_url, batch_size=4, worker_pool="prefork",
                worker_concurrency=1, liveness_seconds=4)
    # More messages than the prefetch (8) holds, at MESSAGE_IDS ids a message.
    items = [{"cv": r["cv"]} for r in generate(1 + 12 * MESSAGE_IDS, seed=5)]
    with LocalStack(s, sweepers=0, log_dir=tmp_path / "log") as stack:
        client = stack.client()
        client.wait([client.submit(items[0])], timeout=120)  # the child has loaded the model
        worker = stack.worker_procs[0]
        children = psutil.Process(worker.pid).children(recursive=True)
        assert children, "a prefork worker has a pool child"
        for child in children:
            child.suspend()  # a child that hangs: the prefetch fills up, then nothing moves
        client.submit_many(items[1:])
        assert worker.wait(timeout=90) == EXIT_STALLED
    log = (tmp_path / "log" / "worker-1.log").read_text()
    assert "liveness:" in log and "none received" in log
