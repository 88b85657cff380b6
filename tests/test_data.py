"""Every bad training input is a DataError that names the problem."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from models.data import load_labelled
from shared.errors import DataError


def write(tmp_path: Path, name: str, content: str | bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    return path


def good_rows(n: int = 4) -> list[dict[str, str]]:
    return [{"cv": f"text {i}", "result": "A" if i % 2 else "B"} for i in range(n)]


def test_reads_json_array_jsonl_and_csv(tmp_path: Path) -> None:
    rows = good_rows()
    as_json = write(tmp_path, "a.json", json.dumps(rows))
    as_jsonl = write(tmp_path, "a.jsonl", "\n".join(json.dumps(r) for r in rows))
    as_csv = write(tmp_path, "a.csv", "cv,result\n" + "".join(f'"{r["cv"]}",{r["result"]}\n'
                                                              for r in rows))
    for path in (as_json, as_jsonl, as_csv):
        data = load_labelled(path)
        assert data.texts == [r["cv"] for r in rows]
        assert data.classes == ["A", "B"]


@pytest.mark.parametrize(("name", "content", "message"), [
    ("empty.json", "", "empty"),
    ("blank.json", "  \n", "empty"),
    ("bad.json", '[{"cv": "x", "result": "A"},', "malformed JSON"),
    ("bad.jsonl", '{"cv": "x", "result": "A"}\n{"cv": ', "malformed JSONL at line 2"),
    ("bad.csv", 'cv,result\n"x,A\n', "malformed CSV"),
    ("short.csv", "cv,result\nx\n", "wrong number of fields"),
    ("nocv.json", json.dumps([{"text": "x", "result": "A"}]), "no field 'cv'"),
    ("nolabel.json", json.dumps([{"cv": "x"}]), "no field 'result'"),
    ("one.json", json.dumps([{"cv": "x", "result": "A"}, {"cv": "y", "result": "A"}]),
     "only one class"),
    ("emptytext.json", json.dumps([{"cv": " ", "result": "A"}, {"cv": "y", "result": "B"}]),
     "empty 'cv'"),
    ("nontext.json", json.dumps([{"cv": ["x"], "result": "A"}]), "not text"),
    ("latin1.json", b'[{"cv": "caf\xe9", "result": "A"}]', "not UTF-8"),
    ("noarray.json", json.dumps([]), "no records"),
    ("notobj.json", json.dumps(["x", "y"]), "not an object"),
])
def test_bad_input(tmp_path: Path, name: str, content: str | bytes, message: str) -> None:
    with pytest.raises(DataError, match=message) as info:
        load_labelled(write(tmp_path, name, content))
    assert "\n" not in str(info.value)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="no such file"):
        load_labelled(tmp_path / "nope.json")


def test_custom_fields(tmp_path: Path) -> None:
    rows = [{"resume": f"t{i}", "category": f"c{i % 3}"} for i in range(6)]
    data = load_labelled(write(tmp_path, "x.json", json.dumps(rows)), "resume", "category")
    assert data.classes == ["c0", "c1", "c2"]
