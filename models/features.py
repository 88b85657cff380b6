"""What the classifiers see.

- `embedding`: the 384-d MiniLM sentence embedding alone.
- `embedding+requirements`: the embedding plus how the CV meets the opening's stated
  requirement, as a recruiter reads it: the years of experience the CV states against
  the position's "N+ years", and how many of the position's keywords the CV names.

Why the second exists: mean-pooled sentence embeddings blur numbers ("2 years" and
"6 years" land close together) and cannot count which of five keywords a CV holds, so
a classifier on embeddings alone stays far below what the data allows (measured in the
README). The requirement table is learned from the training data's own fields
(`opening_position`, `requirement`, `keywords_for_recruitment`) and saved with the
artifacts; data without those fields trains on `embedding` alone.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

FEATURE_SETS = ("embedding", "embedding+requirements")
POSITION_FIELD = "opening_position"
REQUIREMENT_FIELD = "requirement"
KEYWORDS_FIELD = "keywords_for_recruitment"

_NUMBER_WORDS = {"one": 1, "a single": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6,
                 "seven": 7, "eight": 8, "nine": 9, "ten": 10}
_YEARS = re.compile(
    r"\b(\d{1,2}|one|a single|two|three|four|five|six|seven|eight|nine|ten)\+?\s*(?:years?|yrs?)\b",
    re.IGNORECASE)
_LESS_THAN_ONE = re.compile(r"less than a year|under (?:1|one) year|no professional years",
                            re.IGNORECASE)
_MIN_YEARS = re.compile(r"(\d{1,2})\s*\+?\s*(?:years?|yrs?)", re.IGNORECASE)
MAX_YEARS = 15
N_REQUIREMENT_FEATURES = 10


def stated_years(text: str) -> int:
    """The largest "N years" a CV states (its total experience), 0 if none or under a year."""
    if _LESS_THAN_ONE.search(text):
        return 0
    found = [int(m) if m.isdigit() else _NUMBER_WORDS[m.lower()]
             for m in (match.group(1) for match in _YEARS.finditer(text))]
    return min(max(found, default=0), MAX_YEARS)


def _term(keyword: str) -> re.Pattern[str]:
    return re.compile(rf"(?<!\w){re.escape(keyword)}(?!\w)", re.IGNORECASE)


@dataclass(frozen=True)
class Opening:
    min_years: int
    keywords: tuple[str, ...]


class Requirements:
    """Each known position's minimum years and keywords, and the CV-vs-opening features."""

    def __init__(self, openings: dict[str, Opening]) -> None:
        self.openings = openings
        self._titles = sorted(openings, key=len, reverse=True)
        self._title_res = {t: _term(t) for t in self._titles}
        self._keyword_res = {k: _term(k) for o in openings.values() for k in o.keywords}

    @classmethod
    def from_records(cls, records: list[Any]) -> Requirements | None:
        """The table from training records, or None if they lack the fields."""
        openings: dict[str, Opening] = {}
        for row in records:
            if not isinstance(row, dict):
                return None
            title, requirement, keywords = (row.get(POSITION_FIELD), row.get(REQUIREMENT_FIELD),
                                            row.get(KEYWORDS_FIELD))
            if not isinstance(title, str) or not isinstance(requirement, str):
                return None
            if isinstance(keywords, str):
                keywords = [k.strip() for k in re.split(r"[;,|]", keywords) if k.strip()]
            match = _MIN_YEARS.search(requirement)
            if not isinstance(keywords, list) or not keywords or match is None:
                return None
            openings.setdefault(title, Opening(int(match.group(1)),
                                               tuple(str(k) for k in keywords)))
        return cls(openings) if openings else None

    def position_of(self, text: str, given: str | None) -> str | None:
        """The submission's stated position if known, else the first known title in the text."""
        if given:
            wanted = given.strip().casefold()
            for title in self._titles:
                if title.casefold() == wanted:
                    return title
        for title in self._titles:
            if self._title_res[title].search(text):
                return title
        return None

    def names(self, text: str, keyword: str) -> bool:
        """Whether the CV names one of the catalogue's keywords (as a whole word)."""
        return bool(self._keyword_res[keyword].search(text))

    def row(self, text: str, given_position: str | None) -> list[float]:
        years = stated_years(text)
        title = self.position_of(text, given_position)
        if title is None:
            return [years / MAX_YEARS] + [0.0] * (N_REQUIREMENT_FEATURES - 1)
        opening = self.openings[title]
        matched = sum(self.names(text, k) for k in opening.keywords)
        gap = years - opening.min_years
        return [years / MAX_YEARS, 1.0, float(gap >= 0), gap / 10, matched / len(opening.keywords),
                *(float(matched >= n) for n in range(1, 6))]

    def features(self, texts: list[str], positions: list[str | None]) -> np.ndarray:
        return np.array([self.row(t, p) for t, p in zip(texts, positions, strict=True)],
                        dtype=np.float32)

    def save(self, path: Path) -> None:
        data = {t: {"min_years": o.min_years, "keywords": list(o.keywords)}
                for t, o in sorted(self.openings.items())}
        path.write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")

    @classmethod
    def load(cls, path: Path) -> Requirements:
        data = json.loads(path.read_text(encoding="utf-8"))
        return cls({t: Opening(int(o["min_years"]), tuple(o["keywords"])) for t, o in data.items()})


def featurize(embeddings: np.ndarray, texts: list[str], positions: list[str | None] | None,
              requirements: Requirements | None) -> np.ndarray:
    if requirements is None:
        return np.ascontiguousarray(embeddings, dtype=np.float32)
    extra = requirements.features(texts, positions or [None] * len(texts))
    return np.ascontiguousarray(np.hstack([embeddings, extra]), dtype=np.float32)


def record_position(entry: dict[str, Any]) -> str | None:
    """The opening position of a reference record in the artifacts' metadata, if it had one."""
    position: str | None = (entry.get("record") or {}).get(POSITION_FIELD)
    return position


def reference_features(reference: np.ndarray, metadata: Sequence[dict[str, Any]],
                       requirements: Requirements | None,
                       rows: Sequence[int] | np.ndarray | None = None) -> np.ndarray:
    """What the classifiers saw in training for the reference records `rows` (all by
    default): their vectors beside their texts' and positions' requirement features."""
    picked = range(len(metadata)) if rows is None else rows
    return featurize(np.asarray(reference)[list(picked)],
                     [metadata[i].get("text", "") for i in picked],
                     [record_position(metadata[i]) for i in picked], requirements)
