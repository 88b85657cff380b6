"""Reading labelled CV files (JSON array, JSONL or CSV) into validated records."""

from __future__ import annotations

import csv
import hashlib
import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from shared.errors import DataError


@dataclass(frozen=True)
class LabelledData:
    records: list[dict[str, Any]]
    texts: list[str]
    labels: list[str]
    sha256: str

    @property
    def classes(self) -> list[str]:
        return sorted(set(self.labels))


def _decode(path: Path) -> tuple[str, str]:
    if not path.is_file():
        raise DataError(f"{path}: no such file")
    raw = path.read_bytes()
    if not raw.strip():
        raise DataError(f"{path}: the file is empty")
    try:
        return raw.decode("utf-8-sig"), hashlib.sha256(raw).hexdigest()
    except UnicodeDecodeError as exc:
        raise DataError(f"{path}: not UTF-8 text (bad byte at offset {exc.start})") from None


def _parse_json(path: Path, text: str) -> list[Any]:
    stripped = text.lstrip()
    if stripped.startswith("["):
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise DataError(f"{path}: malformed JSON at line {exc.lineno}: {exc.msg}") from None
        return list(data)
    rows = []
    for lineno, line in enumerate(text.splitlines(), 1):
        if line.strip():
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError as exc:
                raise DataError(f"{path}: malformed JSONL at line {lineno}: {exc.msg}") from None
    return rows


def _parse_csv(path: Path, text: str) -> list[Any]:
    try:
        reader = csv.DictReader(io.StringIO(text, newline=""), strict=True)
        rows = list(reader)
    except csv.Error as exc:
        raise DataError(f"{path}: malformed CSV: {exc}") from None
    if not reader.fieldnames:
        raise DataError(f"{path}: the CSV has no header row")
    for lineno, row in enumerate(rows, 2):
        if None in row or any(v is None for v in row.values()):
            raise DataError(f"{path}: malformed CSV: row {lineno} has the wrong number of fields")
    return rows


def read_records(path: Path) -> tuple[list[Any], str]:
    """Rows of a JSON array, JSONL or CSV file, and the file's SHA-256."""
    text, digest = _decode(path)
    is_csv = path.suffix.lower() == ".csv" or not text.lstrip().startswith(("[", "{"))
    rows = _parse_csv(path, text) if is_csv else _parse_json(path, text)
    if not rows:
        raise DataError(f"{path}: no records")
    return rows, digest


def _field(path: Path, index: int, row: Any, name: str) -> str:
    if not isinstance(row, dict):
        raise DataError(f"{path}: record {index} is not an object")
    if name not in row:
        raise DataError(f"{path}: record {index} has no field '{name}'")
    value = row[name]
    if not isinstance(value, (str, int)) or isinstance(value, bool):
        raise DataError(f"{path}: record {index} field '{name}' is not text")
    value = str(value).strip()
    if not value:
        raise DataError(f"{path}: record {index} has an empty '{name}'")
    return value


def load_labelled(path: Path, text_field: str = "cv", label_field: str = "result",
                  min_classes: int = 2) -> LabelledData:
    """Records with a non-empty text and label each; at least `min_classes` labels."""
    rows, digest = read_records(path)
    texts = [_field(path, i, row, text_field) for i, row in enumerate(rows)]
    labels = [_field(path, i, row, label_field) for i, row in enumerate(rows)]
    if len(set(labels)) < min_classes:
        raise DataError(f"{path}: only one class in '{label_field}' ({labels[0]!r}); "
                        f"training needs at least {min_classes}")
    return LabelledData(records=rows, texts=texts, labels=labels, sha256=digest)


def record_id(text: str, label: str, index: int) -> str:
    """A stable id: the same record at the same place in the same data gets the same id."""
    digest = hashlib.sha256(f"{index}\0{label}\0{text}".encode()).hexdigest()
    return f"ref-{digest[:16]}"
