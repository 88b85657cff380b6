"""The priority-lane figure, for the test and the benchmark: a single CV submitted behind a
bulk backlog, timed until done, with how much of the backlog ran meanwhile."""

from __future__ import annotations

import time
from dataclasses import dataclass

from shared.stack import LocalStack

SINGLE = {"cv": "Data Scientist with 6 years of Python, SQL and Pandas.",
          "position": "Data Scientist"}


@dataclass(frozen=True)
class LaneFigure:
    bulk: int
    seconds: float
    bulk_done_meanwhile: int

    def line(self, batch_size: int) -> str:
        return (f"interactive CV behind {self.bulk} bulk CVs: done in {self.seconds:.1f} s, "
                f"bulk done meanwhile {self.bulk_done_meanwhile} "
                f"(~{self.bulk_done_meanwhile / batch_size:.1f} micro-batches of {batch_size})")


def interactive_behind_bulk(stack: LocalStack, bulk: int) -> LaneFigure:
    """Queue `bulk` CVs through the batch endpoint, then one single; cancel the rest after."""
    http, url = stack.client().http, stack.url
    batch_urls = []
    for start in range(0, bulk, 1000):
        items = [{"cv": f"Backend developer {i}: Node.js, PostgreSQL and Redis, {i % 9} years."}
                 for i in range(start, min(bulk, start + 1000))]
        r = http.post(f"{url}/v1/submissions/batch", json=items, timeout=60)
        r.raise_for_status()
        batch_urls.append(r.json()["batch_url"])
    started = time.monotonic()
    single = http.post(f"{url}/v1/submissions", json=SINGLE, timeout=30).json()["id"]
    while http.get(f"{url}/v1/submissions/{single}", timeout=30).json()["status"] != "done":
        time.sleep(0.05)
    seconds = time.monotonic() - started
    done = sum(http.get(f"{url}{b}?limit=1", timeout=30).json()["counts"]["done"]
               for b in batch_urls)
    for b in batch_urls:
        http.delete(f"{url}{b}", timeout=30)
    return LaneFigure(bulk, seconds, done)
