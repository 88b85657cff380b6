"""End to end: real HTTP, real Celery worker processes, real Redis, SQLite and PostgreSQL,
the real MiniLM model on the small trained artifact set."""

from __future__ import annotations

import os
import time
from collections import Counter
from dataclasses import replace
from pathlib import Path
from typing import Any

import psutil
import pytest
from sqlalchemy import func, select

from models.generator import generate
from shared.broker import redis_for
from shared.client import Client
from shared.config import Settings
from shared.db import Neighbour, Result, Submission, make_sessions
from shared.stack import LocalStack
from shared.status import workers_alive
from tests.test_priority import realtime_allowed

pytestmark = pytest.mark.e2e


def items(n: int, seed: int) -> list[dict[str, Any]]:
    return [{"cv": r["cv"], "position": r["opening_position"], "external_id": f"x{i}"}
            for i, r in enumerate(generate(n, seed))]


def check_done(client: Client, results: list[dict[str, Any]], labels: set[str]) -> None:
    for item in results:
        assert item["status"] == "done", item
        result = item["result"]
        assert result["label"] in labels
        assert abs(sum(result["probabilities"].values()) - 1) < 1e-5
        assert result["label"] == max(result["probabilities"], key=result["probabilities"].get)
        assert result["classifier"] in ("random_forest", "svm", "mlp")
        assert len(result["model_version"]) == 12
        sims = [n["similarity"] for n in result["neighbours"]]
        assert len(sims) == 5 and sims == sorted(sims, reverse=True)
        check_explanation(result)
    first = results[0]["result"]["neighbours"][0]
    reference = client.reference(first["reference_id"])
    assert reference["outcome"] == first["outcome"] and reference["snippet"]


def check_explanation(result: dict[str, Any]) -> None:
    """The worker stored an explanation consistent with the result it explains."""
    explanation = result["explanation"]
    assert [e["reference_id"] for e in explanation["evidence"]] == [
        n["reference_id"] for n in result["neighbours"]]
    assert {f["factor"] for f in explanation["factors"]} == {"cv_text", "experience", "skills"}
    if explanation["position"]["applied"]:
        skills = explanation["skills"]
        assert len(skills["matched"]) + len(skills["missing"]) == 5
        assert explanation["experience"]["meets"] == (
            explanation["experience"]["stated"] >= explanation["experience"]["required"])


def exactly_once(database_url: str, expected: int) -> list[int]:
    """Every submission has one result and five neighbours; returns the batch sizes."""
    sessions = make_sessions(database_url)
    with sessions() as s:
        assert s.scalar(select(func.count()).select_from(Submission)) == expected
        assert s.scalar(select(func.count()).where(Submission.status == "done")) == expected
        assert s.scalar(select(func.count()).select_from(Result)) == expected
        assert s.scalar(select(func.count()).select_from(Neighbour)) == 5 * expected
        return list(s.scalars(select(Result.batch_size)))


def run_stack(settings: Settings, tmp_path: Path, n_single: int, n_batch: int,
              workers: int = 1) -> tuple[Client, list[dict[str, Any]]]:
    with LocalStack(settings, workers=workers, log_dir=tmp_path / "log") as stack:
        check_sweepers_start_after_a_loaded_worker(stack)
        client = stack.client()
        data = items(n_single + n_batch, seed=99)
        ids = [client.submit(i) for i in data[:n_single]] + client.submit_many(data[n_single:])
        results = client.wait(ids, timeout=240)
        check_done(client, results, {"Accepted", "Rejected"})
        check_priority(stack)
        check_native_threads(stack)
        return client, results


def check_sweepers_start_after_a_loaded_worker(stack: LocalStack) -> None:
    """Right after the start, each worker process's heartbeat is its first, written once its
    model loaded: the sweepers started after the first of them, not beside the workers.
    Both on the clock since boot (psutil's create_time rounds the boot to the second)."""
    beats = workers_alive(redis_for(stack.settings.broker_url), stack.settings.queue)
    assert beats, "the stack started with no worker process loaded"
    first_loaded = time.clock_gettime(time.CLOCK_BOOTTIME) - max(b.seconds_ago for b in beats)
    assert stack.sweeper_procs
    for proc in stack.sweeper_procs:
        assert started_since_boot(proc.pid) >= first_loaded - 0.02  # a clock tick


def started_since_boot(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[19]) / os.sysconf("SC_CLK_TCK")  # field 22, starttime


def check_native_threads(stack: LocalStack) -> None:
    """Every pool process limited numpy's OpenBLAS to its own threads before its first
    batch: left at a thread per core, its idle threads spin and take CPU from the other
    processes (worker/context.py)."""
    ready = [line for n in range(len(stack.worker_procs))
             for line in (stack.log_dir / f"worker-{n + 1}.log").read_text().splitlines()
             if "model ready" in line]
    assert len(ready) == len(stack.worker_procs) * stack.settings.worker_processes
    expected = f"openblas {stack.settings.threads_per_process}"
    assert all(expected in line.rpartition("native thread pools: ")[2] for line in ready), ready


