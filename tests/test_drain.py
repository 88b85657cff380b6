"""The bench's worker-alone figure (tests/drain.py) with a real worker on real Redis: every
CV of the backlog was queued before the worker claimed any, and each is timed, none lost."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from sqlalchemy import func, select

from models.generator import generate
from shared.config import Settings
from shared.db import Submission, make_sessions
from shared.stack import free_port
from tests.bench import stage_sums
from tests.drain import backlog_drain

pytestmark = pytest.mark.e2e


def test_the_worker_drains_a_backlog_queued_before_it_started(
        settings: Settings, redis_url: str, tmp_path: Path) -> None:
    s = replace(settings, broker_url=redis_url, batch_size=16, worker_metrics_port=free_port())
    items = [{"cv": r["cv"], "position": r["opening_position"]}
             for r in generate(40, seed=5)]
    url = f"http://127.0.0.1:{s.worker_metrics_port}/metrics"
    figure = backlog_drain(s, items, tmp_path / "log", stages=lambda: stage_sums(url))
    print("\n".join(figure.lines(100.0, 50.0)))
    with make_sessions(s.database_url)() as session:
        statuses = dict(session.execute(select(Submission.status, func.count())
                                        .group_by(Submission.status)).all())
        last_queued, first_claim = session.execute(select(func.max(Submission.created_at),
                                                          func.min(Submission.started_at))).one()
    assert statuses == {"done": 40}
    assert first_claim > last_queued  # the whole backlog was in place first
    assert figure.cvs == 40 and figure.seconds > 0
    assert 40 / 16 < figure.batches < 40  # micro-batches, not one CV each
    # The worker's metrics saw the drain's batches, each through every stage.
    assert {stage: n for stage, (_, n) in figure.stages.items()} == {
        "queued": 40, **dict.fromkeys(("claim", "encode", "classify_topk", "explain", "store"),
                                      figure.batches)}
