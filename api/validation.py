"""Request bodies in, clean submissions out; every failure says what is wrong."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

import ijson.backends.python as ijson_python
from ijson.common import JSONError
from werkzeug.datastructures import FileStorage, MultiDict

from api.errors import ApiError, bad_request
from api.files import upload_text
from shared.config import Settings

ID_RE = re.compile(r"[0-9a-f]{32}")
#: ASCII digits only: str.isdigit() also accepts superscripts and other scripts' digits.
DIGITS = re.compile(r"[0-9]{1,19}")
FIELDS = {"cv", "position", "external_id"}
FORM_FIELDS = {"file", "position", "external_id"}
MAX_SHORT = 200
#: No field holds a number; a longer one is refused before Python converts it.
MAX_NUMBER_CHARS = 20


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
    if not value.strip() and (required or value == ""):
        raise ValueError(f"'{name}' is empty" + ("" if required else "; leave it out instead"))
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
    if not any(ch.isalpha() for ch in cv):
        raise ValueError("'cv' contains no letters (only spaces, digits, symbols, emoji or "
                         "invisible characters)")
    return NewSubmission(cv, _text(item.get("position"), "position", MAX_SHORT, False),
                         _text(item.get("external_id"), "external_id", MAX_SHORT, False))


class DuplicateKey(ValueError):
    pass


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    seen: dict[str, Any] = {}
    for key, value in pairs:
        if key in seen:
            raise DuplicateKey(key)
        seen[key] = value
    return seen


def _number(text: str) -> float:
    if len(text) > MAX_NUMBER_CHARS:
        raise ValueError("number too long")
    return float(text)


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _loads(text: str) -> Any:
    try:
        return json.loads(text, object_pairs_hook=_unique_keys, parse_int=_number,
                          parse_float=_number, parse_constant=_refuse_constant)
    except DuplicateKey as exc:
        raise bad_request(f"duplicate key {str(exc)[:40]!r} in a JSON object") from None
    except (ValueError, RecursionError):
        raise bad_request("the body is not valid JSON") from None


def _check_shape(raw: bytes, item_depth: int, max_items: int, many: bool = False) -> None:
    """Walk the JSON events (ijson) and stop at the first thing no submission
    body can hold: more than `max_items` items, a container inside an item, more fields
    than an item has. So no body costs more than a walk over its first few thousand
    events, whatever its size (a 32 MiB array of empty arrays used to take 8.5 s and
    950 MB to parse before being refused). `many`: values one after another (NDJSON)."""
    depth = items = keys = 0
    try:
        # The pure-Python backend: the C one segfaults on a number of ~5,000 digits, and the
        # walk stops within a few thousand events anyway.
        for _, event, _ in ijson_python.parse(raw, multiple_values=many):
            if event in ("end_map", "end_array"):
                depth -= 1
                continue
            if depth == item_depth - 1:  # a value starts at the items' level
                items += 1
                if items > max_items:
                    raise ApiError(413, "batch_too_large", f"more than {max_items} items; "
                                   f"a batch holds at most {max_items}")
            if event in ("start_map", "start_array"):
                depth, keys = depth + 1, 0
                if depth > item_depth:
                    raise bad_request("a field's value must be a string or null, not an "
                                      "array or object")
            elif event == "map_key":
                keys += 1
                if keys > len(FIELDS):
                    raise bad_request(f"an item has more than {len(FIELDS)} fields "
                                      f"({', '.join(sorted(FIELDS))})")
    except JSONError:
        raise bad_request("the body is not valid JSON") from None


def _decode(raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise bad_request("the body is not UTF-8") from None


def _require_json(content_type: str | None, allowed: tuple[str, ...],
                  accepted: tuple[str, ...] = ()) -> str:
    mime = (content_type or "").split(";")[0].strip().lower()
    if mime not in allowed:
        raise ApiError(415, "unsupported_media_type", f"Content-Type must be "
                       f"{' or '.join(accepted or allowed)}, not {mime or 'missing'!r}")
    return mime


def single_body(raw: bytes, content_type: str | None, settings: Settings) -> NewSubmission:
    _require_json(content_type, ("application/json",), ("application/json", "multipart/form-data"))
    text = _decode(raw)
    _check_shape(raw, item_depth=1, max_items=1)
    try:
        return submission(_loads(text), settings)
    except ValueError as exc:
        raise bad_request(str(exc)) from None


def batch_body(raw: bytes, content_type: str | None, settings: Settings) -> list[NewSubmission]:
    mime = _require_json(content_type, ("application/json", "application/x-ndjson"))
    text = _decode(raw)
    if mime == "application/json":
        if not text.lstrip().startswith("["):
            raise bad_request("a batch must be a JSON array of submissions")
        _check_shape(raw, item_depth=2, max_items=settings.max_batch_items)
        items = _loads(text)
    else:
        _check_shape(raw, item_depth=1, max_items=settings.max_batch_items, many=True)
        items = [_loads(line) for line in text.splitlines() if line.strip()]
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


def _form_value(form: MultiDict[str, str], name: str) -> str | None:
    values = form.getlist(name)
    if len(values) > 1:
        raise bad_request(f"form field '{name}' appears {len(values)} times")
    return values[0] if values and values[0] != "" else None  # an empty form field: absent


def file_body(files: MultiDict[str, FileStorage], form: MultiDict[str, str],
              settings: Settings) -> NewSubmission:
    """A multipart submission: one `file` part (PDF, DOCX or text), `position` and
    `external_id` as optional form fields."""
    # A part whose name werkzeug cannot read comes back under the key None.
    unknown = sorted(str(k) for k in (set(form) | set(files)) - FORM_FIELDS)
    if unknown:
        raise bad_request(f"unknown form field '{unknown[0][:40]}' (allowed: "
                          f"{', '.join(sorted(FORM_FIELDS))})")
    uploads = files.getlist("file")
    if len(uploads) != 1:
        raise bad_request(f"send exactly one 'file' part, got {len(uploads)}")
    text = upload_text(uploads[0], settings)
    try:
        return submission({"cv": text,
                           "position": _form_value(form, "position"),
                           "external_id": _form_value(form, "external_id")}, settings)
    except ValueError as exc:
        raise bad_request(str(exc)) from None


def int_param(args: MultiDict[str, str], name: str, default: int, low: int, high: int) -> int:
    """A query parameter that must be ASCII digits from `low` to `high`, else a 400."""
    raw = args.get(name)
    if raw is None:
        return default
    if not DIGITS.fullmatch(raw) or not low <= int(raw) <= high:
        raise bad_request(f"'{name}' must be a whole number from {low} to {high}")
    return int(raw)


def submission_id(value: str) -> str:
    if not ID_RE.fullmatch(value):
        raise bad_request(f"malformed submission id {value[:40]!r}: expected 32 hex characters")
    return value
