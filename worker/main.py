"""Start a Celery worker for the configured queue, pool and concurrency."""

from __future__ import annotations

from shared.bootstrap import service_settings
from shared.broker import worker_queues
from shared.priority import lower_priority
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

