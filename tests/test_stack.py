"""LocalStack's start order: the sweepers wait for a worker's loaded model, not forever."""

from __future__ import annotations

import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import replace

import pytest
import redis

from shared.config import Settings
from shared.stack import LocalStack
from shared.status import beat


@pytest.fixture()
def worker() -> Iterator[subprocess.Popen[bytes]]:
    """A stand-in worker process: alive, and never loading a model."""
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    yield proc
    proc.kill()
    proc.wait()


def stack_with(worker: subprocess.Popen[bytes], redis_url: str) -> LocalStack:
    settings = replace(Settings.from_env(), broker_url=redis_url,
                       queue=f"cvq-test-{uuid.uuid4().hex[:8]}")
    stack = LocalStack(settings)
    stack.worker_procs.append(worker)
    return stack


def waited(stack: LocalStack, timeout: float) -> float:
    started = time.monotonic()
    stack._await_a_loaded_worker(timeout)
    return time.monotonic() - started


def test_a_worker_that_never_loads_delays_the_sweepers_only_until_the_timeout(
        worker: subprocess.Popen[bytes], redis_url: str) -> None:
    assert 0.5 <= waited(stack_with(worker, redis_url), timeout=0.5) < 3


def test_the_first_heartbeat_ends_the_wait(worker: subprocess.Popen[bytes],
                                           redis_url: str) -> None:
    stack = stack_with(worker, redis_url)
    beat(redis.Redis.from_url(redis_url), stack.settings.queue, "host:1", {})
    assert waited(stack, timeout=30) < 1


def test_a_worker_that_exits_ends_the_wait(worker: subprocess.Popen[bytes],
                                           redis_url: str) -> None:
    worker.kill()
    worker.wait()
    assert waited(stack_with(worker, redis_url), timeout=30) < 1
