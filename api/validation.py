"""Request bodies in, clean submissions out; every failure says what is wrong."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from api.errors import ApiError, bad_request
from shared.config import Settings

ID_RE = re.compile(r"^[0-9a-f]{32}$")
FIELDS = {"cv", "position", "external_id"}
MAX_SHORT = 200


@dataclass(frozen=True)
class NewSubmission:
    cv: str
    position: str | None
    external_id: str | None


def _text(value: Any, name: str, limit: int, required: bool) -> str | None:
    if value is None and not required:
        return None
    if not isinstance(value, str):
        raise ValueError(f"'{name}' must be a string")
    if "\x00" in value:
        raise ValueError(f"'{name}' contains a NUL character")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError(f"'{name}' is not valid Unicode (lone surrogate)") from None
    if required and not value.strip():
        raise ValueError(f"'{name}' is empty")
    if len(value) > limit:
        raise ValueError(f"'{name}' is longer than {limit} characters")
    return value


def submission(item: Any, settings: Settings) -> NewSubmission:
    if not isinstance(item, dict):
        raise ValueError("a submission must be a JSON object")
    if "cv" not in item:
        raise ValueError("'cv' is missing")
    unknown = sorted(set(item) - FIELDS)
    if unknown:
        raise ValueError(f"unknown field '{unknown[0]}' (allowed: cv, position, external_id)")
    cv = _text(item["cv"], "cv", settings.max_cv_chars, required=True)
    assert cv is not None
    return NewSubmission(cv, _text(item.get("position"), "position", MAX_SHORT, False),
                         _text(item.get("external_id"), "external_id", MAX_SHORT, False))


def _loads(raw: bytes) -> Any:
    try:
        return json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise bad_request("the body is not UTF-8") from None
    except (json.JSONDecodeError, RecursionError):
        raise bad_request("the body is not valid JSON") from None


def _require_json(content_type: str | None, allowed: tuple[str, ...]) -> str:
    mime = (content_type or "").split(";")[0].strip().lower()
    if mime not in allowed:
        raise ApiError(415, "unsupported_media_type",
                       f"Content-Type must be {' or '.join(allowed)}, not {mime or 'missing'!r}")
    return mime


def single_body(raw: bytes, content_type: str | None, settings: Settings) -> NewSubmission:
    _require_json(content_type, ("application/json",))
    try:
        return submission(_loads(raw), settings)
    except ValueError as exc:
        raise bad_request(str(exc)) from None


def batch_body(raw: bytes, content_type: str | None, settings: Settings) -> list[NewSubmission]:
    mime = _require_json(content_type, ("application/json", "application/x-ndjson"))
    if mime == "application/json":
        items = _loads(raw)
        if not isinstance(items, list):
            raise bad_request("a batch must be a JSON array of submissions")
    else:
        items = [_loads(line) for line in raw.splitlines() if line.strip()]
    if not items:
        raise bad_request("the batch is empty")
    if len(items) > settings.max_batch_items:
        raise ApiError(413, "batch_too_large",
                       f"{len(items)} items; a batch holds at most {settings.max_batch_items}")
    clean: list[NewSubmission] = []
    seen: set[str] = set()
    for index, item in enumerate(items):
        try:
            clean.append(submission(item, settings))
        except ValueError as exc:
            raise ApiError(400, "invalid_item", f"item {index}: {exc}", index=index) from None
        external_id = clean[-1].external_id
        if external_id is not None:
            if external_id in seen:
                raise ApiError(400, "invalid_item", f"item {index}: external_id {external_id!r} "
                               "appears twice in the batch", index=index)
            seen.add(external_id)
    return clean


def submission_id(value: str) -> str:
    if not ID_RE.match(value):
        raise bad_request(f"malformed submission id {value[:40]!r}: expected 32 hex characters")
    return value
