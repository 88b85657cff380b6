"""The command line: real subprocesses, one-line errors, non-zero exits."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest


def cvqueue(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "shared.cli", *args], capture_output=True,
                          text=True, timeout=timeout)


def test_generate_writes_the_dataset(tmp_path: Path) -> None:
    out = tmp_path / "d.json"
    done = cvqueue("generate", "--n", "50", "--seed", "42", "--out", str(out))
    assert done.returncode == 0, done.stderr
    assert len(json.loads(out.read_text())) == 50
    assert "rule ceiling accuracy" in done.stdout


@pytest.mark.parametrize(("content", "message"), [
    (None, "no such file"),
    ("", "the file is empty"),
    ("[{", "malformed JSON"),
    (json.dumps([{"cv": "a", "result": "A"}, {"cv": "b", "result": "A"}]), "only one class"),
    (json.dumps([{"cv": "a"}]), "no field 'result'"),
])
def test_train_bad_input_is_one_line_and_exit_2(tmp_path: Path, content: str | None,
                                                message: str) -> None:
    data = tmp_path / "d.json"
    if content is not None:
        data.write_text(content)
    out = tmp_path / "out"
    done = cvqueue("train", "--data", str(data), "--out", str(out))
    assert done.returncode == 2
    assert done.stderr.startswith("error: ") and message in done.stderr
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
    assert not out.exists()


def test_predict_and_evaluate(artifacts: Path, dataset: Path) -> None:
    done = cvqueue("predict", "--artifacts", str(artifacts), "--k", "2",
                   "Backend Developer, 7 years, Node.js, PostgreSQL, Redis, REST APIs")
    assert done.returncode == 0, done.stderr
    assert "label:" in done.stdout and "P(Accepted)" in done.stdout and "ref-" in done.stdout
    done = cvqueue("evaluate", "--data", str(dataset), "--artifacts", str(artifacts))
    assert done.returncode == 0, done.stderr
    for name in ("random_forest", "svm", "mlp"):
        assert name in done.stdout


def test_tampered_artifacts_are_a_one_line_error(artifacts: Path, tmp_path: Path) -> None:
    copy = tmp_path / "a"
    shutil.copytree(artifacts, copy)
    with (copy / "svm_model.pkl").open("ab") as fh:
        fh.write(b"x")
    done = cvqueue("predict", "--artifacts", str(copy), "some cv text")
    assert done.returncode == 2
    assert done.stderr.startswith("error: ") and "SHA-256 does not match" in done.stderr
    assert done.stderr.count("\n") == 1


def test_evaluate_rejects_unknown_labels(artifacts: Path, tmp_path: Path) -> None:
    data = tmp_path / "other.json"
    data.write_text(json.dumps([{"cv": "x y z", "result": "Maybe"}]))
    done = cvqueue("evaluate", "--data", str(data), "--artifacts", str(artifacts))
    assert done.returncode == 2 and "not among the trained labels" in done.stderr
