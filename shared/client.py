"""The Python client for the intake API, the way to integrate: submit (with an
Idempotency-Key that every retry reuses, so a retry never creates a second submission),
retry on 429/503 and connection errors honouring `Retry-After`, poll until done, follow
batches, and verify webhook signatures."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterable
from typing import Any

import requests
from standardwebhooks.webhooks import Webhook

from shared import fastjson
from shared.errors import CvqError

BATCH = 1000
POLL_IDS = 100
RETRIES = 5
RETRY_STATUSES = (429, 503)
MAX_RETRY_AFTER = 60.0


def verify_webhook(secret: str, body: bytes, headers: dict[str, str]) -> Any:
    """The event of a webhook request whose signature checks out with `secret` (raises
    `standardwebhooks.webhooks.WebhookVerificationError` otherwise)."""
    return Webhook(secret).verify(body, headers)


class Client:
    def __init__(self, base_url: str, api_key: str = "", timeout: float = 30) -> None:
        self.base_url = base_url.rstrip("/")
        self.http = requests.Session()
        if api_key:
            self.http.headers["Authorization"] = f"Bearer {api_key}"
        self.timeout = timeout

    def _check(self, response: requests.Response) -> Any:
        if response.status_code >= 400:
            try:
                message = response.json().get("message", response.text)
            except ValueError:
                message = response.text[:200]
            raise CvqError(f"{response.request.method} {response.url}: "
                           f"{response.status_code} {message}")
        return fastjson.loads(response.content)  # 100 finished CVs: 0.7 ms, 2.0 with json

    def send(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        """One request, retried on 429/503 (after its Retry-After) and on connection errors."""
        for attempt in range(RETRIES):
            try:
                r = self.http.request(method, f"{self.base_url}{path}", timeout=self.timeout,
                                      **kwargs)
            except requests.ConnectionError:
                if attempt == RETRIES - 1:
                    raise
                time.sleep(2 ** attempt)
                continue
            if r.status_code not in RETRY_STATUSES or attempt == RETRIES - 1:
                return r
            time.sleep(min(MAX_RETRY_AFTER, float(r.headers.get("Retry-After", 2 ** attempt))))
        raise AssertionError("unreachable")

    def submit(self, item: dict[str, Any]) -> str:
        r = self.send("POST", "/v1/submissions", json=item,
                      headers={"Idempotency-Key": str(uuid.uuid4())})
        return str(self._check(r)["id"])

    def batch(self, batch_id: str, after: str = "", limit: int = 100) -> dict[str, Any]:
        r = self.send("GET", f"/v1/batches/{batch_id}", params={"after": after, "limit": limit})
        return dict(self._check(r))

    def cancel_batch(self, batch_id: str) -> dict[str, Any]:
        return dict(self._check(self.send("DELETE", f"/v1/batches/{batch_id}")))

    def submit_file(self, content: bytes, filename: str, position: str | None = None,
                    external_id: str | None = None) -> str:
        """A CV file (PDF, DOCX or text; the type from the extension) as multipart."""
        fields = {k: v for k, v in (("position", position), ("external_id", external_id)) if v}
        r = self.send("POST", "/v1/submissions", files={"file": (filename, content)},
                      data=fields, headers={"Idempotency-Key": str(uuid.uuid4())})
        return str(self._check(r)["id"])

    def positions(self) -> list[dict[str, Any]]:
        r = self.http.get(f"{self.base_url}/v1/positions", timeout=self.timeout)
        return list(self._check(r)["positions"])

    def submit_many(self, items: list[dict[str, Any]]) -> list[str]:
        ids: list[str] = []
        for start in range(0, len(items), BATCH):
            r = self.send("POST", "/v1/submissions/batch", json=items[start:start + BATCH],
                          headers={"Idempotency-Key": str(uuid.uuid4())})
            ids += self._check(r)["ids"]
        return ids

    def get_many(self, ids: Iterable[str], status_only: bool = False) -> list[dict[str, Any]]:
        """Submissions by id, 100 per request; `status_only`: id, status and finished_at."""
        ids = list(ids)
        items: list[dict[str, Any]] = []
        extra = {"fields": "status"} if status_only else {}
        for start in range(0, len(ids), POLL_IDS):
            r = self.send("GET", "/v1/submissions",
                          params={"ids": ",".join(ids[start:start + POLL_IDS]), **extra})
            items += self._check(r)["items"]
        return items

    def wait(self, ids: list[str], timeout: float = 600, interval: float = 0.5
             ) -> list[dict[str, Any]]:
        """Poll (statuses only) until every id is done, failed or cancelled; then the full
        submissions, in the order of `ids`."""
        deadline = time.monotonic() + timeout
        finished: set[str] = set()
        while True:
            pending = [i for i in ids if i not in finished]
            finished |= {item["id"] for item in self.get_many(pending, status_only=True)
                         if item["status"] in ("done", "failed", "cancelled")}
            if len(finished) == len(ids):
                by_id = {item["id"]: item for item in self.get_many(ids)}
                return [by_id.get(i, {"id": i, "status": "missing"}) for i in ids]
            if time.monotonic() > deadline:
                raise CvqError(f"{len(ids) - len(finished)} submission(s) not finished "
                               f"after {timeout:.0f} s")
            time.sleep(interval)

    def reference(self, reference_id: str) -> dict[str, Any]:
        r = self.http.get(f"{self.base_url}/v1/reference/{reference_id}", timeout=self.timeout)
        return dict(self._check(r))

    def ready(self) -> bool:
        try:
            return self.http.get(f"{self.base_url}/readyz", timeout=5).status_code == 200
        except requests.RequestException:
            return False
