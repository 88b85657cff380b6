"""Each worker's own Prometheus metrics, its prefork children aggregated (prometheus-client's
multiprocess mode), served by the worker's main process on `CVQ_WORKER_METRICS_PORT`.

`prepare` must run before anything imports prometheus_client in the worker: the library
chooses where values live (memory, or files shared by processes) at import."""

from __future__ import annotations

import os
import shutil
import tempfile

STAGES = ("queued", "encode", "classify_topk", "store")


def prepare(port: int) -> None:
    if port:
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="cvq-prom-")


def serve(port: int) -> None:
    from prometheus_client import CollectorRegistry, start_http_server
    from prometheus_client.multiprocess import MultiProcessCollector

    registry = CollectorRegistry()
    MultiProcessCollector(registry)
    start_http_server(port, registry=registry)


def process_exited(pid: int) -> None:
    if "PROMETHEUS_MULTIPROC_DIR" in os.environ:
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(pid)


def cleanup() -> None:
    folder = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if folder:
        shutil.rmtree(folder, ignore_errors=True)
