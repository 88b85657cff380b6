"""Training on generated data with the real MiniLM model, and the runtime loader."""

from __future__ import annotations

import csv
import json
import pickle
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from models import artifacts as art
from models.generator import generate
from models.report import Scores
from models.runtime import ModelRuntime
from models.train import pick_best, train
from shared.errors import ArtifactError, DataError

EXPECTED = {art.EMBEDDINGS, art.METADATA, art.RF_MODEL, art.SVM_MODEL, art.NN_MODEL,
            art.BEST_MODEL_INFO, art.EVALUATION, art.REPORT, art.CONFUSION_PNG, art.MANIFEST,
            art.REQUIREMENTS, *art.CLASSIFIER_ONNX_FILES.values()}


@pytest.fixture(scope="module")
def runtime(artifacts: Path) -> ModelRuntime:
    return ModelRuntime(artifacts)


def test_artifacts_complete_and_hashed(artifacts: Path) -> None:
    assert {p.name for p in artifacts.iterdir()} == EXPECTED
    manifest = json.loads((artifacts / art.MANIFEST).read_text())
    assert set(manifest["files"]) == EXPECTED - {art.MANIFEST}
    for name, digest in manifest["files"].items():
        assert art.sha256_file(artifacts / name) == digest
    assert manifest["labels"] == ["Accepted", "Rejected"]
    assert manifest["embedding_dim"] == 384
    assert manifest["embedding_model"].endswith("all-MiniLM-L6-v2")
    assert len(manifest["data_sha256"]) == 64 and manifest["code_version"]


def test_embeddings_align_with_metadata(artifacts: Path) -> None:
    embeddings = torch.load(artifacts / art.EMBEDDINGS, weights_only=True)
    metadata = json.loads((artifacts / art.METADATA).read_text())
    assert tuple(embeddings.shape) == (240, 384)
    assert len({m["id"] for m in metadata}) == 240
    assert np.allclose(torch.linalg.norm(embeddings, dim=1).numpy(), 1.0, atol=1e-4)


def test_the_best_by_macro_f1_wins_and_a_tie_goes_to_the_cheapest_to_serve() -> None:
    def scores(**f1: float) -> list[Scores]:
        return [Scores(name, 0.0, value, {}, []) for name, value in f1.items()]

    assert pick_best(scores(random_forest=0.91, svm=0.90, mlp=0.89)) == "random_forest"
    assert pick_best(scores(random_forest=0.9, svm=0.9, mlp=0.9)) == "svm"
    assert pick_best(scores(random_forest=0.9, svm=0.8, mlp=0.9)) == "mlp"


def test_report_is_consistent_with_evaluation(artifacts: Path) -> None:
    evaluation = json.loads((artifacts / art.EVALUATION).read_text())
    best = json.loads((artifacts / art.BEST_MODEL_INFO).read_text())
    models = {m["model"]: m for m in evaluation["models"]}
    assert set(models) == {"random_forest", "svm", "mlp"}
    assert best["best_model"] == pick_best([Scores(m, 0, f["macro_f1"], {}, [])
                                             for m, f in models.items()])
    report = (artifacts / art.REPORT).read_text()
    for name, m in models.items():
        assert f"| {name} | {m['accuracy']:.4f} | {m['macro_f1']:.4f} |" in report
        assert sum(map(sum, m["confusion"])) == evaluation["n_test"] == 48
    assert evaluation["ceiling_accuracy"] is not None and "ceiling" in report
    assert (artifacts / art.CONFUSION_PNG).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # The requirement features make the models useful even on 192 training records.
    assert models[best["best_model"]]["accuracy"] > 0.7


def test_predict_batch(runtime: ModelRuntime, artifacts: Path) -> None:
    metadata = json.loads((artifacts / art.METADATA).read_text())
    texts = [metadata[0]["text"], "Frontend Developer with 5 years. Skilled in React, CSS, HTML."]
    predictions = runtime.predict_batch(texts, k=3)
    assert len(predictions) == 2
    for p in predictions:
        assert p.label in runtime.labels
        assert abs(sum(p.probabilities.values()) - 1) < 1e-5
        assert p.label == max(p.probabilities, key=lambda lab: p.probabilities[lab])
        sims = [n.similarity for n in p.neighbours]
        assert len(sims) == 3 and sims == sorted(sims, reverse=True)
    first = predictions[0].neighbours[0]
    assert first.reference_id == metadata[0]["id"] and first.similarity > 0.999
    assert first.label == metadata[0]["label"]