def check_priority(stack: LocalStack) -> None:
    """Workers run below the API: their own nice, and their session's (autogroup) nice,
    without which their nice would not weigh against the API's session; with
    `api_realtime`, every API thread at SCHED_RR 1 where the machine allows it."""
    nice = stack.settings.worker_nice
    for proc in stack.worker_procs:
        worker = psutil.Process(proc.pid)
        assert {p.nice() for p in [worker, *worker.children()]} == {nice}
        assert policies(worker) == {os.SCHED_OTHER}
        autogroup = Path(f"/proc/{proc.pid}/autogroup")
        if autogroup.is_file():
            assert autogroup.read_text().split()[-1] == str(nice)
    api = psutil.Process(stack.api_pid)
    if stack.settings.api_realtime and realtime_allowed():
        assert policies(api) == {os.SCHED_RR | os.SCHED_RESET_ON_FORK}
        assert {os.sched_getparam(t.id).sched_priority for t in api.threads()} == {1}
        assert len(api.threads()) > stack.settings.http_threads  # waitress's threads too
    else:
        assert policies(api) == {os.SCHED_OTHER}


def policies(proc: psutil.Process) -> set[int]:
    return {os.sched_getscheduler(t.id) for p in [proc, *proc.children()] for t in p.threads()}


def test_sqlite_prefork_worker(settings: Settings, redis_url: str, tmp_path: Path) -> None:
    """A free process takes what is buffered at once: with a flush timer longer than the
    whole wait (240 s), the 45 CVs (under one batch size) still finish, in micro-batches;
    through an API at real-time priority (`check_priority`)."""
    s = replace(settings, broker_url=redis_url, worker_pool="prefork", worker_concurrency=2,
                batch_wait=600, api_realtime=True)
    _, results = run_stack(s, tmp_path, n_single=5, n_batch=40)
    sizes = exactly_once(s.database_url, 45)
    assert max(sizes) > 1, "the batch submission was not processed in micro-batches"
    assert Counter(r["external_id"] for r in results) == Counter(f"x{i}" for i in range(45))


@pytest.mark.postgres
def test_postgres_worker(settings: Settings, redis_url: str, pg_url: str,
                         tmp_path: Path) -> None:
    s = replace(settings, broker_url=redis_url, database_url=pg_url, worker_pool="solo")
    run_stack(s, tmp_path, n_single=3, n_batch=30)
    sizes = exactly_once(pg_url, 33)
    assert sum(sizes) / len(sizes) > 1


@pytest.mark.postgres
def test_two_workers_share_one_queue(settings: Settings, redis_url: str, pg_url: str,
                                     tmp_path: Path) -> None:
    s = replace(settings, broker_url=redis_url, database_url=pg_url, worker_pool="solo",
                batch_size=8)
    run_stack(s, tmp_path, n_single=0, n_batch=80, workers=2)
    exactly_once(pg_url, 80)
    sessions = make_sessions(pg_url)
    with sessions() as session:
        attempts = list(session.scalars(select(Submission.attempts)))
    assert attempts == [1] * 80  # nobody processed anything twice
    logs = [(tmp_path / "log" / f"worker-{n}.log").read_text() for n in (1, 2)]
    assert all("batch done" in log for log in logs), "one worker did no work"


def test_cv_files_over_http_are_classified_and_explained(settings: Settings, redis_url: str,
                                                        tmp_path: Path) -> None:
    from tests import cvfiles

    lines = ["Data Scientist with 7 years of experience.", "Python, SQL and Pandas every day."]
    with LocalStack(replace(settings, broker_url=redis_url), log_dir=tmp_path / "log") as stack:
        client = stack.client()
        assert "Data Scientist" in {p["title"] for p in client.positions()}
        ids = [client.submit_file(cvfiles.pdf(lines), "cv.pdf", "Data Scientist"),
               client.submit_file(cvfiles.docx(lines), "cv.docx", "Data Scientist")]
        results = client.wait(ids, timeout=240)
    for item in results:
        assert item["status"] == "done", item
        explanation = item["result"]["explanation"]
        assert explanation["experience"]["stated"] == 7
        assert explanation["skills"]["matched"] == ["Python", "SQL", "Pandas"]


def test_embedded_redis_when_no_broker_is_configured(settings: Settings, tmp_path: Path) -> None:
    s = replace(settings, broker_url="", worker_pool="solo")
    with LocalStack(s, log_dir=tmp_path / "log") as stack:
        assert stack.settings.broker_url.startswith("redis+socket://")
        client = stack.client()
        results = client.wait([client.submit(i) for i in items(3, seed=5)], timeout=240)
        check_done(client, results, {"Accepted", "Rejected"})
        folder = stack.redis.folder if stack.redis else None
    exactly_once(s.database_url, 3)
    assert folder is not None and not folder.exists(), "the embedded Redis left its folder"
