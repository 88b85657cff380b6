"""The bench's split of the cores: who is pinned where, and that every affinity comes back."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator

import psutil
import pytest

from shared.stack import wait_until
from tests.cores import pinned, split

needs_two = pytest.mark.skipif(
    (psutil.cpu_count() or 1) < 2 or not hasattr(os, "sched_setaffinity"),
    reason="needs Linux and 2 or more CPUs")
#: A process with a thread and a child of its own, as the API has its request threads and a
#: worker its pool.
PARENT_AND_CHILD = ("import subprocess, sys, threading, time; "
                    "threading.Thread(target=time.sleep, args=(60,), daemon=True).start(); "
                    "subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)']); "
                    "time.sleep(60)")


def affinities(process: psutil.Process) -> list[list[int]]:
    """Each thread's CPUs."""
    return [sorted(os.sched_getaffinity(t.id)) for t in process.threads()]


def test_the_worker_takes_the_last_cpu_and_the_rest_the_others() -> None:
    assert split(2) == ({1}, {0})
    assert split(4) == ({3}, {0, 1, 2})


@pytest.fixture
def tree_of_two() -> Iterator[psutil.Process]:
    proc = subprocess.Popen([sys.executable, "-c", PARENT_AND_CHILD])
    process = psutil.Process(proc.pid)
    try:
        assert wait_until(lambda: bool(process.children()) and process.num_threads() == 2, 5,
                          [proc], interval=0.05), "not started"
        yield process
    finally:
        for p in [*process.children(recursive=True), process]:
            p.kill()
        proc.wait()


@needs_two
def test_pinned_puts_each_tree_on_its_cpus_and_restores_them(
        tree_of_two: psutil.Process) -> None:
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        everything = sorted(os.sched_getaffinity(0))
        with pinned(tree_of_two.pid, [other.pid], {1}, {0}):
            assert affinities(tree_of_two) == [[1], [1]]  # its thread too
            assert tree_of_two.children()[0].cpu_affinity() == [1]
            assert psutil.Process(other.pid).cpu_affinity() == [0]
            assert sorted(os.sched_getaffinity(0)) == [0]  # this process: a client
        assert affinities(tree_of_two) == [everything, everything]
        assert tree_of_two.children()[0].cpu_affinity() == everything
        assert psutil.Process(other.pid).cpu_affinity() == everything
        assert sorted(os.sched_getaffinity(0)) == everything
    finally:
        other.kill()
        other.wait()


@needs_two
def test_affinities_come_back_when_the_block_fails(tree_of_two: psutil.Process) -> None:
    everything = sorted(os.sched_getaffinity(0))
    with pytest.raises(RuntimeError), pinned(tree_of_two.pid, [], {1}, {0}):
        raise RuntimeError("the bench failed midway")
    assert tree_of_two.cpu_affinity() == everything
    assert sorted(os.sched_getaffinity(0)) == everything
