"""What a worker holds: verified artifacts, the embedder and one batch call."""

from __future__ import annotations

import json
import logging
import pickle
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from models import artifacts as art
from models.embedder import Embedder
from models.explain import Explainer
from models.features import FEATURE_SETS, Requirements, featurize
from models.neighbours import ExactSearch, HnswSearch, NeighbourSearch
from shared.errors import ArtifactError

log = logging.getLogger("cvqueue.models")


class ProbabilisticClassifier(Protocol):
    def predict_proba(self, x: np.ndarray) -> np.ndarray: ...


@dataclass(frozen=True)
class Neighbour:
    reference_id: str
    similarity: float
    label: str


@dataclass(frozen=True)
class Prediction:
    label: str
    probabilities: dict[str, float]
    classifier: str
    neighbours: list[Neighbour]
    explanation: dict[str, Any] | None = None


def load_classifier(folder: Path, name: str, threads: int = 1,
                    manifest: dict[str, Any] | None = None) -> ProbabilisticClassifier:
    """Load one classifier; call only after `art.verify` accepted its file. A scikit-learn
    classifier whose ONNX export the manifest records is served from that (verified here),
    so scikit-learn is never imported; torch only for the MLP."""
    onnx_name = art.CLASSIFIER_ONNX_FILES.get(name, "")
    if manifest and onnx_name in manifest["files"]:
        from models.onnx_classifier import OnnxClassifier

        art.verify(folder, manifest, (onnx_name,))
        return OnnxClassifier(folder / onnx_name, threads)
    path = folder / art.CLASSIFIER_FILES[name]
    if name == "mlp":
        import torch

        from models.mlp import MlpClassifier

        torch.set_num_threads(threads)
        return MlpClassifier.load(path)
    model: ProbabilisticClassifier = unpickle_classifier(folder, name)
    if name == "random_forest":
        return TreeAverage(model.estimators_)  # type: ignore[attr-defined]
    if hasattr(model, "n_jobs"):
        model.n_jobs = 1  # a worker process already has its share of the cores
    return model


def unpickle_classifier(folder: Path, name: str) -> Any:
    """A scikit-learn classifier's pickle as training wrote it. Safe only after
    `art.verify` accepted the file's hash (`ModelRuntime(folder)` does)."""
    with (folder / art.CLASSIFIER_FILES[name]).open("rb") as fh:
        return pickle.load(fh)


class TreeAverage:
    """A random forest's `predict_proba` (the mean of its trees'), without the joblib
    dispatch sklearn runs even with n_jobs=1: measured 4.2 -> 0.9 ms on a micro-batch of 54
    rows and 31 -> 23 ms on the explanations' 4,536 (same values: tests/test_training.py)."""

    def __init__(self, trees: list[Any]) -> None:
        self.trees = trees

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        x = np.ascontiguousarray(x, dtype=np.float32)  # what check_input would make of it
        total = self.trees[0].predict_proba(x, check_input=False)
        for tree in self.trees[1:]:
            total += tree.predict_proba(x, check_input=False)
        return np.asarray(total / len(self.trees))


def sub_batch(encoder: str) -> int:
    """Per encoder, the sub-batch measured fastest (600 CVs, mean 110 tokens, README "Faster
    encoders"): torch at 8; the ONNX encoders one CV at a time. On one thread int8 runs 1.5x
    faster than in padded sub-batches of 8; and a CV's vector never depends on its
    batch-mates (dynamic int8 quantizes each call's activations with one range, padding
    included), so it is the vector the export computed for the references."""
    return 8 if encoder == "torch" else 1


def make_embedder(folder: Path, encoder: str, threads: int, batch_size: int = 0) -> Any:
    """The encoder a worker serves with (`batch_size` 0: `sub_batch`'s); call after its
    file was verified."""
    batch_size = batch_size or sub_batch(encoder)
    if encoder == "torch":
        return Embedder(threads=threads, batch_size=batch_size)
    from models.onnx_encoder import OnnxEmbedder

    return OnnxEmbedder(folder / art.ONNX_FILES[encoder], threads=threads, batch_size=batch_size)


