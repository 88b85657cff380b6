"""Priority lanes with a real worker on real Redis: a single CV submitted behind 5,000 bulk
CVs is done within a few micro-batches, not after the backlog (then the backlog is
cancelled, which the test also relies on)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from shared.config import Settings
from shared.stack import LocalStack
from tests.lanes import interactive_behind_bulk

pytestmark = pytest.mark.e2e


def test_a_single_cv_overtakes_a_bulk_backlog(settings: Settings, redis_url: str,
                                              tmp_path: Path) -> None:
    s = replace(settings, broker_url=redis_url, worker_pool="solo", batch_size=32,
                max_board_queue=10_000)
    with LocalStack(s, log_dir=tmp_path / "log") as stack:
        figure = interactive_behind_bulk(stack, 5000)
    print(figure.line(s.batch_size))
    # Its prefetch holds up to 64 bulk messages (512 CVs), but the buffer hands the single
    # CV out first, and nothing is queued in a busy pool: only the batches already running
    # go ahead of it.
    assert figure.bulk_done_meanwhile <= 6 * s.batch_size, figure
