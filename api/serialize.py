"""Submissions as the API shows them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from shared.db import Submission


def _time(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def submission_json(s: Submission) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": s.id, "status": s.status, "position": s.position, "external_id": s.external_id,
        "created_at": _time(s.created_at), "started_at": _time(s.started_at),
        "finished_at": _time(s.finished_at), "attempts": s.attempts,
    }
    if s.status == "failed":
        body["error"] = s.error
    if s.status == "done" and s.result is not None:
        r = s.result
        body["result"] = {
            "label": r.label, "probabilities": r.probabilities, "classifier": r.classifier,
            "model_version": r.model_version,
            "neighbours": [{"reference_id": n.reference_id, "similarity": n.similarity,
                            "outcome": n.label, "url": f"/v1/reference/{n.reference_id}"}
                           for n in s.neighbours],
            "explanation": r.explanation,
        }
    return body
