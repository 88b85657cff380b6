"""Webhooks end to end: a running stack (API, a real worker, the sweeper with its
dispatcher) on real Redis, and real receivers on 127.0.0.1 that verify every signature with
the Standard Webhooks reference library. Plus the SSRF checks and the retry schedule."""

from __future__ import annotations

import http.server
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from api import create_app
from api.resources import resources
from models.generator import generate
from shared.config import Settings
from shared.keys import create_key
from shared.stack import LocalStack
from shared.webhooks import post
from tests.receiver import Receiver
from worker.deliveries import retry_wait


def until(check: Callable[[], Any], timeout: float = 90, what: str = "") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if found := check():
            return found
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def hook_settings(settings: Settings, redis_url: str) -> Settings:
    return replace(settings, broker_url=redis_url, worker_pool="solo", webhook_allow_private=True,
                   webhook_backoff=0.3, webhook_max_attempts=4, webhook_interval=0.2,
                   webhook_timeout=1.0, sweep_interval=1.0)


@pytest.mark.e2e
@pytest.mark.parametrize("database", ["sqlite", "postgres"])
def test_signed_deliveries_retried_until_received_once_per_event(
        settings: Settings, redis_url: str, tmp_path: Path, database: str,
        request: pytest.FixtureRequest) -> None:
    receiver = Receiver(fail_first=2)  # each message: 503, 503, then 204
    s = hook_settings(settings, redis_url)
    if database == "postgres":
        s = replace(s, database_url=request.getfixturevalue("pg_url"))
    with LocalStack(s, log_dir=tmp_path / "log") as stack:
        http = stack.client().http
        created = http.put(f"{stack.url}/v1/webhook", json={"url": receiver.url}).json()
        assert created["secret"].startswith("whsec_") and created["url"] == receiver.url
        assert "secret" not in http.get(f"{stack.url}/v1/webhook").json()  # shown once
        receiver.secrets = [created["secret"]]
        cvs = [{"cv": r["cv"], "position": r["opening_position"]} for r in generate(4, seed=5)]
        single = http.post(f"{stack.url}/v1/submissions", json=cvs[0]).json()["id"]
        batch = http.post(f"{stack.url}/v1/submissions/batch", json=cvs[1:]).json()
        until(lambda: len(receiver.delivered("submission.completed")) == 4, what="4 results")
        until(lambda: receiver.delivered("batch.completed"), what="batch.completed")
        deliveries = http.get(f"{stack.url}/v1/webhook/deliveries").json()["items"]
        polled = {sid: http.get(f"{stack.url}/v1/submissions/{sid}").json()
                  for sid in (single, *batch["ids"])}
    receiver.close()

    assert {r.data["id"] for r in receiver.delivered("submission.completed")} == {
        single, *batch["ids"]}
    [completed] = receiver.delivered("batch.completed")
    assert completed.data["id"] == batch["batch_id"] and completed.data["counts"]["done"] == 3
    assert sum(r.event == "batch.completed" and r.answered == 204 for r in receiver.received) == 1
    for message_id in {r.webhook_id for r in receiver.received}:
        attempts = [r for r in receiver.received if r.webhook_id == message_id]
        assert [a.answered for a in attempts] == [503, 503, 204]  # same id on every retry
        assert all(a.verified_with == receiver.secrets for a in attempts)
    for r in receiver.delivered("submission.completed"):  # exactly what the API shows
        assert r.data == polled[r.data["id"]]
    result = receiver.delivered("submission.completed")[0].data
    assert result["status"] == "done" and result["result"]["explanation"]["factors"]
    assert "cv" not in result  # the board's API shows no CV text; nor does its webhook
    assert {(d["status"], d["attempts"]) for d in deliveries} == {("delivered", 3)}
    assert len(deliveries) == 5


@pytest.mark.e2e
def test_a_receiver_that_never_answers_ends_dead_then_redelivered_after_rotation(
        settings: Settings, redis_url: str, tmp_path: Path) -> None:
    silent = Receiver(hang_seconds=3)  # past the 1 s timeout, every time
    with LocalStack(hook_settings(settings, redis_url), log_dir=tmp_path / "log") as stack:
        http = stack.client().http
        old = http.put(f"{stack.url}/v1/webhook", json={"url": silent.url}).json()["secret"]
        http.post(f"{stack.url}/v1/submissions", json={"cv": "QA Engineer, 3 years, Selenium."})
        dead = until(lambda: http.get(f"{stack.url}/v1/webhook/deliveries?status=dead")
                     .json()["items"], what="a dead delivery")[0]
        assert dead["attempts"] == 4 and dead["last_error"] == "timeout"
        assert len({r.webhook_id for r in silent.received}) == 1

        rotated = http.post(f"{stack.url}/v1/webhook/rotate").json()
        assert rotated["secret"] != old and rotated["previous_secret_valid_until"]
        healthy = Receiver(secrets=[old, rotated["secret"]])
        assert http.put(f"{stack.url}/v1/webhook", json={"url": healthy.url}).status_code == 200
        r = http.post(f"{stack.url}/v1/webhook/deliveries/{dead['id']}/redeliver")
        assert r.status_code == 202
        until(lambda: healthy.delivered("submission.completed"), what="the redelivery")
    silent.close()
    healthy.close()
    [again] = healthy.delivered("submission.completed")
    assert again.webhook_id == dead["id"]  # the same message, at least once
    assert again.signatures == 2 and again.verified_with == [old, rotated["secret"]]


@pytest.fixture()
def app(settings: Settings) -> Flask:
    return create_app({"SETTINGS": settings, "TESTING": True})


@pytest.mark.parametrize("url", ["http://127.0.0.1:8080/x", "http://10.1.2.3/x",
                                 "http://169.254.169.254/latest/meta-data", "http://[::1]/x",
                                 "http://localhost/x", "ftp://example.com/x",
                                 "http://user:pw@example.com/x", "not a url"])
def test_webhook_urls_to_private_addresses_or_odd_schemes_are_refused(app: Flask, url: str
                                                                      ) -> None:
    client = app.test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {create_key(resources(app).sessions, 'b')}"
    r = client.put("/v1/webhook", json={"url": url})
    assert r.status_code == 400 and r.get_json()["message"]
    assert client.get("/v1/webhook").get_json()["url"] is None


def test_redirects_are_not_followed_and_retries_back_off_with_jitter() -> None:
    hits: list[str] = []

    class Redirect(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            hits.append(self.path)
            self.send_response(307)
            self.send_header("Location", "/elsewhere")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Redirect)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    answer = post(f"http://127.0.0.1:{server.server_port}/hook", {}, "{}", allow_private=True)
    server.shutdown()
    assert (answer.status, answer.ok, hits) == (307, False, ["/hook"])
    assert post(f"http://127.0.0.1:{server.server_port}/hook", {}, "{}",
                allow_private=False).error.startswith("'127.0.0.1' resolves to a private")
    waits = [retry_wait(n, 10.0) for n in range(1, 12) for _ in range(20)]
    assert min(waits) >= 5.0 and max(waits) <= 5400
    assert all(5.0 * 2 ** (n - 1) <= retry_wait(n, 10.0) <= 15.0 * 2 ** (n - 1)
               for n in range(1, 8))
