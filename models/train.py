"""`cvqueue train`: embed, split, fit RF / SVM / MLP, evaluate, write artifacts atomically."""

from __future__ import annotations

import json
import pickle
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from sklearn.calibration import CalibratedClassifierCV
from sklearn.ensemble import RandomForestClassifier
from sklearn.model_selection import train_test_split
from sklearn.svm import LinearSVC

from models import artifacts as art
from models import smalldata
from models.data import LabelledData, load_labelled, record_id
from models.embedder import Embedder
from models.features import FEATURE_SETS, POSITION_FIELD, Requirements, featurize
from models.generator import rule_ceiling
from models.mlp import MlpClassifier, MlpShape
from models.onnx_classifier import export_classifiers
from models.report import Scores, markdown_report, plot_confusions, score
from shared.errors import DataError
from shared.version import CODE_VERSION

SEED = 42
#: On equal macro-F1, the cheapest classifier to serve goes first. Measured per micro-batch
#: of 64 in a worker process (one thread, ONNX classifiers, 2026-12-07): classify + top-k
#: and the explanations' classifier call 0.012 + 0.015 s for the SVM, 0.012 + 0.026 for the
#: MLP, 0.013 + 0.034 for the forest, against an encode of 0.73.
SERVING_COST_ORDER = ("svm", "mlp", "random_forest")


@dataclass
class TrainResult:
    out: Path
    best: str
    scores: list[Scores]
    ceiling: float | None
    embedding_seconds: float


def choose_features(data: LabelledData, wanted: str) -> tuple[Requirements | None, str]:
    """`auto` uses the requirement features when the data carries the requirement fields."""
    if wanted not in (*FEATURE_SETS, "auto"):
        raise DataError(f"unknown features {wanted!r}; choose auto, {', '.join(FEATURE_SETS)}")
    requirements = None if wanted == "embedding" else Requirements.from_records(data.records)
    if wanted == "embedding+requirements" and requirements is None:
        raise DataError("the data lacks the opening_position / requirement / "
                        "keywords_for_recruitment fields that embedding+requirements needs")
    return requirements, ("embedding" if requirements is None else "embedding+requirements")


def positions_of(records: Sequence[object]) -> list[str | None]:
    return [r.get(POSITION_FIELD) if isinstance(r, dict) else None for r in records]


def pick_best(scores: Sequence[Scores]) -> str:
    """The best by macro-F1; of those tied with it, the cheapest to serve."""
    top = max(s.macro_f1 for s in scores)
    tied = {s.model for s in scores if s.macro_f1 == top}
    return next(name for name in SERVING_COST_ORDER if name in tied)


def fit_classifiers(x: np.ndarray, y: np.ndarray, n_classes: int,
                    seed: int) -> dict[str, tuple[Any, float]]:
    """Each classifier with its training time in seconds."""
    fitted: dict[str, tuple[Any, float]] = {}
    makers = {
        "random_forest": lambda: RandomForestClassifier(
            n_estimators=100, n_jobs=-1, random_state=seed).fit(x, y),
        "svm": lambda: calibrated_svm(x, y, seed),
        "mlp": lambda: MlpClassifier(MlpShape(
            input_dim=x.shape[1], hidden=256, n_classes=n_classes, dropout=0.3)).fit(
                x, y, seed, validation=smalldata.validation_size(y)),
    }
    for name, make in makers.items():
        started = time.perf_counter()
        fitted[name] = (make(), time.perf_counter() - started)
    return fitted


def calibrated_svm(x: np.ndarray, y: np.ndarray, seed: int) -> CalibratedClassifierCV:
    """A linear SVM with probabilities (sigmoid calibration), as many folds as data allows."""
    folds = smalldata.calibration_folds(y)
    everything = np.arange(len(y))
    # Below 2 folds, one "split" that fits and calibrates on all the training records.
    cv: Any = folds if folds >= 2 else [(everything, everything)]
    return CalibratedClassifierCV(LinearSVC(C=1.0, random_state=seed), cv=cv).fit(x, y)


