"""The positions catalogue: what the model learned of each position's requirement.

A submission may name a position the catalogue does not hold (a board's own title): it is
accepted, the 202 says so with the closest known titles, and the result's explanation
flags it and applies no requirement. Refusing it would turn a board's wording into lost
CVs; the model's scores without a requirement are still useful evidence.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from models.artifacts import REQUIREMENTS
from models.explain import close_matches
from models.features import Requirements


class Catalogue:
    """Read from the artifacts on first use, then kept (one dict lookup per request)."""

    def __init__(self, artifacts: Path) -> None:
        self.path = artifacts / REQUIREMENTS
        self._requirements: Requirements | None = None
        self._lock = threading.Lock()

    def requirements(self) -> Requirements | None:
        """None when the model was trained without positions (or is not there yet)."""
        with self._lock:
            if self._requirements is None and self.path.is_file():
                self._requirements = Requirements.load(self.path)
            return self._requirements

    def listing(self) -> list[dict[str, Any]]:
        found = self.requirements()
        if found is None:
            return []
        return [{"title": title, "min_years": o.min_years, "keywords": list(o.keywords)}
                for title, o in sorted(found.openings.items())]

    def titles(self) -> list[str]:
        found = self.requirements()
        return [] if found is None else sorted(found.openings)

    def warning(self, position: str | None) -> dict[str, Any] | None:
        """What a 202 tells about a position the catalogue does not hold, else None."""
        found = self.requirements()
        if position is None or found is None:
            return None
        if any(t.casefold() == position.strip().casefold() for t in found.openings):
            return None
        return {"field": "position", "message": f"position {position!r} is not in the "
                f"catalogue (GET /v1/positions); no requirement will be applied",
                "close_matches": close_matches(found, position)}
