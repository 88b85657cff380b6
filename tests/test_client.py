"""The Python client against a real HTTP server that refuses first: retries reuse the
Idempotency-Key and wait what Retry-After says; errors carry the API's message, hooks see
every response, the environment's proxy is honoured; webhook verification."""

from __future__ import annotations

import contextlib
import http.server
import json
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
import urllib3
from standardwebhooks.webhooks import WebhookVerificationError

from shared.client import Client, pool_for, verify_webhook
from shared.errors import CvqError
from shared.webhooks import new_message_id, new_secret, signature


class JsonHandler(http.server.BaseHTTPRequestHandler):
    """A stand-in for the API; `reply` sends a JSON answer."""

    def reply(self, status: int, body: dict[str, Any], headers: dict[str, str]) -> None:
        payload = json.dumps(body).encode()
        self.send_response(status)
        for name, value in {**headers, "Content-Length": str(len(payload))}.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args: Any) -> None:
        pass


@contextlib.contextmanager
def serving(handler: type[JsonHandler]) -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()


def test_submit_retries_a_503_after_retry_after_with_the_same_key() -> None:
    seen: list[tuple[float, str]] = []

    class Busy(JsonHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers["Content-Length"]))
            seen.append((time.monotonic(), self.headers["Idempotency-Key"]))
            status, body = (503, {"error": "unavailable"}) if len(seen) < 3 else (
                202, {"id": "a" * 32})
            self.reply(status, body, {"Retry-After": "1"})

    with serving(Busy) as url:
        assert Client(url, "k").submit({"cv": "x"}) == "a" * 32
    assert len(seen) == 3 and len({key for _, key in seen}) == 1
    assert seen[1][0] - seen[0][0] >= 0.9 and seen[2][0] - seen[1][0] >= 0.9


def test_verify_webhook_accepts_the_signed_body_and_refuses_an_altered_one() -> None:
    secret, message_id, now = new_secret(), new_message_id(), datetime.now(UTC)
    body = json.dumps({"type": "submission.completed", "data": {"id": "a" * 32}})
    headers = {"webhook-id": message_id, "webhook-timestamp": str(int(now.timestamp())),
               "webhook-signature": signature([secret], message_id, now, body)}
    assert verify_webhook(secret, body.encode(), headers)["type"] == "submission.completed"
    with pytest.raises(WebhookVerificationError):
        verify_webhook(secret, body.replace("completed", "failed").encode(), headers)
    with pytest.raises(WebhookVerificationError):
        verify_webhook(new_secret(), body.encode(), headers)


def test_the_environment_proxy_is_honoured_unless_no_proxy_exempts_the_host(
        monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("HTTP_PROXY", "http_proxy", "NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    assert not isinstance(pool_for("http://api.example"), urllib3.ProxyManager)
    monkeypatch.setenv("http_proxy", "http://proxy.example:3128")
    proxied = pool_for("http://api.example")
    assert isinstance(proxied, urllib3.ProxyManager)
    assert proxied.proxy is not None and proxied.proxy.host == "proxy.example"
    monkeypatch.setenv("no_proxy", "api.example")
    assert not isinstance(pool_for("http://api.example"), urllib3.ProxyManager)


def test_hooks_see_every_response_and_errors_carry_the_api_message() -> None:
    class Refuses(JsonHandler):
        def do_GET(self) -> None:
            self.reply(404, {"error": "not_found", "message": "no such submission"},
                       {"Server-Timing": "app;dur=1.5"})

    seen: list[str] = []
    with serving(Refuses) as url:
        client = Client(url, "k")
        client.hooks.append(lambda r: seen.append(r.headers["Server-Timing"]))
        with pytest.raises(CvqError, match=rf"^{url}/v1/submissions\?ids=a+: 404 no such submission$"):
            client.get_many(["a" * 32])
    assert seen == ["app;dur=1.5"]