def write_artifacts(stage: Path, data: LabelledData, labels: list[str], x: np.ndarray,
                    embeddings: np.ndarray, fitted: dict[str, tuple[Any, float]],
                    scores: list[Scores], best: str, info: dict[str, Any]) -> None:
    torch.save(torch.from_numpy(embeddings), stage / art.EMBEDDINGS)
    metadata = [{"id": record_id(text, label, i), "label": label, "text": text,
                 "record": row if isinstance(row, dict) else {}}
                for i, (text, label, row) in enumerate(zip(data.texts, data.labels, data.records,
                                                           strict=True))]
    (stage / art.METADATA).write_text(json.dumps(metadata, ensure_ascii=False), encoding="utf-8")
    for name in ("random_forest", "svm"):
        with (stage / art.CLASSIFIER_FILES[name]).open("wb") as fh:
            pickle.dump(fitted[name][0], fh, protocol=pickle.HIGHEST_PROTOCOL)
    fitted["mlp"][0].save(stage / art.NN_MODEL)
    # Each scikit-learn classifier beside its pickle as ONNX, checked on every record.
    export_classifiers(stage, {n: fitted[n][0] for n in art.CLASSIFIER_ONNX_FILES}, x)
    by_name = {s.model: s for s in scores}
    best_info = {"best_model": best, "selected_by": "macro_f1, then the cost to serve",
                 "scores": {s.model: {"accuracy": s.accuracy, "macro_f1": s.macro_f1}
                            for s in scores},
                 "best_macro_f1": by_name[best].macro_f1}
    (stage / art.BEST_MODEL_INFO).write_text(json.dumps(best_info, indent=2) + "\n")
    (stage / art.EVALUATION).write_text(json.dumps(
        {**info, "labels": labels, "models": [s.to_json() for s in scores]}, indent=2) + "\n")
    plot_confusions(scores, labels, stage / art.CONFUSION_PNG)
    (stage / art.REPORT).write_text(markdown_report(scores, best, labels, info), encoding="utf-8")
    art.write_manifest(stage, {
        "labels": labels, "embedding_model": Embedder.name, "embedding_dim": int(embeddings.shape[1]),
        "features": info["features"], "text_field": info["text_field"],
        "label_field": info["label_field"], "data_sha256": data.sha256,
        "code_version": CODE_VERSION, "n_records": len(data.texts)})


def train(data_path: Path, out: Path, text_field: str = "cv", label_field: str = "result",
          features: str = "auto", seed: int = SEED, progress: bool = True,
          embedder: Embedder | None = None) -> TrainResult:
    data = load_labelled(data_path, text_field, label_field)
    n_test = smalldata.test_size(data.labels)
    requirements, features = choose_features(data, features)
    labels = data.classes
    y = np.array([labels.index(label) for label in data.labels])
    embedder = embedder or Embedder()
    started = time.perf_counter()
    embeddings = embedder.encode(data.texts, progress=progress)
    embedding_seconds = time.perf_counter() - started
    x = featurize(embeddings, data.texts, positions_of(data.records), requirements)
    train_idx, test_idx = train_test_split(
        np.arange(len(y)), test_size=n_test, random_state=seed, stratify=y)
    fitted = fit_classifiers(x[train_idx], y[train_idx], len(labels), seed)
    scores = [score(name, labels, y[test_idx], model.predict_proba(x[test_idx]).argmax(axis=1),
                    seconds) for name, (model, seconds) in fitted.items()]
    best = pick_best(scores)
    baseline = []
    if requirements is not None:  # the same three on embeddings alone, for the report
        plain = fit_classifiers(embeddings[train_idx], y[train_idx], len(labels), seed)
        baseline = [score(f"{name} (embedding only)", labels, y[test_idx],
                          model.predict_proba(embeddings[test_idx]).argmax(axis=1), seconds)
                    for name, (model, seconds) in plain.items()]
    ceiling = rule_ceiling([data.records[i] for i in test_idx])
    info = {"data": str(data_path), "n_records": len(y), "n_test": len(test_idx), "seed": seed,
            "data_sha256": data.sha256, "embedding_model": Embedder.name,
            "embedding_seconds": embedding_seconds, "features": features,
            "text_field": text_field, "label_field": label_field, "ceiling_accuracy": ceiling,
            "baseline_embedding_only": [b.to_json() for b in baseline],
            "adaptations": smalldata.adaptations(len(y), n_test, y[train_idx]),
            "test_ids": [record_id(data.texts[i], data.labels[i], int(i)) for i in test_idx]}
    with art.staged_folder(out) as stage:
        if requirements is not None:
            requirements.save(stage / art.REQUIREMENTS)
        write_artifacts(stage, data, labels, x, embeddings, fitted, scores, best, info)
    return TrainResult(out=out, best=best, scores=scores, ceiling=ceiling,
                       embedding_seconds=embedding_seconds)
