"""One onnxruntime session on the CPU, for the encoders and the classifiers alike."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from onnxruntime import InferenceSession


def cpu_session(model: Path | bytes, threads: int = 1) -> InferenceSession:
    """`model` (a file, or its bytes) on `threads` intra-op threads and one inter-op thread:
    a worker process already has its share of the cores."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads, options.inter_op_num_threads = threads, 1
    source = str(model) if isinstance(model, Path) else model
    return ort.InferenceSession(source, options, providers=["CPUExecutionProvider"])
