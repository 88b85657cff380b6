"""`cvqueue evaluate`: score saved artifacts on another labelled file."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from models import artifacts as art
from models.data import load_labelled
from models.report import Scores, score
from models.runtime import ModelRuntime
from models.train import positions_of
from shared.errors import DataError


def evaluate(data_path: Path, folder: Path, text_field: str | None = None,
             label_field: str | None = None) -> list[Scores]:
    runtime = ModelRuntime(folder)
    manifest = art.read_manifest(folder)
    data = load_labelled(data_path, text_field or manifest.get("text_field", "cv"),
                         label_field or manifest.get("label_field", "result"), min_classes=1)
    unknown = sorted(set(data.labels) - set(runtime.labels))
    if unknown:
        raise DataError(f"{data_path}: label {unknown[0]!r} was not among the trained labels "
                        f"({', '.join(runtime.labels)})")
    y = np.array([runtime.labels.index(label) for label in data.labels])
    embeddings = runtime.embedder.encode(data.texts, progress=True)
    return [score(name, runtime.labels, y,
                  runtime.probabilities(embeddings, data.texts, positions_of(data.records),
                                        name).argmax(axis=1))
            for name in art.CLASSIFIER_FILES]
