"""MiniLM through onnxruntime, behind the same interface as `Embedder` (`warmup`, `encode`,
`dim`): exported from the packaged weights (nothing is downloaded), in fp32 (`onnx`) or with
dynamic int8 quantization (`onnx-int8`).

Per-channel weight quantization is what keeps the vectors close to fp32: per-tensor int8
measured cosine 0.94 (min 0.86) to the fp32 vectors here, per-channel 0.99 (min 0.98)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from models.artifacts import ONNX_FILES
from models.embedder import MODEL_NAME, model_path
from models.onnx_session import cpu_session

if TYPE_CHECKING:
    from tokenizers import Tokenizer

INPUTS = ("input_ids", "attention_mask", "token_type_ids")
#: all-MiniLM-L6-v2's own max_seq_length, as sentence-transformers truncates.
MAX_TOKENS = 256


def export(embedder_model: object, folder: Path) -> dict[str, Path]:
    """Write the fp32 and the int8 ONNX files of a loaded SentenceTransformer's transformer."""
    import torch
    from onnxruntime.quantization import QuantType, quantize_dynamic

    bert = embedder_model[0].auto_model.eval()  # type: ignore[index]
    tokenizer = embedder_model.tokenizer  # type: ignore[attr-defined]

    class Encoder(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.bert = bert

        def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                    token_type_ids: torch.Tensor) -> torch.Tensor:
            return self.bert(input_ids=input_ids, attention_mask=attention_mask,
                             token_type_ids=token_type_ids).last_hidden_state

    sample = tokenizer(["an example CV", "another one, longer than the first"], padding=True,
                       return_tensors="pt")
    fp32, int8 = folder / ONNX_FILES["onnx"], folder / ONNX_FILES["onnx-int8"]
    axes = {name: {0: "batch", 1: "tokens"} for name in (*INPUTS, "last_hidden_state")}
    with torch.no_grad():
        torch.onnx.export(Encoder(), tuple(sample[n] for n in INPUTS), str(fp32),
                          input_names=list(INPUTS), output_names=["last_hidden_state"],
                          dynamic_axes=axes, opset_version=17, dynamo=False)
    quantize_dynamic(str(fp32), str(int8), weight_type=QuantType.QInt8, per_channel=True)
    return {"onnx": fp32, "onnx-int8": int8}


def load_tokenizer() -> Tokenizer:
    """MiniLM's own fast tokenizer (`tokenizer.json`) without transformers, which would cost
    a serving process ~0.5 s and ~40 MiB for nothing else: pads to the longest text of a
    sub-batch and truncates at MAX_TOKENS like sentence-transformers (the file itself says
    128 for both; `tests/test_onnx.py` checks the ids against transformers')."""
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(Path(model_path()) / "tokenizer.json"))
    tokenizer.enable_truncation(max_length=MAX_TOKENS)
    tokenizer.enable_padding(pad_id=tokenizer.token_to_id("[PAD]"), pad_token="[PAD]")
    return tokenizer


class OnnxEmbedder:
    """Same output as `Embedder`: mean-pooled, L2-normalised float32 rows; CVs sorted by
    length and run in sub-batches so little padding is computed."""

    name = MODEL_NAME
    dim = 384

    def __init__(self, path: Path, threads: int = 1, batch_size: int = 1) -> None:
        os.environ["HF_HUB_OFFLINE"] = "1"
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
        self.session = cpu_session(path, threads)
        self.tokenizer = load_tokenizer()
        self.batch_size = batch_size

    def warmup(self) -> None:
        self.encode(["warm-up text for the embedding model"])

    def encode(self, texts: list[str], progress: bool = False) -> np.ndarray:
        from tqdm import tqdm

        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        order = np.argsort([len(t) for t in texts], kind="stable")
        starts = range(0, len(texts), self.batch_size)
        for start in tqdm(starts, desc="Batches", disable=not progress):
            chunk = order[start:start + self.batch_size]
            out[chunk] = self._encode([texts[i] for i in chunk])
        return out

    def _encode(self, texts: list[str]) -> np.ndarray:
        tokens = self.tokenizer.encode_batch(texts)
        feed = {"input_ids": np.array([t.ids for t in tokens], dtype=np.int64),
                "attention_mask": np.array([t.attention_mask for t in tokens], dtype=np.int64),
                "token_type_ids": np.array([t.type_ids for t in tokens], dtype=np.int64)}
        hidden = self.session.run(None, feed)[0]
        mask = feed["attention_mask"][..., None].astype(np.float32)
        pooled = (hidden * mask).sum(axis=1) / np.clip(mask.sum(axis=1), 1e-9, None)
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        return (pooled / np.clip(norms, 1e-12, None)).astype(np.float32)
