"""A webhook receiver on 127.0.0.1 for the tests: verifies every request's signature with
the Standard Webhooks reference library, records it, and answers as told (fail the first N
attempts of each message with 503, or never answer in time)."""

from __future__ import annotations

import http.server
import json
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from standardwebhooks.webhooks import Webhook, WebhookVerificationError


@dataclass
class Received:
    webhook_id: str
    event: str
    data: dict[str, Any]
    verified_with: list[str]
    signatures: int
    answered: int


@dataclass
class Receiver:
    secrets: list[str] = field(default_factory=list)
    fail_first: int = 0
    hang_seconds: float = 0.0
    received: list[Received] = field(default_factory=list)

    def __post_init__(self) -> None:
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                receiver.handle(self)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_port}/hooks/cvqueue"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def handle(self, request: http.server.BaseHTTPRequestHandler) -> None:
        body = request.rfile.read(int(request.headers["Content-Length"]))
        headers = {k.lower(): v for k, v in request.headers.items()}
        verified = []
        for secret in self.secrets:
            try:
                Webhook(secret).verify(body, headers)
                verified.append(secret)
            except WebhookVerificationError:
                pass
        payload = json.loads(body)
        earlier = sum(r.webhook_id == headers["webhook-id"] for r in self.received)
        status = 503 if earlier < self.fail_first else 204
        self.received.append(Received(headers["webhook-id"], payload["type"], payload["data"],
                                      verified, len(headers["webhook-signature"].split()),
                                      status))
        if self.hang_seconds:
            time.sleep(self.hang_seconds)
        request.send_response(status)
        request.end_headers()

    def delivered(self, event: str) -> list[Received]:
        return [r for r in self.received if r.event == event and r.answered == 204]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
