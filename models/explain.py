"""Why a classifier decided what it did, for every CV of a batch.

An explanation holds, in the order a recruiter reads it:
- the position the requirement was taken from (and whether the catalogue knows it);
- the experience the CV states against the position's minimum, and which of the position's
  skills the CV names and which it lacks: the criteria the training data was labelled by;
- the factors that drove this classifier's output: the stated experience, the skills, the
  CV text as a whole. A factor's weight is its Shapley value for the probability of the
  decided label, with absent factors taken from a fixed sample of reference records (exact
  over the 2^3 coalitions, "interventional" SHAP on three feature groups). It is the same
  method for the forest, the SVM and the MLP; per-feature attributions of 394 inputs would
  say nothing a recruiter can read, the three groups do. It costs one classifier call per
  batch, on at most (2^3 - 2) x batch x background rows, plus the background once;
- the nearest historical candidates' outcomes with the reason recorded for each.
"""

from __future__ import annotations

import difflib
import itertools
import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from models.features import Requirements, record_position, reference_features, stated_years

METHOD = ("shapley: each factor's Shapley value for the probability of the decided label, "
          "factors absent taken from reference records")
#: Columns of the requirement features (see `Requirements.row`) behind each factor.
REQUIREMENT_FACTORS = {"experience": (0, 2, 3), "skills": (4, 5, 6, 7, 8, 9)}
#: Reference records the absent factors are drawn from: the weights' noise falls with more,
#: the cost grows with them (rows per batch: (2^factors - 2) x batch x this, plus this).
BACKGROUND = 12


def factor_columns(dim: int, with_requirements: bool) -> dict[str, np.ndarray]:
    columns = {"cv_text": np.arange(dim)}
    if with_requirements:
        columns.update({name: np.array(cols) + dim for name, cols in REQUIREMENT_FACTORS.items()})
    return columns


def shapley(names: list[str], value: dict[tuple[bool, ...], np.ndarray]) -> dict[str, np.ndarray]:
    """Exact Shapley values from the value of every coalition (a handful of factors)."""
    m = len(names)
    phi = {name: np.zeros_like(next(iter(value.values()))) for name in names}
    for coalition, v in value.items():
        size = sum(coalition)
        for j, name in enumerate(names):
            if coalition[j]:
                without = (*coalition[:j], False, *coalition[j + 1:])
                weight = math.factorial(size - 1) * math.factorial(m - size) / math.factorial(m)
                phi[name] += weight * (v - value[without])
    return phi


def position_json(requirements: Requirements | None, text: str, given: str | None
                  ) -> dict[str, Any]:
    """Which position's requirement applies, and why."""
    if requirements is None:
        return {"given": given, "applied": None, "known": False,
                "note": "this model was trained without positions; no requirement applies"}
    applied = requirements.position_of(text, given)
    known = given is not None and applied is not None and applied.casefold() == given.strip(
        ).casefold()
    body: dict[str, Any] = {"given": given, "applied": applied, "known": known}
    if given and not known:
        body["close_matches"] = close_matches(requirements, given)
        body["note"] = (f"position {given!r} is not in the catalogue; " + (
            f"the requirement of {applied!r}, named in the CV, applies" if applied
            else "no requirement applies"))
    elif not given:
        body["note"] = (f"no position given; {applied!r} is named in the CV" if applied
                        else "no position given or named in the CV; no requirement applies")
    return body


def close_matches(requirements: Requirements, given: str) -> list[str]:
    titles = {t.casefold(): t for t in requirements.openings}
    return [titles[m] for m in difflib.get_close_matches(given.casefold(), titles, n=3,
                                                         cutoff=0.6)]


def criteria_json(requirements: Requirements | None, text: str, applied: str | None
                  ) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """The experience stated against the requirement, and the skills matched and missing."""
    years = stated_years(text)
    if requirements is None or applied is None:
        return {"stated": years, "required": None, "meets": None}, None
    opening = requirements.openings[applied]
    matched = [k for k in opening.keywords if requirements.names(text, k)]
    skills = {"matched": matched, "missing": [k for k in opening.keywords if k not in matched]}
    return {"stated": years, "required": opening.min_years,
            "meets": years >= opening.min_years}, skills


