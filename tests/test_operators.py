"""Operators: /metrics moves as CVs go through a real stack (API, worker with its own
metrics port, Redis, SQLite); the operator role; `cvqueue status` and its exit code."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
import requests

from models.generator import generate
from shared.config import Settings
from shared.db import make_sessions
from shared.keys import create_key
from shared.stack import LocalStack, free_port

pytestmark = pytest.mark.e2e


def metric(text: str, name: str, **labels: str) -> float:
    """The value of one sample in a Prometheus text exposition."""
    for line in text.splitlines():
        if line.startswith(name) and all(f'{k}="{v}"' in line for k, v in labels.items()):
            rest = line[len(name):]
            if rest[:1] in ("{", " "):
                return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"no sample {name} {labels}")


def status(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "shared.cli", "status", *args], text=True,
                          capture_output=True, timeout=60,
                          env={**os.environ, **settings.as_env()})


def test_metrics_operator_role_and_status(settings: Settings, redis_url: str,
                                          tmp_path: Path) -> None:
    port = free_port()
    s = replace(settings, broker_url=redis_url, worker_pool="solo", worker_metrics_port=port)
    with LocalStack(s, log_dir=tmp_path / "log") as stack:
        operator = create_key(make_sessions(s.database_url), "ops", role="operator")
        as_operator = {"Authorization": f"Bearer {operator}"}
        board = stack.client()
        assert board.http.get(f"{stack.url}/metrics").status_code == 403
        assert requests.get(f"{stack.url}/metrics").status_code == 401
        no_cvs = requests.get(f"{stack.url}/v1/submissions", headers=as_operator)
        assert no_cvs.status_code == 403, "an operator key reads no CV through board endpoints"

        before = requests.get(f"{stack.url}/metrics", headers=as_operator)
        assert before.status_code == 200 and "text/plain" in before.headers["Content-Type"]
        ids = board.submit_many([{"cv": r["cv"]} for r in generate(12, seed=8)])
        board.wait(ids, timeout=180)
        after = requests.get(f"{stack.url}/metrics", headers=as_operator).text
        assert metric(after, "cvqueue_submissions", status="done") == 12
        assert metric(after, "cvqueue_submissions", status="queued") == 0
        assert metric(after, "cvqueue_http_requests_total", route="/v1/submissions/batch",
                      status="202") == 1
        assert metric(after, "cvqueue_http_rejections_total", status="403",
                      reason="forbidden") >= 2
        assert metric(after, "cvqueue_workers_alive") == 1
        assert metric(after, "cvqueue_oldest_queued_seconds") == 0

        worker = requests.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text
        assert metric(worker, "cvqueue_worker_cvs_total", outcome="done") == 12
        assert metric(worker, "cvqueue_worker_batches_total") >= 1
        assert metric(worker, "cvqueue_worker_stage_seconds_count", stage="encode") >= 1
        assert metric(worker, "cvqueue_worker_stage_seconds_count", stage="queued") == 12
        assert re.search(r'cvqueue_worker_model\{classifier="\w+",model_version="\w{12}"\} 1',
                         worker)

        done = status(stack.settings)
        assert done.returncode == 0, done.stderr
        assert "workers alive: 1" in done.stdout and "done 12" in done.stdout
        print(done.stdout)


def test_status_exits_1_when_work_waits_and_no_worker_is_alive(
        settings: Settings, redis_url: str, tmp_path: Path) -> None:
    s = replace(settings, broker_url=redis_url)
    with LocalStack(s, workers=0, sweepers=0, log_dir=tmp_path / "log") as stack:
        stack.client().submit_many([{"cv": r["cv"]} for r in generate(3, seed=9)])
        stalled = status(stack.settings, "--json")
    assert stalled.returncode == 1
    assert '"stalled": true' in stalled.stdout and '"queued": 3' in stalled.stdout
