"""The bench's split of the cores: the worker on a core of its own, the API, its servers and
the clients on the others, as when workers scale out onto machines of their own.

Processes are pinned only once their model is loaded: onnxruntime imported by a process
confined to one CPU ran the int8 encoder about 19% slower here for as long as the process
lived, and pinned after the import it ran at its ordinary speed (docs/performance.md)."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable, Iterator

import psutil


def split(cores: int) -> tuple[set[int], set[int]]:
    """(the worker's CPUs, everyone else's): the last CPU, and the ones before it."""
    return {cores - 1}, set(range(cores - 1))


def tree(pid: int) -> list[psutil.Process]:
    """The process and its descendants; none once it has exited."""
    try:
        process = psutil.Process(pid)
        return [process, *process.children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


def pin(processes: Iterable[psutil.Process], cpus: set[int]) -> None:
    """Every thread of each process: an affinity is a thread's own (psutil's `cpu_affinity`
    sets the main thread's alone, and the API's request threads kept both CPUs)."""
    for process in processes:
        with contextlib.suppress(psutil.NoSuchProcess):
            for thread in process.threads():
                with contextlib.suppress(ProcessLookupError):  # a thread that has ended
                    os.sched_setaffinity(thread.id, cpus)


@contextlib.contextmanager
def pinned(worker: int, others: Iterable[int], worker_cpus: set[int],
           other_cpus: set[int]) -> Iterator[None]:
    """The `worker` process tree on `worker_cpus`; the trees of `others`, and this process
    (without its children: the worker may be one), on `other_cpus`, for the block. Every
    affinity changed is put back afterwards (a database server's too, with the backends it
    forked meanwhile, which inherited the pinned one)."""
    me = psutil.Process()
    roots = [psutil.Process(pid) for pid in others]
    before = {p.pid: p.cpu_affinity() for p in [*roots, me]}
    before[worker] = psutil.Process(worker).cpu_affinity()
    try:
        for root in roots:
            pin(tree(root.pid), other_cpus)
        pin([me], other_cpus)
        pin(tree(worker), worker_cpus)  # last: it may belong to a tree above
        yield
    finally:
        for root in roots:
            pin(tree(root.pid), set(before[root.pid]))
        pin([me], set(before[me.pid]))
        pin(tree(worker), set(before[worker]))
