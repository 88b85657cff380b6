from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

from models.generator import generate, rule_ceiling, write_dataset
from models.positions import POSITIONS, rule_outcome

FIELDS = {"recruitment_date", "opening_position", "description", "requirement",
          "keywords_for_recruitment", "cv", "experience_years", "keywords_from_applicants",
          "result", "reason_for_result"}


def test_same_seed_same_bytes_and_other_seed_other_data(tmp_path: Path) -> None:
    a, b, c = tmp_path / "a.json", tmp_path / "b.json", tmp_path / "c.json"
    write_dataset(generate(300, 42), a)
    write_dataset(generate(300, 42), b)
    write_dataset(generate(300, 43), c)
    assert a.read_bytes() == b.read_bytes()
    assert a.read_bytes() != c.read_bytes()


def test_schema_positions_and_dates() -> None:
    records = generate(1500, 7)
    assert all(set(r) == FIELDS for r in records)
    assert {r["opening_position"] for r in records} == {p.title for p in POSITIONS}
    assert len(POSITIONS) == 15
    assert all("2020-01-01" <= r["recruitment_date"] <= "2026-12-31" for r in records)
    assert all(r["result"] in ("Accepted", "Rejected") for r in records)
    assert all(r["requirement"].split("+")[0].isdigit() for r in records)


def test_classes_roughly_balanced() -> None:
    counts = Counter(r["result"] for r in generate(4000, 11))
    assert 0.4 < counts["Accepted"] / 4000 < 0.6


def test_cv_texts_vary_in_length_and_wording() -> None:
    records = generate(2000, 5)
    words = [len(r["cv"].split()) for r in records]
    assert min(words) < 30 and max(words) > 200
    openings = Counter(r["cv"].split(" ")[0] for r in records)
    assert len(openings) > 20  # many different first words: several templates and names
    assert len({r["cv"] for r in records}) == len(records)


def test_outcome_follows_the_rule_with_noise() -> None:
    records = generate(4000, 9)
    ceiling = rule_ceiling(records)
    assert ceiling is not None and 0.88 < ceiling < 0.96  # ~8% label noise
    agree = [rule_outcome(r["opening_position"], r["experience_years"],
                          r["keywords_from_applicants"]) == r["result"] for r in records]
    assert sum(agree) / len(agree) == ceiling


def test_ceiling_is_none_for_foreign_data() -> None:
    assert rule_ceiling([{"cv": "x", "result": "A"}]) is None


def test_file_is_a_json_array(tmp_path: Path) -> None:
    path = tmp_path / "d.json"
    write_dataset(generate(5, 1), path)
    assert len(json.loads(path.read_text())) == 5