class ModelRuntime:
    """Loaded once per worker process; `predict_batch` is the whole hot path."""

    def __init__(self, folder: Path, classifier: str | None = None,
                 embedder: Embedder | None = None, encoder: str = "torch", threads: int = 1,
                 encode_batch: int = 0, ann_threshold: int = 100_000) -> None:
        manifest = art.read_manifest(folder)
        art.verify(folder, manifest)
        extra = art.encoder_files(encoder)
        if any(not (folder / name).is_file() for name in extra):
            raise ArtifactError(f"{folder}: no {encoder} encoder files; run "
                                f"`cvqueue export-onnx --artifacts {folder}` first")
        art.verify(folder, manifest, extra)
        self.encoder = encoder
        best = json.loads((folder / art.BEST_MODEL_INFO).read_text())["best_model"]
        self.classifier_name = classifier or best
        if self.classifier_name not in art.CLASSIFIER_FILES:
            raise ArtifactError(f"unknown classifier {self.classifier_name!r}; choose one of "
                                f"{', '.join(art.CLASSIFIER_FILES)}")
        self.folder = folder
        self.labels: list[str] = list(manifest["labels"])
        self.features: str = manifest.get("features", "embedding")
        if self.features not in FEATURE_SETS:
            raise ArtifactError(f"{folder}: unknown feature set {self.features!r}")
        self.requirements: Requirements | None = None
        if self.features == "embedding+requirements":
            art.verify(folder, manifest, (art.REQUIREMENTS,))
            self.requirements = Requirements.load(folder / art.REQUIREMENTS)
        self.model_version = art.sha256_file(folder / art.MANIFEST)[:12]
        metadata = json.loads((folder / art.METADATA).read_text(encoding="utf-8"))
        self.reference_ids = [m["id"] for m in metadata]
        self.reference_labels = [m["label"] for m in metadata]
        self.reference = art.load_references(folder, encoder)
        if self.reference.shape[0] != len(metadata):
            raise ArtifactError(f"{folder}: {art.reference_file(encoder)} and {art.METADATA} "
                                "disagree in length")
        self.search = self._neighbour_search(manifest, ann_threshold, threads)
        self.explainer = Explainer(self.requirements, self.reference, metadata)
        self.threads = threads
        self.manifest = manifest
        self.classifiers = {self.classifier_name: load_classifier(
            folder, self.classifier_name, threads, manifest)}
        self.embedder = embedder or make_embedder(folder, encoder, threads, encode_batch)
        self.last_timings: dict[str, float] = {}

    def classifier(self, name: str) -> ProbabilisticClassifier:
        if name not in self.classifiers:
            self.classifiers[name] = load_classifier(self.folder, name, self.threads,
                                                     self.manifest)
        return self.classifiers[name]

    def warmup(self) -> None:
        self.predict_batch(["warm-up"], k=1)

    def probabilities(self, embeddings: np.ndarray, texts: list[str],
                      positions: list[str | None] | None = None,
                      classifier: str | None = None) -> np.ndarray:
        x = featurize(embeddings, texts, positions, self.requirements)
        return self.classifier(classifier or self.classifier_name).predict_proba(x)

    def _neighbour_search(self, manifest: dict[str, Any], threshold: int, threads: int
                          ) -> NeighbourSearch:
        """Exact while the references number at most `threshold`, else the HNSW index."""
        name = art.index_file(self.encoder)
        if len(self.reference) <= threshold:
            return ExactSearch(self.reference)
        if not (self.folder / name).is_file():
            log.warning("%d references but no %s (cvqueue index build): exact search",
                        len(self.reference), name)
            return ExactSearch(self.reference)
        art.verify(self.folder, manifest, (name,))
        try:
            return HnswSearch(self.folder / name, self.reference, threads)
        except ValueError as exc:
            raise ArtifactError(f"{exc}; rebuild it with `cvqueue index build`") from None

    def nearest(self, embeddings: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Top-k reference rows by cosine similarity: indices, scores."""
        return self.search.search(embeddings, k)

    def predict_batch(self, texts: list[str], k: int = 5,
                      positions: list[str | None] | None = None,
                      explain: bool = True) -> list[Prediction]:
        """One encode, one classifier call, one top-k search for the whole batch, and one
        more classifier call for the explanations' factor weights; the seconds each took are
        left in `last_timings` (encode, classify_topk, and explain: the weights and each
        CV's prediction with its explanation)."""
        started = time.perf_counter()
        embeddings = self.embedder.encode(texts)
        encoded = time.perf_counter()
        x = featurize(embeddings, texts, positions, self.requirements)
        model = self.classifier(self.classifier_name)
        probs = model.predict_proba(x)
        idx, sims = self.nearest(embeddings, k)
        classified = time.perf_counter()
        weights = (self.explainer.factor_weights(x, probs, model.predict_proba) if explain
                   else [None] * len(texts))
        given = positions or [None] * len(texts)
        predictions = [self._prediction(*row) for row in zip(texts, given, probs, idx, sims,
                                                             weights, strict=True)]
        self.last_timings = {"encode": encoded - started, "classify_topk": classified - encoded,
                             "explain": time.perf_counter() - classified}
        return predictions

    def _prediction(self, text: str, position: str | None, probs: np.ndarray, idx: np.ndarray,
                    sims: np.ndarray, weights: dict[str, float] | None) -> Prediction:
        neighbours = [Neighbour(self.reference_ids[j], round(float(s), 6), self.reference_labels[j])
                      for j, s in zip(idx, sims, strict=True)]
        explanation = None if weights is None else self.explainer.explain(
            text, position, weights,
            [(int(j), n.reference_id, n.similarity, n.label) for j, n in zip(idx, neighbours,
                                                                             strict=True)])
        return Prediction(
            label=self.labels[int(np.argmax(probs))],
            # Six places, as similarities: an ONNX classifier computes in float32, and
            # float32's 0.83 is 0.8299999833106995 once a float.
            probabilities={lab: round(float(p), 6) for lab, p in zip(self.labels, probs,
                                                                      strict=True)},
            classifier=self.classifier_name, neighbours=neighbours, explanation=explanation)

    def describe(self) -> dict[str, Any]:
        return {"classifier": self.classifier_name, "model_version": self.model_version,
                "encoder": self.encoder,
                "labels": self.labels, "references": len(self.reference_ids)}
