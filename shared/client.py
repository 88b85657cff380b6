"""A small HTTP client for the intake API: submit in batches, poll until done."""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

import requests

from shared.errors import CvqError

BATCH = 1000
POLL_IDS = 100


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
        return response.json()

    def submit(self, item: dict[str, Any]) -> str:
        r = self.http.post(f"{self.base_url}/v1/submissions", json=item, timeout=self.timeout)
        return str(self._check(r)["id"])

    def submit_file(self, content: bytes, filename: str, position: str | None = None,
                    external_id: str | None = None) -> str:
        """A CV file (PDF, DOCX or text; the type from the extension) as multipart."""
        fields = {k: v for k, v in (("position", position), ("external_id", external_id)) if v}
        r = self.http.post(f"{self.base_url}/v1/submissions", files={"file": (filename, content)},
                           data=fields, timeout=self.timeout)
        return str(self._check(r)["id"])

    def positions(self) -> list[dict[str, Any]]:
        r = self.http.get(f"{self.base_url}/v1/positions", timeout=self.timeout)
        return list(self._check(r)["positions"])

    def submit_many(self, items: list[dict[str, Any]]) -> list[str]:
        ids: list[str] = []
        for start in range(0, len(items), BATCH):
            r = self.http.post(f"{self.base_url}/v1/submissions/batch",
                               json=items[start:start + BATCH], timeout=self.timeout)
            ids += self._check(r)["ids"]
        return ids

    def get_many(self, ids: Iterable[str]) -> list[dict[str, Any]]:
        ids = list(ids)
        items: list[dict[str, Any]] = []
        for start in range(0, len(ids), POLL_IDS):
            r = self.http.get(f"{self.base_url}/v1/submissions",
                              params={"ids": ",".join(ids[start:start + POLL_IDS])},
                              timeout=self.timeout)
            items += self._check(r)["items"]
        return items

    def wait(self, ids: list[str], timeout: float = 600, interval: float = 0.5
             ) -> list[dict[str, Any]]:
        """Poll until every id is done or failed; results in the order of `ids`."""
        deadline = time.monotonic() + timeout
        finished: dict[str, dict[str, Any]] = {}
        while True:
            pending = [i for i in ids if i not in finished]
            for item in self.get_many(pending):
                if item["status"] in ("done", "failed"):
                    finished[item["id"]] = item
            if len(finished) == len(ids):
                return [finished[i] for i in ids]
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
