"""The historical records neighbour ids point to, read from the artifacts' metadata."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

from models.artifacts import METADATA

SNIPPET_CHARS = 240


class ReferenceStore:
    """Loaded on first use, then kept: one dict lookup per request."""

    def __init__(self, artifacts: Path) -> None:
        self.path = artifacts / METADATA
        self._by_id: dict[str, dict[str, Any]] | None = None
        self._lock = threading.Lock()

    def available(self) -> bool:
        return self.path.is_file()

    def get(self, reference_id: str) -> dict[str, Any] | None:
        with self._lock:
            if self._by_id is None:
                records = json.loads(self.path.read_text(encoding="utf-8"))
                self._by_id = {r["id"]: r for r in records}
        entry = self._by_id.get(reference_id)
        return None if entry is None else describe(entry)


def describe(entry: dict[str, Any]) -> dict[str, Any]:
    record = entry.get("record") or {}
    text = entry.get("text", "")
    return {
        "id": entry["id"],
        "outcome": entry["label"],
        "position": record.get("opening_position"),
        "reason": record.get("reason_for_result"),
        "experience_years": record.get("experience_years"),
        "recruitment_date": record.get("recruitment_date"),
        "snippet": text[:SNIPPET_CHARS] + ("…" if len(text) > SNIPPET_CHARS else ""),
    }
