"""The real HTTP server (waitress, as `cvqueue api` runs it) against unauthenticated
clients that try to exhaust it: slow connections, huge bodies, bodies built to cost
memory, malformed requests. Real processes, Redis and SQLite."""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import psutil
import pytest
import requests

from shared.config import Settings
from shared.stack import LocalStack

pytestmark = pytest.mark.e2e


@pytest.fixture()
def stack(settings: Settings, redis_url: str, tmp_path: Path) -> Iterator[LocalStack]:
    s = replace(settings, broker_url=redis_url)
    with LocalStack(s, workers=0, sweepers=0, log_dir=tmp_path / "log") as running:
        yield running


def raw_request(port: int, data: bytes, read_body: bool = True) -> tuple[int, dict[str, str],
                                                                       bytes]:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
        conn.sendall(data)
        reply = b""
        while b"\r\n\r\n" not in reply or read_body:
            chunk = conn.recv(65536)
            if not chunk:
                break
            reply += chunk
    head, _, body = reply.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines[1:] if ": " in line)
    return int(lines[0].split()[1]), {k.lower(): v for k, v in headers.items()}, body


def test_slow_connections_do_not_starve_normal_requests(stack: LocalStack) -> None:
    """150 clients that send a header line every 2 s and never finish (105 of them used to
    fill waitress's default connection limit of 100, and every other request timed out)."""
    slow = []
    for _ in range(150):
        conn = socket.create_connection(("127.0.0.1", stack.port), timeout=5)
        conn.sendall(b"POST /v1/submissions HTTP/1.1\r\nHost: x\r\n")
        slow.append(conn)
    stop = threading.Event()

    def trickle() -> None:
        while not stop.wait(2):
            for conn in slow:
                with contextlib.suppress(OSError):
                    conn.sendall(b"X-Slow: 1\r\n")

    threading.Thread(target=trickle, daemon=True).start()
    try:
        client = stack.client()
        served = []
        deadline = time.monotonic() + 8
        while time.monotonic() < deadline:
            ok = client.http.get(f"{stack.url}/v1/submissions?limit=1", timeout=5).status_code
            ready = requests.get(f"{stack.url}/readyz", timeout=5).status_code
            served.append((ok, ready))
            time.sleep(0.5)
        assert served and set(served) == {(200, 200)}
    finally:
        stop.set()
        for conn in slow:
            conn.close()


def test_a_huge_body_without_a_key_is_refused_from_its_headers(stack: LocalStack) -> None:
    head = (b"POST /v1/submissions/batch HTTP/1.1\r\nHost: x\r\nContent-Type: application/json"
            b"\r\nContent-Length: " + str(200 * 2**20).encode() + b"\r\n\r\n")
    status, headers, body = raw_request(stack.port, head)  # not one byte of the body sent
    assert status == 413
    assert headers["content-type"] == "application/json"
    assert json.loads(body)["error"] == "request_entity_too_large"


@pytest.mark.parametrize(("request_bytes", "status"), [
    (b"GARBAGE\r\n\r\n", 400),
    (b"GET / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n", 501),
])
def test_the_servers_own_errors_are_json(stack: LocalStack, request_bytes: bytes,
                                         status: int) -> None:
    got, headers, body = raw_request(stack.port, request_bytes)
    assert got == status
    assert headers["content-type"] == "application/json"
    assert headers["x-content-type-options"] == "nosniff"
    assert json.loads(body)["message"]


def test_a_body_built_to_cost_memory_costs_little(stack: LocalStack) -> None:
    """A 28 MiB batch of ten million empty arrays used to take 8.5 s and 950 MB of the
    API's memory before its 413; now the walk stops at item 1,001."""
    api = next(p for p in psutil.Process().children(recursive=True)
               if "api" in p.cmdline())
    body = b"[" + b",".join([b"[]"] * 10_000_000) + b"]"
    before = api.memory_info().rss
    r = stack.client().http.post(f"{stack.url}/v1/submissions/batch", data=body, timeout=60,
                                 headers={"Content-Type": "application/json"})
    grown = api.memory_info().rss - before
    assert r.status_code == 413 and r.json()["error"] == "batch_too_large"
    assert grown < 4 * len(body), f"the API grew by {grown / 2**20:.0f} MiB"
    print(f"28 MiB attack body: API grew by {grown / 2**20:.0f} MiB")
