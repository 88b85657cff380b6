"""Neighbour search at scale: exact top-k against the HNSW index (usearch), side by side in
one run, per micro-batch of 64 queries, at 10k, 100k and 1M synthetic references.

The references are synthesised from the trained artifacts' real MiniLM embeddings (a real
one plus Gaussian noise, renormalised), so their neighbourhoods look like real CVs' rather
than like uniform noise (the hardest, least realistic case for an ANN index). Run:
`make bench-ann` (or `python -m tests.ann_bench --artifacts var/artifacts --sizes 10000 100000`).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from models import artifacts as art
from models.neighbours import (
    EXPANSION_SEARCH,
    RESCORE,
    ExactSearch,
    HnswSearch,
    build_index,
    recall_at,
)

BATCH = 64
K = 5
NOISE = 0.02  # per dimension: a synthetic CV's cosine to its source is about 0.93


def synthesise(base: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    out = np.empty((n, base.shape[1]), dtype=np.float32)
    for start in range(0, n, 100_000):
        rows = base[rng.integers(0, len(base), size=min(100_000, n - start))]
        rows = rows + rng.normal(0, NOISE, size=rows.shape).astype(np.float32)
        out[start:start + len(rows)] = rows / np.linalg.norm(rows, axis=1, keepdims=True)
    return out


def median_ms(action: object, repeat: int = 5) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        action()  # type: ignore[operator]
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1000


def encode_ms(artifacts: Path, texts: list[str]) -> tuple[float, str]:
    """One micro-batch's encode in a worker process: the serving encoder, one process's
    share of the cores (what a top-k adds to)."""
    from models.encoders import serving_encoder
    from models.runtime import make_embedder
    from shared.config import Settings

    settings = Settings.from_env()
    encoder = serving_encoder(settings.encoder, artifacts)
    threads = settings.threads_per_process
    embedder = make_embedder(artifacts, encoder, threads)
    embedder.encode(texts[:8])
    return (median_ms(lambda: embedder.encode(texts), repeat=3),
            f"{encoder}, {threads} thread(s) as in a worker process")


def settings_to_try(sweep: bool) -> list[tuple[int, int]]:
    """The served search beam and re-rank depth; with --sweep, narrower and wider ones too."""
    if not sweep:
        return [(EXPANSION_SEARCH, RESCORE)]
    return [(e, r) for e in (32, 48, 64, 96) for r in (16, 32) if r <= e]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--artifacts", type=Path, default=Path("var/artifacts"))
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--sweep", action="store_true",
                        help="also try other search beams and re-rank depths on each index")
    args = parser.parse_args()
    base = torch.load(args.artifacts / art.EMBEDDINGS, weights_only=True).numpy()
    import json

    texts = [m["text"] for m in json.loads((args.artifacts / art.METADATA).read_text())[:BATCH]]
    batch_ms, how = encode_ms(args.artifacts, texts)
    print(f"encode of one micro-batch of {BATCH} CVs ({how}): {batch_ms:.0f} ms")
    rng = np.random.default_rng(7)
    queries = synthesise(base, BATCH, rng)
    for n in args.sizes:
        refs = synthesise(base, n, rng)
        exact = ExactSearch(refs)
        truth, _ = exact.search(queries, K)
        exact_ms = median_ms(lambda: exact.search(queries, K))  # noqa: B023
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "neighbours.usearch"
            started = time.perf_counter()
            build_index(refs, path)
            built = time.perf_counter() - started
            size_mib = path.stat().st_size / 2**20
            print(f"top-k exact {n} refs: {exact_ms:.1f} ms per batch of {BATCH} "
                  f"({100 * exact_ms / batch_ms:.2f}% of the batch's encode)")
            for expansion, rescore in settings_to_try(args.sweep):
                hnsw = HnswSearch(path, refs, expansion=expansion, rescore=rescore)
                found, _ = hnsw.search(queries, K)
                hnsw_ms = median_ms(lambda: hnsw.search(queries, K))  # noqa: B023
                served = " (served)" if (expansion, rescore) == (EXPANSION_SEARCH, RESCORE) else ""
                print(f"top-k hnsw {n} refs: {hnsw_ms:.2f} ms per batch of {BATCH} "
                      f"({100 * hnsw_ms / batch_ms:.3f}% of the batch's encode), "
                      f"recall@{K} {recall_at(K, truth, found):.3f}, beam {expansion}, "
                      f"rescore {rescore}{served}, built in {built:.0f} s, "
                      f"index {size_mib:.0f} MiB")


if __name__ == "__main__":
    main()