def test_configured_classifier_overrides_best(artifacts: Path) -> None:
    for name in ("random_forest", "svm", "mlp"):
        rt = ModelRuntime(artifacts, classifier=name)
        assert rt.predict_batch(["QA Engineer, 3 years, Selenium"], k=1)[0].classifier == name
    with pytest.raises(ArtifactError, match="unknown classifier"):
        ModelRuntime(artifacts, classifier="xgboost")


def test_tampered_pickle_is_refused_before_unpickling(artifacts: Path, tmp_path: Path) -> None:
    copy = tmp_path / "copy"
    shutil.copytree(artifacts, copy)
    canary = tmp_path / "pwned"

    class Evil:
        def __reduce__(self) -> tuple[object, tuple[str]]:
            return (canary.write_text, ("unpickled",))

    (copy / art.RF_MODEL).write_bytes(pickle.dumps(Evil()))
    with pytest.raises(ArtifactError, match=r"rf_model.pkl: SHA-256 does not match"):
        ModelRuntime(copy, classifier="random_forest")
    assert not canary.exists()


def test_incomplete_or_unreadable_folder_is_refused(artifacts: Path, tmp_path: Path) -> None:
    copy = tmp_path / "copy"
    shutil.copytree(artifacts, copy)
    (copy / art.NN_MODEL).unlink()
    with pytest.raises(ArtifactError, match=r"missing nn_model\.pt"):
        ModelRuntime(copy)
    with pytest.raises(ArtifactError, match="no such artifacts folder"):
        ModelRuntime(tmp_path / "nowhere")


def test_multiclass_csv_trains_and_predicts(tmp_path: Path) -> None:
    """A user's own file: CSV, other field names, three classes, no requirement fields."""
    wanted = ("Accountant", "DevOps Engineer", "UX/UI Designer")
    rows = [r for r in generate(400, 21) if r["opening_position"] in wanted][:75]
    path = tmp_path / "jobs.csv"
    with path.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["resume", "category"])
        writer.writerows((r["cv"], r["opening_position"]) for r in rows)
    result = train(path, tmp_path / "out", text_field="resume", label_field="category",
                   progress=False)
    assert result.ceiling is None
    manifest = json.loads((tmp_path / "out" / art.MANIFEST).read_text())
    assert manifest["labels"] == sorted(wanted) and manifest["features"] == "embedding"
    rt = ModelRuntime(tmp_path / "out")
    p = rt.predict_batch(["Kubernetes, Terraform and CI/CD pipelines on AWS for 6 years."])[0]
    assert set(p.probabilities) == set(wanted)
    assert p.label == "DevOps Engineer"


def test_failed_training_leaves_no_half_written_folder(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps([{"cv": "a", "result": "X"}, {"cv": "b", "result": "Y"}]))
    out = tmp_path / "out"
    with pytest.raises(DataError, match="single record"):
        train(bad, out, progress=False)
    assert not out.exists()
    assert list(tmp_path.iterdir()) == [bad]


def test_the_served_forest_gives_sklearn_probabilities(artifacts: Path) -> None:
    """Workers average the trees themselves (no joblib dispatch per call): the same values."""
    from models.runtime import TreeAverage, load_classifier

    with (artifacts / art.RF_MODEL).open("rb") as fh:
        forest = pickle.load(fh)  # the test's own artifacts, hashed by this run
    served = load_classifier(artifacts, "random_forest")
    assert isinstance(served, TreeAverage)
    x = np.random.default_rng(0).normal(size=(37, forest.n_features_in_))
    np.testing.assert_allclose(served.predict_proba(x), forest.predict_proba(x), rtol=1e-6)
