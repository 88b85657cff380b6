"""Webhooks as the Standard Webhooks specification has them (standardwebhooks.com): secrets
`whsec_<base64>`, headers `webhook-id`, `webhook-timestamp`, `webhook-signature`
(`v1,<base64 HMAC-SHA256 of id.timestamp.body>`, space-separated while two secrets are valid).

Signing uses the specification's reference library (`standardwebhooks`); so does the
receiver's verification snippet in the README.

Outbound requests are SSRF-safe: the URL's host must resolve only to public addresses
(unless the operator allows private ones, for tests and closed networks), the request is
sent to the address that was checked (no second lookup for DNS rebinding to exploit, the
Host header and TLS name stay the URL's), redirects are not followed, timeouts are short
and at most a few KiB of the answer is read.
"""

from __future__ import annotations

import base64
import ipaddress
import secrets
import socket
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

import requests
from standardwebhooks.webhooks import Webhook

from shared.errors import CvqError

SECRET_PREFIX = "whsec_"
EVENTS = ("submission.completed", "submission.failed", "batch.completed")
MAX_URL = 2000
CONNECT_TIMEOUT = 3.0
MAX_ANSWER_BYTES = 4096


class UnsafeUrl(CvqError):
    """The webhook URL is malformed or points where the service must not send requests."""


def new_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def new_message_id() -> str:
    return "msg_" + secrets.token_hex(16)


def signature(secrets_in_use: list[str], message_id: str, at: datetime, body: str) -> str:
    """One `v1,...` signature per valid secret, space-separated (a rotation's grace period)."""
    return " ".join(Webhook(s).sign(message_id, at, body) for s in secrets_in_use)


def check_url(url: str) -> str:
    """A syntactically acceptable webhook URL (the address is checked at every delivery)."""
    parts = urlsplit(url.strip())
    if len(url) > MAX_URL or parts.scheme not in ("https", "http") or not parts.hostname:
        raise UnsafeUrl("a webhook URL must be an http(s) URL with a host, at most "
                        f"{MAX_URL} characters")
    if parts.username or parts.password:
        raise UnsafeUrl("a webhook URL must not hold credentials")
    return url.strip()


def _is_public(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        address = address.ipv4_mapped
    return address.is_global and not address.is_multicast


def resolve(url: str, allow_private: bool) -> str:
    """The address to send to: every address the host resolves to must be public."""
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        found = {info[4][0] for info in socket.getaddrinfo(parts.hostname, port,
                                                            type=socket.SOCK_STREAM)}
    except (socket.gaierror, UnicodeError):
        raise UnsafeUrl(f"cannot resolve {parts.hostname!r}") from None
    addresses = [ipaddress.ip_address(str(a).split("%")[0]) for a in sorted(map(str, found))]
    if not allow_private and not all(_is_public(a) for a in addresses):
        raise UnsafeUrl(f"{parts.hostname!r} resolves to a private, loopback, link-local or "
                        "metadata address (CVQ_WEBHOOK_ALLOW_PRIVATE=1 allows it)")
    return str(addresses[0])


@dataclass(frozen=True)
class Answer:
    status: int | None
    error: str | None

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


class _PinnedAdapter(requests.adapters.HTTPAdapter):
    """Connect to the checked address while the URL (Host header, TLS name) keeps the host."""

    def __init__(self, address: str) -> None:
        self.address = address
        super().__init__(max_retries=0)

    def get_connection_with_tls_context(self, request, verify, proxies=None,  # type: ignore[no-untyped-def]
                                        cert=None):
        conn: Any = super().get_connection_with_tls_context(request, verify, proxies, cert)
        host = urlsplit(request.url).hostname
        conn.host = self.address  # the socket goes to the checked address ...
        if urlsplit(request.url).scheme == "https":
            conn.conn_kw["server_hostname"] = host  # ... TLS still verifies the URL's name
            conn.assert_hostname = host
        return conn


def post(url: str, headers: dict[str, str], body: str, allow_private: bool,
         timeout: float = 5.0) -> Answer:
    """One delivery attempt; never raises for what the receiver or the network does."""
    try:
        address = resolve(url, allow_private)
    except UnsafeUrl as exc:
        return Answer(None, str(exc))
    with requests.Session() as session:
        session.trust_env = False  # no proxy from the environment
        adapter = _PinnedAdapter(address)
        session.mount("http://", adapter)
        session.mount("https://", adapter)
        try:
            response = session.post(url, data=body.encode(), allow_redirects=False, stream=True,
                                    timeout=(min(CONNECT_TIMEOUT, timeout), timeout), headers={
                                        "Content-Type": "application/json",
                                        "Host": urlsplit(url).netloc,
                                        "User-Agent": "cvqueue-webhooks", **headers})
            response.raw.read(MAX_ANSWER_BYTES, decode_content=False)
            response.close()
        except requests.Timeout:
            return Answer(None, "timeout")
        except requests.RequestException as exc:
            return Answer(None, type(exc).__name__)
    return Answer(response.status_code, None if 200 <= response.status_code < 300
                  else f"HTTP {response.status_code}")
