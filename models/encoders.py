"""`cvqueue export-onnx`: add the ONNX encoders to a trained artifacts folder.

For each encoder (`onnx`, `onnx-int8`) it writes the model file and the reference
embeddings encoded by it (so that a worker's neighbours come from the same encoder as its
queries), scores the best classifier on the training run's held-out records encoded by it,
side by side with torch's, and records every new file's hash in the manifest. A folder
trained before the classifiers' ONNX files (`models/onnx_classifier.py`) gets them too."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from models import artifacts as art
from models.features import record_position, reference_features
from models.onnx_classifier import export_classifiers
from models.onnx_encoder import OnnxEmbedder, export
from models.runtime import ModelRuntime, sub_batch, unpickle_classifier
from shared.errors import ArtifactError

ENCODERS_JSON = "encoders.json"
#: An encoder may be the default only within this much held-out accuracy of torch's.
MAX_ACCURACY_LOSS = 0.005
#: Held-out CVs every encoder's speed is timed on, the same for each.
SPEED_SAMPLE = 256


@dataclass(frozen=True)
class EncoderScore:
    encoder: str
    accuracy: float
    macro_f1: float
    cvs_per_second: float
    cosine_mean: float
    cosine_min: float

    def to_json(self) -> dict[str, Any]:
        return self.__dict__.copy()


def _held_out(folder: Path, metadata: list[dict[str, Any]]
              ) -> tuple[list[int], list[str], list[str | None], list[str]]:
    test_ids = set(json.loads((folder / art.EVALUATION).read_text())["test_ids"])
    rows = [i for i, m in enumerate(metadata) if m["id"] in test_ids]
    if not rows:
        raise ArtifactError(f"{folder}: no held-out records recorded; retrain to export")
    return (rows, [metadata[i]["text"] for i in rows],
            [record_position(metadata[i]) for i in rows],
            [metadata[i]["label"] for i in rows])


def _score(runtime: ModelRuntime, name: str, embeddings: np.ndarray, texts: list[str],
           positions: list[str | None], labels: list[str], cvs_per_second: float,
           reference: np.ndarray) -> EncoderScore:
    from models.report import score  # scikit-learn: not for a worker that only resolves `auto`

    predicted = runtime.probabilities(embeddings, texts, positions).argmax(axis=1)
    truth = np.array([runtime.labels.index(label) for label in labels])
    s = score(name, runtime.labels, truth, predicted, 0.0)
    cosine = (embeddings * reference).sum(axis=1)
    return EncoderScore(name, s.accuracy, s.macro_f1, cvs_per_second,
                        float(cosine.mean()), float(cosine.min()))


def _rate(embedder: Any, texts: list[str]) -> float:
    """CVs per second on `texts`, after a warm-up."""
    embedder.encode(texts[:8])
    started = time.perf_counter()
    embedder.encode(texts)
    return len(texts) / max(time.perf_counter() - started, 1e-9)


def pick_default(scores: list[EncoderScore]) -> str:
    """The fastest encoder whose held-out accuracy is within MAX_ACCURACY_LOSS of torch's
    (the classifiers were trained on torch's vectors)."""
    baseline = next(s.accuracy for s in scores if s.encoder == "torch")
    fit = [s for s in scores if s.accuracy >= baseline - MAX_ACCURACY_LOSS]
    return max(fit, key=lambda s: s.cvs_per_second).encoder


def default_encoder(folder: Path) -> str:
    """What `CVQ_ENCODER=auto` serves with: the export's pick, or torch without one."""
    path = folder / ENCODERS_JSON
    if not path.is_file():
        return "torch"
    art.verify(folder, art.read_manifest(folder), (ENCODERS_JSON,))
    return str(json.loads(path.read_text()).get("default", "torch"))


def serving_encoder(choice: str, folder: Path) -> str:
    """The encoder `CVQ_ENCODER` names, `auto` resolved by `default_encoder`."""
    return default_encoder(folder) if choice == "auto" else choice


def export_missing_classifiers(folder: Path, runtime: ModelRuntime,
                               metadata: list[dict[str, Any]]) -> None:
    """A folder trained before the classifiers' ONNX files gets them, checked on every
    record's features from the training run's own vectors (what the classifiers saw)."""
    missing = [n for n, f in art.CLASSIFIER_ONNX_FILES.items()
               if f not in runtime.manifest["files"]]
    if missing:
        x = reference_features(runtime.reference, metadata, runtime.requirements)
        # Their pickles' hashes were verified by ModelRuntime(folder).
        export_classifiers(folder, {n: unpickle_classifier(folder, n) for n in missing}, x)


def export_encoders(folder: Path, threads: int = 2, progress: bool = False
                    ) -> list[EncoderScore]:
    """Each encoder encodes every record once (its references, the held-out ones among
    them); the torch side is the training run's own vectors. Speeds are timed side by side
    on the same SPEED_SAMPLE held-out CVs."""
    runtime = ModelRuntime(folder)  # verifies every file against the manifest first
    metadata = json.loads((folder / art.METADATA).read_text(encoding="utf-8"))
    texts = [m["text"] for m in metadata]
    rows, test_texts, positions, labels = _held_out(folder, metadata)
    sample = test_texts[:SPEED_SAMPLE]
    reference = runtime.reference[rows]  # what the classifiers were scored on in training
    scores = [_score(runtime, "torch", reference, test_texts, positions, labels,
                     _rate(runtime.embedder, sample), reference)]
    paths = export(runtime.embedder._model, folder)
    for encoder, path in paths.items():
        embedder = OnnxEmbedder(path, threads=threads, batch_size=sub_batch(encoder))
        rate = _rate(embedder, sample)
        vectors = embedder.encode(texts, progress=progress)
        scores.append(_score(runtime, encoder, vectors[rows], test_texts, positions, labels,
                             rate, reference))
        art.save_references(folder, encoder, vectors)
    export_missing_classifiers(folder, runtime, metadata)
    (folder / ENCODERS_JSON).write_text(json.dumps(
        {"classifier": runtime.classifier_name, "held_out": len(rows),
         "default": pick_default(scores), "max_accuracy_loss": MAX_ACCURACY_LOSS,
         "encoders": [s.to_json() for s in scores]}, indent=2) + "\n")
    manifest = art.read_manifest(folder)
    art.write_manifest(folder, {k: v for k, v in manifest.items() if k != "files"})
    return scores

