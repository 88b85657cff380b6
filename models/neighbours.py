"""The nearest historical candidates: exact cosine top-k while it is cheap, an HNSW index
(usearch) above a size threshold.

Exact search is one matrix product per micro-batch: at 10,000 references it costs about a
millisecond, at 1,000,000 more than the batch's encode (measured by `python -m
tests.ann_bench`). Above `CVQ_ANN_THRESHOLD` references a worker uses the index `cvqueue
index build` saved with the artifacts (hashed in the manifest like every other file). The
index is memory-mapped (`view=True`), so worker processes on one machine share its pages,
and the reference embeddings are memory-mapped too.

The index holds int8 vectors: a graph walk is mostly memory reads, and int8 reads a
quarter of f32's bytes. Alone, int8's ranking is too coarse (recall@5 0.75 at 200k), so the
walk returns RESCORE candidates and their exact cosines (the f32 references) pick the top
k. Per batch of 64 queries on one thread at 1M references: 17 ms at recall@5 1.000 with
degree 32 and a beam of 64 (2.4% of the batch's int8 encode), 39 ms at 0.988 on a set
that is close to uniform noise, against 78 ms at 0.950 for the f32 index of degree 16
(README "Neighbour search").
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Protocol

import numpy as np

log = logging.getLogger("cvqueue.models")
#: Graph degree and build-time beam of the HNSW index, and its search-time beam: recall@5
#: against exact search at 1M synthetic references is in the README (tests/ann_bench.py).
CONNECTIVITY = 32
EXPANSION_ADD = 128
EXPANSION_SEARCH = 64
#: Candidates per query from the int8 walk, re-ranked by their exact cosine.
RESCORE = 32


class NeighbourSearch(Protocol):
    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Row indices into the references and cosine similarities, best first."""
        ...


def best(sims: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Per row, the columns of the k highest scores and those scores, best first."""
    top = np.argpartition(-sims, k - 1, axis=1)[:, :k]
    top_sims = np.take_along_axis(sims, top, axis=1)
    order = np.argsort(-top_sims, axis=1)
    return np.take_along_axis(top, order, axis=1), np.take_along_axis(top_sims, order, axis=1)


class ExactSearch:
    """Top-k by one matrix product (rows are unit vectors, so the product is the cosine)."""

    def __init__(self, reference: np.ndarray) -> None:
        self.reference = reference

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        return best(queries @ self.reference.T, max(1, min(k, self.reference.shape[0])))


class HnswSearch:
    """An approximate top-k from a usearch HNSW index, memory-mapped from its file, re-ranked
    by exact cosine against `reference` (the same rows, f32)."""

    def __init__(self, path: Path, reference: np.ndarray, threads: int = 1,
                 expansion: int = EXPANSION_SEARCH, rescore: int = RESCORE) -> None:
        from usearch.index import Index

        index = Index.restore(str(path), view=True)
        if index is None:
            raise ValueError(f"{path}: not a usearch index")
        index.expansion_search = expansion  # type: ignore[misc]  # a setter exists
        if len(index) != len(reference):
            raise ValueError(f"{path}: {len(index)} vectors indexed, {len(reference)} references")
        self.index, self.reference, self.threads = index, reference, threads
        self.rescore = rescore

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        k = max(1, min(k, len(self.index)))
        queries = np.ascontiguousarray(queries, dtype=np.float32)
        found = self.index.search(queries, max(k, self.rescore), threads=self.threads)
        keys = np.asarray(found.keys, dtype=np.int64).reshape(len(queries), -1)
        counts = np.asarray(getattr(found, "counts", [len(found)])).reshape(len(queries), 1)
        found_here = np.arange(keys.shape[1]) < counts
        keys = np.where(found_here, keys, 0)
        sims = np.einsum("qd,qcd->qc", queries, self.reference[keys])
        columns, top_sims = best(np.where(found_here, sims, -np.inf), min(k, keys.shape[1]))
        return np.take_along_axis(keys, columns, axis=1), top_sims


def build_index(vectors: np.ndarray, path: Path, threads: int = 0) -> None:
    """An HNSW index of `vectors` (keys are row numbers) written to `path`."""
    from usearch.index import Index

    index = Index(ndim=vectors.shape[1], metric="cos", dtype="i8", connectivity=CONNECTIVITY,
                  expansion_add=EXPANSION_ADD)
    index.add(np.arange(len(vectors), dtype=np.int64),
              np.ascontiguousarray(vectors, dtype=np.float32), threads=threads)
    index.save(str(path))


def recall_at(k: int, exact: np.ndarray, approximate: np.ndarray) -> float:
    """The share of the exact top-k that the approximate top-k found."""
    hits = sum(len(set(e[:k]) & set(a[:k])) for e, a in zip(exact, approximate, strict=True))
    return hits / (k * len(exact))
