"""The scikit-learn classifiers as ONNX: written by training beside their pickles, the same
probabilities, served by workers when the manifest records them (tests/test_onnx.py: a
changed one is refused, and a worker serving one never imports scikit-learn)."""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

import numpy as np
import pytest

from models import artifacts as art
from models.features import reference_features
from models.onnx_classifier import OnnxClassifier, export_classifier
from models.runtime import ModelRuntime, TreeAverage, load_classifier, unpickle_classifier
from shared.errors import ArtifactError


def training_rows(runtime: ModelRuntime, folder: Path) -> np.ndarray:
    """Every record's features, from the training run's own vectors."""
    metadata = json.loads((folder / art.METADATA).read_text(encoding="utf-8"))
    return reference_features(runtime.reference, metadata, runtime.requirements)


@pytest.mark.parametrize("name", ["random_forest", "svm"])
def test_training_writes_the_onnx_export_with_the_pickles_probabilities(
        artifacts: Path, name: str) -> None:
    manifest = art.read_manifest(artifacts)
    filename = art.CLASSIFIER_ONNX_FILES[name]
    assert manifest["files"][filename] == art.sha256_file(artifacts / filename)
    runtime = ModelRuntime(artifacts, name)
    served = runtime.classifier(name)
    assert isinstance(served, OnnxClassifier)
    x = training_rows(runtime, artifacts)
    expected = unpickle_classifier(artifacts, name).predict_proba(x)
    np.testing.assert_allclose(served.predict_proba(x), expected, atol=1e-5)
    assert (served.predict_proba(x).argmax(axis=1) == expected.argmax(axis=1)).all()


def test_an_export_that_would_answer_differently_is_not_written(
        artifacts: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    runtime = ModelRuntime(artifacts)
    x = training_rows(runtime, artifacts)[:50]
    forest = unpickle_classifier(artifacts, "random_forest")
    assert export_classifier(forest, x, tmp_path / "rf.onnx") is not None
    with caplog.at_level(logging.WARNING, "cvqueue.models"):
        assert export_classifier(forest, x, tmp_path / "strict.onnx", tolerance=-1.0) is None
    assert not (tmp_path / "strict.onnx").exists()
    assert "differ from the pickle's" in caplog.text


def test_a_model_skl2onnx_cannot_convert_is_not_written(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    class Unknown:
        def predict_proba(self, x: np.ndarray) -> np.ndarray:
            return np.ones((len(x), 2)) / 2

    with caplog.at_level(logging.WARNING, "cvqueue.models"):
        assert export_classifier(Unknown(), np.zeros((3, 4)), tmp_path / "u.onnx") is None
    assert not (tmp_path / "u.onnx").exists()
    assert "workers serve the pickle" in caplog.text and len(caplog.text) < 600


def without_onnx_classifiers(artifacts: Path, folder: Path) -> Path:
    """A copy of `artifacts` as trained before the classifiers' ONNX files existed."""
    shutil.copytree(artifacts, folder)
    for filename in art.CLASSIFIER_ONNX_FILES.values():
        (folder / filename).unlink()
    manifest = art.read_manifest(folder)
    art.write_manifest(folder, {k: v for k, v in manifest.items() if k != "files"})
    return folder


def test_a_folder_without_them_serves_the_pickles(artifacts: Path, tmp_path: Path) -> None:
    folder = without_onnx_classifiers(artifacts, tmp_path / "old")
    runtime = ModelRuntime(folder, "random_forest")
    assert isinstance(runtime.classifier("random_forest"), TreeAverage)
    assert not isinstance(runtime.classifier("svm"), OnnxClassifier)
    assert runtime.predict_batch(["Python developer, 5 years of Django."])[0].label


def test_a_recorded_onnx_classifier_that_is_missing_is_refused(
        artifacts: Path, tmp_path: Path) -> None:
    folder = tmp_path / "missing"
    shutil.copytree(artifacts, folder)
    (folder / "svm_model.onnx").unlink()
    with pytest.raises(ArtifactError, match="recorded in the manifest but missing"):
        load_classifier(folder, "svm", manifest=art.read_manifest(folder))
