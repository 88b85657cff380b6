"""One board must not slow, block or fail another: real worker, PostgreSQL, Redis, HTTP."""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path

import pytest
from sqlalchemy import select

from models.generator import generate
from shared.client import Client
from shared.config import Settings
from shared.db import Submission, make_sessions
from shared.keys import create_key
from shared.stack import LocalStack
from tests import poison

pytestmark = [pytest.mark.e2e, pytest.mark.postgres]


def cvs(n: int, seed: int) -> list[dict[str, str]]:
    return [{"cv": r["cv"], "position": r["opening_position"]} for r in generate(n, seed)]


def test_erasing_a_cv_mid_batch_affects_only_that_cv(settings: Settings, redis_url: str,
                                                     pg_url: str, tmp_path: Path) -> None:
    s = replace(settings, broker_url=redis_url, database_url=pg_url, worker_pool="solo",
                batch_size=64, batch_wait=1.5, batch_eager=False,  # the boards share a batch
                runtime_factory=poison.FACTORY)
    with LocalStack(s, log_dir=tmp_path / "log") as stack:
        a = stack.client()
        b = Client(stack.url, create_key(make_sessions(pg_url), "board-b"))
        a.wait([a.submit(cvs(1, 1)[0])], timeout=120)  # the worker has loaded its model
        a_ids = a.submit_many([{"cv": f"Backend developer {poison.SLOW}"}, *cvs(9, 2)])
        b_ids = b.submit_many(cvs(30, 3))  # within the same micro-batch as A's
        sessions = make_sessions(pg_url)
        deadline = time.monotonic() + 60
        while True:
            with sessions() as db:
                processing = set(db.scalars(select(Submission.id).where(
                    Submission.status == "processing")))
            if set(a_ids + b_ids) <= processing:
                break
            assert time.monotonic() < deadline, "the two boards' CVs never shared a batch"
            time.sleep(0.1)
        erased = a_ids[3]
        assert a.http.delete(f"{a.base_url}/v1/submissions/{erased}").status_code == 204
        done_b = b.wait(b_ids, timeout=120)
        done_a = a.wait([i for i in a_ids if i != erased], timeout=60)
    assert [r["status"] for r in done_a + done_b] == ["done"] * 39
    assert {r["attempts"] for r in done_a + done_b} == {1}, "a batch-mate was retried"
    log = (tmp_path / "log" / "worker-1.log").read_text()
    assert "1 submission(s) erased while in the batch" in log


def test_a_flood_from_one_board_is_that_boards_429_and_others_go_on(
        settings: Settings, redis_url: str, pg_url: str, tmp_path: Path) -> None:
    s = replace(settings, broker_url=redis_url, database_url=pg_url, max_board_queue=1500,
                max_queue_depth=2400)
    with LocalStack(s, workers=0, sweepers=0, log_dir=tmp_path / "log") as stack:
        a = stack.client()
        b = Client(stack.url, create_key(make_sessions(pg_url), "board-b"))
        c = Client(stack.url, create_key(make_sessions(pg_url), "board-c"))
        batch = cvs(1000, 4)
        post = a.http.post(f"{stack.url}/v1/submissions/batch", json=batch)
        assert post.status_code == 202
        flood = a.http.post(f"{stack.url}/v1/submissions/batch", json=batch)
        assert flood.status_code == 429, "a board past its own cap"
        assert flood.json()["error"] == "board_queue_full" and flood.headers["Retry-After"]
        # Over half the queue used by A: each board now gets an equal share (2400 / 2).
        assert len(b.submit_many(cvs(900, 5))) == 900
        a_more = a.http.post(f"{stack.url}/v1/submissions/batch", json=batch[:300])
        assert a_more.status_code == 429 and a_more.json()["limit"] == 1200
        assert c.submit(cvs(1, 6)[0]), "another board's single CV is still accepted"
        # Three boards with work waiting: 800 each, and B already holds 900.
        b_more = b.http.post(f"{stack.url}/v1/submissions/batch", json=cvs(10, 7))
        assert b_more.status_code == 429 and b_more.json()["limit"] == 800
        assert c.submit(cvs(1, 8)[0]), "the board under its share goes on"