def distinct_rows(a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The distinct rows of `a` (equal bytes) and, per row of `a`, its index among them.
    `np.unique(axis=0)` does the same 20x slower on a batch's 387-column rows."""
    a = np.ascontiguousarray(a)
    as_bytes = a.view(np.dtype((np.void, a.dtype.itemsize * a.shape[1]))).ravel()
    _, first, inverse = np.unique(as_bytes, return_index=True, return_inverse=True)
    return a[first], inverse.reshape(-1)


class Explainer:
    """Built once per worker process, beside the classifiers."""

    def __init__(self, requirements: Requirements | None, reference: np.ndarray,
                 metadata: Sequence[dict[str, Any]]) -> None:
        self.requirements = requirements
        rows = np.linspace(0, len(metadata) - 1, num=min(BACKGROUND, len(metadata)), dtype=int)
        self.background = reference_features(reference, metadata, requirements, rows)
        self.groups = factor_columns(reference.shape[1], requirements is not None)
        self.evidence = [((m.get("record") or {}).get("reason_for_result"), record_position(m))
                         for m in metadata]

    def factor_weights(self, x: np.ndarray, probs: np.ndarray,
                       predict_proba: Callable[[np.ndarray], np.ndarray]
                       ) -> list[dict[str, float]]:
        """Per CV: each factor's Shapley value for P(decided label), in one classifier call.
        The coalition that keeps no factor is the background alone, the same rows for every
        CV: asked once, not once per CV (a seventh of the rows). Likewise a coalition's rows
        for CVs that agree on the columns it keeps are the same rows, asked once: most CVs
        of a batch share a position's skill counts (a quarter fewer rows at 64 CVs)."""
        names, n, nb = list(self.groups), len(x), len(self.background)
        coalitions = list(itertools.product((False, True), repeat=len(names)))[1:-1]
        rows, inverses = [], []
        for coalition in coalitions:  # the factors kept from the CV; the rest from background
            keep = np.zeros(x.shape[1], dtype=bool)
            for name, kept in zip(names, coalition, strict=True):
                keep[self.groups[name]] = kept
            kept_values, inverse = distinct_rows(x[:, keep])
            mixed = np.repeat(self.background[None], len(kept_values), axis=0)
            mixed[:, :, keep] = kept_values[:, None, :]  # (distinct CVs, nb, features)
            rows.append(mixed.reshape(-1, x.shape[1]))
            inverses.append(inverse)
        decided = probs.argmax(axis=1)
        p = predict_proba(np.vstack([*rows, self.background]))
        value, start = {}, 0
        for coalition, part, inverse in zip(coalitions, rows, inverses, strict=True):
            mixed_p = p[start:start + len(part)].reshape(-1, nb, p.shape[1])[inverse]
            value[coalition] = mixed_p[np.arange(n), :, decided].mean(axis=1)
            start += len(part)
        value[(False,) * len(names)] = p[-nb:, decided].mean(axis=0)
        value[(True,) * len(names)] = probs[np.arange(n), decided]
        phi = shapley(names, value)
        return [{name: float(phi[name][i]) for name in names} for i in range(n)]

    def explain(self, text: str, given: str | None, weights: dict[str, float],
                neighbours: Sequence[tuple[int, str, float, str]]) -> dict[str, Any]:
        position = position_json(self.requirements, text, given)
        experience, skills = criteria_json(self.requirements, text, position["applied"])
        factors = [{"factor": name, "direction": "for" if w >= 0 else "against",
                    "weight": round(abs(w), 4), "detail": _detail(name, experience, skills)}
                   for name, w in sorted(weights.items(), key=lambda kv: -abs(kv[1]))]
        evidence = [{"reference_id": ref_id, "similarity": similarity, "outcome": outcome,
                     "position": self.evidence[row][1], "reason": self.evidence[row][0]}
                    for row, ref_id, similarity, outcome in neighbours]
        return {"position": position, "experience": experience, "skills": skills,
                "factors": factors, "method": METHOD, "evidence": evidence}


def _detail(factor: str, experience: dict[str, Any], skills: dict[str, Any] | None) -> str:
    if factor == "experience":
        required = experience["required"]
        stated = experience["stated"]
        return (f"{stated} year{'' if stated == 1 else 's'} stated" +
                (f", {required}+ required" if required is not None else ""))
    if factor == "skills" and skills is not None:
        total = len(skills["matched"]) + len(skills["missing"])
        return f"{len(skills['matched'])} of the position's {total} skills named"
    return "the CV's sentence embedding as a whole"
