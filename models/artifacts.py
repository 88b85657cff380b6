"""The artifacts folder: its file names, its manifest of hashes, and writing it atomically."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from shared.errors import ArtifactError

EMBEDDINGS = "cv_embeddings.pt"
METADATA = "cv_metadata.json"
RF_MODEL = "rf_model.pkl"
SVM_MODEL = "svm_model.pkl"
NN_MODEL = "nn_model.pt"
BEST_MODEL_INFO = "best_model_info.json"
EVALUATION = "evaluation.json"
REPORT = "report.md"
CONFUSION_PNG = "confusion_matrix.png"
MANIFEST = "manifest.json"
REQUIREMENTS = "requirements.json"

CLASSIFIER_FILES = {"random_forest": RF_MODEL, "svm": SVM_MODEL, "mlp": NN_MODEL}
#: The scikit-learn classifiers exported as ONNX (`models/onnx_classifier.py`).
CLASSIFIER_ONNX_FILES = {"random_forest": "rf_model.onnx", "svm": "svm_model.onnx"}
#: Added by `cvqueue export-onnx`, per encoder: its model file.
ONNX_FILES = {"onnx": "minilm.onnx", "onnx-int8": "minilm-int8.onnx"}


def reference_file(encoder: str) -> str:
    """The reference embeddings encoded by `encoder`: neighbours come from the same encoder
    as the queries. The ONNX encoders' are NumPy files, so a worker serving with one never
    imports torch (~230 MiB and ~1 s per process)."""
    return EMBEDDINGS if encoder == "torch" else f"cv_embeddings.{encoder}.npy"


def load_references(folder: Path, encoder: str) -> np.ndarray:
    """`encoder`'s reference embeddings, memory-mapped read-only: processes on one machine
    share the pages, and a 1M-row matrix is not read in whole when the HNSW index serves the
    searches. Call after `verify` accepted the file; neither format can run code."""
    path = folder / reference_file(encoder)
    if encoder != "torch":
        return np.load(path, mmap_mode="r", allow_pickle=False)
    import torch

    return torch.load(path, weights_only=True, mmap=True).numpy()


def save_references(folder: Path, encoder: str, vectors: np.ndarray) -> None:
    np.save(folder / reference_file(encoder), np.ascontiguousarray(vectors, dtype=np.float32),
            allow_pickle=False)


def index_file(encoder: str) -> str:
    """The HNSW index of `encoder`'s reference embeddings (`cvqueue index build`)."""
    return f"neighbours.{encoder}.usearch"


def encoder_files(encoder: str) -> tuple[str, ...]:
    """The files a worker needs, beyond the training run's, to serve with `encoder`."""
    return () if encoder == "torch" else (ONNX_FILES[encoder], reference_file(encoder))
REQUIRED = (EMBEDDINGS, METADATA, RF_MODEL, SVM_MODEL, NN_MODEL, BEST_MODEL_INFO, MANIFEST)


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def write_manifest(folder: Path, extra: dict[str, Any]) -> None:
    files = {p.name: sha256_file(p) for p in sorted(folder.iterdir())
             if p.is_file() and p.name != MANIFEST}
    manifest = {**extra, "files": files}
    (folder / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")


def read_manifest(folder: Path) -> dict[str, Any]:
    if not folder.is_dir():
        raise ArtifactError(f"{folder}: no such artifacts folder (run 'cvqueue train' first)")
    missing = [name for name in REQUIRED if not (folder / name).is_file()]
    if missing:
        raise ArtifactError(f"{folder}: incomplete artifacts, missing {', '.join(missing)}")
    try:
        manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
        files = manifest["files"]
    except (ValueError, KeyError, TypeError):
        raise ArtifactError(f"{folder / MANIFEST}: unreadable manifest") from None
    if not isinstance(files, dict):
        raise ArtifactError(f"{folder / MANIFEST}: unreadable manifest")
    return dict(manifest)


def verify(folder: Path, manifest: dict[str, Any], names: tuple[str, ...] = REQUIRED) -> None:
    """Refuse any file whose SHA-256 differs from what the training run recorded."""
    for name in names:
        if name == MANIFEST:
            continue
        expected = manifest["files"].get(name)
        if expected is None:
            raise ArtifactError(f"{folder / name}: not recorded in the manifest; refusing to load")
        if not (folder / name).is_file():
            raise ArtifactError(f"{folder / name}: recorded in the manifest but missing")
        if sha256_file(folder / name) != expected:
            raise ArtifactError(f"{folder / name}: SHA-256 does not match the manifest "
                                "(file changed since training); refusing to load")


@contextmanager
def staged_folder(out: Path) -> Iterator[Path]:
    """Write into a sibling temp folder; replace `out` only if everything succeeded."""
    if out.exists() and not out.is_dir():
        raise ArtifactError(f"{out}: exists and is not a folder")
    if out.is_dir() and any(out.iterdir()) and not (out / MANIFEST).exists():
        raise ArtifactError(f"{out}: not empty and not an artifacts folder; choose another --out")
    out.parent.mkdir(parents=True, exist_ok=True)
    stage = out.parent / f".{out.name}.staging-{os.getpid()}"
    shutil.rmtree(stage, ignore_errors=True)
    stage.mkdir()
    try:
        yield stage
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        raise
    old = out.parent / f".{out.name}.old-{os.getpid()}"
    if out.exists():
        out.rename(old)
    stage.rename(out)
    shutil.rmtree(old, ignore_errors=True)
