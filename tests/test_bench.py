"""The bench's arithmetic: what a burst's ratio could reach with the CPU it used."""

from __future__ import annotations

import pytest

from tests.bench import cpu_ceiling


def test_the_ceiling_counts_everything_but_the_worker_against_the_encode() -> None:
    # 1,200 CVs at 200 CVs/s hold 2 cores for 6 s: 12 CPU-seconds the encode needs.
    cpu = {"api": 2.2, "worker": 13.5, "bench client": 0.5, "redis-server": 0.3}
    ceiling, needed, others = cpu_ceiling(cpu, n=1200, yardstick=200.0, cores=2)
    assert needed == pytest.approx(12.0)
    assert others == pytest.approx(3.0)  # the worker's own 13.5 is not a cost beside it
    assert ceiling == pytest.approx(12.0 / 15.0)


def test_nothing_besides_the_worker_leaves_the_whole_machine_to_the_encode() -> None:
    assert cpu_ceiling({"worker": 9.0}, n=100, yardstick=50.0, cores=4)[0] == 1.0
