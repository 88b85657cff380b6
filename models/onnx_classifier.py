"""The scikit-learn classifiers as ONNX files, so that a worker serving one never imports
scikit-learn.

Importing scikit-learn is most of a pool process's start: 1.3 s on a 2-core AVX2 machine,
of its 2.0-2.7 s load, most of that in SciPy (`scipy.stats`, which scikit-learn imports,
builds docstrings at import). The forest's ONNX file loads in 0.14 s in onnxruntime, which
the ONNX encoders already load, and gives the pickle's probabilities within 1e-6. The
training run writes both; a worker serves the ONNX file when the manifest records one and
the pickle otherwise.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np

from models import artifacts as art
from models.onnx_session import cpu_session

log = logging.getLogger("cvqueue.models")

#: The largest difference from the pickle's probabilities an export may show on the rows
#: it is checked on; beyond it the ONNX file is not written.
TOLERANCE = 1e-5
#: Opsets onnxruntime 1.18 (the oldest `pyproject.toml` admits) runs.
OPSETS = {"": 17, "ai.onnx.ml": 3}


class OnnxClassifier:
    """`predict_proba` of an exported classifier, on `threads` onnxruntime threads."""

    def __init__(self, model: Path | bytes, threads: int = 1) -> None:
        self.session = cpu_session(model, threads)
        self.input = self.session.get_inputs()[0].name

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        x = np.ascontiguousarray(x, dtype=np.float32)
        return np.asarray(self.session.run(["probabilities"], {self.input: x})[0])


def export_classifier(model: Any, x: np.ndarray, path: Path,
                      tolerance: float = TOLERANCE) -> float | None:
    """Write `model` as ONNX to `path` if its probabilities on the rows `x` are the model's
    within `tolerance`: the largest difference, or None when nothing was written (a model
    skl2onnx cannot convert, or one that would answer differently)."""
    from skl2onnx import to_onnx

    x = np.ascontiguousarray(x, dtype=np.float32)
    try:
        onnx_model = to_onnx(model, x[:1], options={id(model): {"zipmap": False}},
                             target_opset=OPSETS)
    except (RuntimeError, NotImplementedError, ValueError, TypeError) as exc:
        first_line = (str(exc).strip().splitlines() or [""])[0][:200]
        log.warning("%s: not exported as ONNX (%s: %s); workers serve the pickle", path.name,
                    type(exc).__name__, first_line)
        return None
    data = onnx_model.SerializeToString()
    difference = float(np.abs(OnnxClassifier(data).predict_proba(x)
                              - model.predict_proba(x)).max())
    if difference > tolerance:
        log.warning("%s: not exported, its probabilities differ from the pickle's by %.2g; "
                    "workers serve the pickle", path.name, difference)
        return None
    path.write_bytes(data)
    return difference


def export_classifiers(folder: Path, models: dict[str, Any], x: np.ndarray) -> None:
    """Each of `models` (by classifier name) as ONNX in `folder`, checked on the rows `x`."""
    for name, model in models.items():
        export_classifier(model, x, folder / art.CLASSIFIER_ONNX_FILES[name])
