"""Start a Celery worker for the configured queue, pool and concurrency."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from shared.bootstrap import service_settings
from shared.broker import worker_queues
from worker import metrics


def run(loglevel: str = "INFO") -> None:
    settings = service_settings(loglevel)
    metrics.prepare(settings.worker_metrics_port)  # before prometheus_client is imported
    from worker.app import create_worker_app

    if settings.worker_nice:
        lower_priority(settings.worker_nice)
    celery = create_worker_app(settings)
    queues = ",".join(worker_queues(settings.queue))
    celery.worker_main(["worker", f"--loglevel={loglevel}", "-Q", queues,
                        "-P", settings.worker_pool, "-c", str(settings.worker_processes), "--without-gossip",
                        "--without-mingle", "--without-heartbeat"])


def lower_priority(nice: int) -> None:
    """`nice` for this process and its pool children (inherited). Under Linux's autogroup
    scheduling a process's nice only orders it against the processes of its own session, and
    `cvqueue up`, systemd and most supervisors start the worker in a session of its own: what
    weighs it against the API is the session's nice, in /proc/self/autogroup. Set only by a
    session leader, so a worker started from a terminal leaves that terminal's shell alone."""
    os.nice(nice)
    if os.getsid(0) == os.getpid():
        with contextlib.suppress(OSError):  # not Linux, or no autogroup scheduling
            Path("/proc/self/autogroup").write_text(f"{nice}\n")
