"""The HTTP server: waitress, set against slow and oversized clients, with its own error
responses (a malformed request, headers too large, a body over the limit) in the API's JSON.

waitress reads each request completely (headers and body) before a thread runs the app,
so a slow client holds a connection, never a thread; `connection_limit` bounds those
(polled with poll(), which has no 1,024-descriptor ceiling) and `channel_timeout` closes
idle ones. A body whose Content-Length exceeds the limit is refused from its headers alone.
"""

from __future__ import annotations

import json
from typing import Any

from flask import Flask
from waitress import create_server
from waitress.channel import HTTPChannel
from waitress.task import ErrorTask

from api.errors import error_code
from shared.config import Settings


class JsonErrorTask(ErrorTask):
    def execute(self) -> None:
        error = self.request.error
        body = json.dumps({"error": error_code(error.reason),
                           "message": f"{error.reason}: {error.body}"}).encode()
        self.status = f"{error.code} {error.reason}"
        self.response_headers.extend([("Content-Type", "application/json"),
                                      ("X-Content-Type-Options", "nosniff")])
        self.set_close_on_finish()
        self.content_length = len(body)
        self.write(body)


class JsonErrorChannel(HTTPChannel):
    error_task_class = JsonErrorTask


def make_server(app: Flask, settings: Settings, host: str, port: int) -> Any:
    server = create_server(
        app, host=host, port=port, ident="cvqueue", threads=settings.http_threads,
        connection_limit=settings.http_connection_limit,
        channel_timeout=settings.http_channel_timeout, cleanup_interval=5,
        asyncore_use_poll=True,
        # waitress refuses Content-Length >= this, before reading the body.
        max_request_body_size=settings.max_body_bytes + 1)
    server.channel_class = JsonErrorChannel
    return server
