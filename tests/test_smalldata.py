"""Users' own small labelled sets: 25 categories down to 2-3 records each train through the
real CLI with the real model; what was adapted is in the report; errors stay one line."""

from __future__ import annotations

import csv
import json
import random
from pathlib import Path

import numpy as np
import pytest

from models import smalldata
from tests.test_cli import cvqueue

SKILLS = ["python", "java", "sql", "excel", "design", "sales", "nursing", "teaching", "law",
          "finance", "hr", "marketing", "devops", "testing", "welding", "cooking", "driving",
          "accounting", "chemistry", "biology", "writing", "support", "security", "cloud", "art"]


def resume_file(path: Path, sizes: list[int], seed: int = 7) -> Path:
    """A CSV like public resume sets: `Resume` text, `Category` label, `sizes[i]` rows of
    category i, each CV naming its field's skill among random others."""
    rng = random.Random(seed)
    rows = []
    for i, n in enumerate(sizes):
        for _ in range(n):
            others = rng.sample(SKILLS, 4)
            rows.append({"Category": f"Category {i:02d} {SKILLS[i].title()}",
                         "Resume": f"Experienced in {SKILLS[i]} and {SKILLS[i]} projects; also "
                                   f"{', '.join(others)}. {rng.randint(1, 15)} years."})
    rng.shuffle(rows)
    with path.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=["Category", "Resume"])
        writer.writeheader()
        writer.writerows(rows)
    return path


def train(data: Path, out: Path) -> tuple[int, str, str]:
    done = cvqueue("train", "--data", str(data), "--out", str(out), "--text-field", "Resume",
                   "--label-field", "Category")
    return done.returncode, done.stdout, done.stderr


def test_166_resumes_in_25_categories_smallest_3_train_and_report(tmp_path: Path) -> None:
    sizes = [3, 3, 4] + [7] * 20 + [8, 8]  # 166 records, as in the public file that used to crash
    assert sum(sizes) == 166
    code, _, err = train(resume_file(tmp_path / "resumes.csv", sizes), tmp_path / "art")
    assert code == 0, err
    evaluation = json.loads((tmp_path / "art" / "evaluation.json").read_text())
    assert len(evaluation["labels"]) == 25 and evaluation["n_test"] >= 25
    for model in evaluation["models"]:
        assert 0 <= model["accuracy"] <= 1 and 0 <= model["macro_f1"] <= 1
    assert max(m["accuracy"] for m in evaluation["models"]) > 0.5  # it learned the skill
    report = (tmp_path / "art" / "report.md").read_text()
    assert "| accuracy | macro-F1 |" in report
    assert "## Adapted to a small data set" in report
    assert "SVM calibration with 2-fold cross-validation" in report
    for name in ("rf_model.onnx", "svm_model.onnx"):  # 25 classes export like 2
        assert (tmp_path / "art" / name).is_file(), err[-2000:]


def test_two_records_per_class_still_train(tmp_path: Path) -> None:
    code, _, err = train(resume_file(tmp_path / "tiny.csv", [2] * 25), tmp_path / "art")
    assert code == 0, err
    report = (tmp_path / "art" / "report.md").read_text()
    assert "held-out set raised from 20% to 25 records" in report
    assert "calibrated on the training records themselves" in report
    assert "fixed number of epochs" in report


def test_a_class_with_one_record_is_a_one_line_error(tmp_path: Path) -> None:
    code, _, err = train(resume_file(tmp_path / "one.csv", [1, 5, 5]), tmp_path / "art")
    assert code == 2
    assert err.strip().count("\n") == 0 and "has a single record" in err
    assert "Traceback" not in err


@pytest.mark.parametrize(("sizes", "n_test"), [([50, 50], 20), ([2] * 25, 25), ([3, 3, 4], 3)])
def test_held_out_size(sizes: list[int], n_test: int) -> None:
    labels = [f"c{i}" for i, n in enumerate(sizes) for _ in range(n)]
    assert smalldata.test_size(labels) == n_test


def test_folds_and_validation_follow_the_smallest_class() -> None:
    y = np.array([0] * 10 + [1] * 3)
    assert smalldata.calibration_folds(y) == 3
    assert smalldata.validation_size(y) == 2
    assert smalldata.validation_size(np.array([0, 0, 1])) == 0
