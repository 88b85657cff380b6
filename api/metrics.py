"""Prometheus metrics the API serves on /metrics (operator key): its own requests and key
cache, and the queue's state read at scrape time from SQL and Redis (see shared/status.py)."""

from __future__ import annotations

import time
from collections.abc import Iterator

from flask import Flask, Response, g, request
from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from api.resources import Resources
from shared.broker import lane_queue
from shared.db import STATUSES
from shared.status import collect

REJECTED = {401, 403, 404, 409, 413, 415, 422, 429, 503}


class QueueCollector(Collector):
    def __init__(self, resources: Resources) -> None:
        self.res = resources

    def collect(self) -> Iterator[Metric]:
        s = collect(self.res.sessions, self.res.broker, self.res.settings.queue)
        queue = self.res.settings.queue
        messages = GaugeMetricFamily("cvqueue_queue_messages", "Messages waiting in each "
                                     "lane's broker queue (a Redis list).",
                                     labels=["queue", "lane"])
        for lane, depth in (s.lanes or {}).items():
            messages.add_metric([lane_queue(queue, lane), lane], depth)
        yield messages
        by_status = GaugeMetricFamily("cvqueue_submissions", "Submissions by status (SQL).",
                                      labels=["status"])
        for status in STATUSES:
            by_status.add_metric([status], s.submissions.get(status, 0))
        yield by_status
        yield GaugeMetricFamily("cvqueue_oldest_queued_seconds", "Age of the oldest queued "
                                "submission: the signal to scale workers on.",
                                value=s.oldest_queued_seconds)
        yield GaugeMetricFamily("cvqueue_workers_alive", "Worker processes with a heartbeat "
                                "in the last 35 s.", value=len(s.workers))
        beats = GaugeMetricFamily("cvqueue_worker_heartbeat_age_seconds", "Seconds since each "
                                  "worker process's last heartbeat.",
                                  labels=["worker", "model_version"])
        for w in s.workers:
            beats.add_metric([w.name, w.model_version], w.seconds_ago)
        yield beats
        yield CounterMetricFamily("cvqueue_sweeper_requeued", "Submissions re-enqueued by "
                                  "sweepers.", value=s.requeued_total)
        yield CounterMetricFamily("cvqueue_sweeper_gave_up", "Submissions marked failed by "
                                  "sweepers after their attempts.", value=s.gave_up_total)


class KeyCacheCollector(Collector):
    """Whether this API process's key cache answers (api.keycache), and how often it did."""

    def __init__(self, resources: Resources) -> None:
        self.res = resources

    def collect(self) -> Iterator[Metric]:
        keys = self.res.keys
        yield GaugeMetricFamily("cvqueue_api_key_cache_serving", "1 while this API process "
                                "answers known keys from its cache (PostgreSQL, its listener "
                                "confirmed), else 0.", value=int(keys.serving))
        lookups = CounterMetricFamily("cvqueue_api_key_lookups", "Requests' keys, answered "
                                      "from the cache (hit) or looked up (miss).",
                                      labels=["result"])
        lookups.add_metric(["hit"], keys.hits)
        lookups.add_metric(["miss"], keys.misses)
        yield lookups


def install(app: Flask, resources: Resources) -> CollectorRegistry:
    """Request counters and latency by route, rejections by reason, the queue and key cache
    collectors."""
    registry = CollectorRegistry()
    requests = Counter("cvqueue_http_requests", "HTTP requests by route, method and status.",
                       ["route", "method", "status"], registry=registry)
    latency = Histogram("cvqueue_http_request_seconds", "HTTP request latency by route.",
                        ["route"], registry=registry,
                        buckets=(.002, .005, .01, .02, .05, .1, .25, .5, 1, 2.5))
    rejections = Counter("cvqueue_http_rejections", "Requests refused, by status and reason.",
                         ["status", "reason"], registry=registry)
    registry.register(QueueCollector(resources))
    registry.register(KeyCacheCollector(resources))

    @app.before_request
    def start_clock() -> None:
        g.started = time.perf_counter()

    @app.after_request
    def observe(response: Response) -> Response:
        route = request.url_rule.rule if request.url_rule else "unmatched"
        elapsed = time.perf_counter() - g.get("started", time.perf_counter())
        requests.labels(route, request.method, str(response.status_code)).inc()
        latency.labels(route).observe(elapsed)
        # The time inside the app, apart from the network, the server's threads and the
        # client's own scheduling (a browser's developer tools show it; so does `make bench`).
        response.headers["Server-Timing"] = f"app;dur={elapsed * 1000:.2f}"
        if response.status_code in REJECTED and response.is_json:
            reason = (response.get_json(silent=True) or {}).get("error", "unknown")
            rejections.labels(str(response.status_code), str(reason)).inc()
        return response

    return registry
