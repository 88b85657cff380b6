"""Neighbour search: the HNSW index (usearch) against exact search on the real small
artifact set, chosen above the threshold, verified by its hash like every artifact."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from models.generator import generate
from models.neighbours import ExactSearch, HnswSearch, build_index, recall_at
from models.runtime import ModelRuntime
from shared.errors import ArtifactError


@pytest.fixture()
def own_artifacts(artifacts: Path, tmp_path: Path) -> Path:
    """A copy: building an index rewrites the manifest (and so the model version)."""
    return Path(shutil.copytree(artifacts, tmp_path / "artifacts"))


def test_the_index_finds_what_exact_search_finds(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    centres = rng.normal(size=(50, 384)).astype(np.float32)
    refs = centres[rng.integers(0, 50, 5000)] + rng.normal(0, 0.3, (5000, 384)).astype(np.float32)
    refs /= np.linalg.norm(refs, axis=1, keepdims=True)
    queries = refs[:64] + rng.normal(0, 0.05, (64, 384)).astype(np.float32)
    queries /= np.linalg.norm(queries, axis=1, keepdims=True)
    build_index(refs, tmp_path / "i.usearch", threads=1)  # one thread: the same graph each run
    exact_idx, _ = ExactSearch(refs).search(queries, 5)
    index = HnswSearch(tmp_path / "i.usearch", refs)
    found_idx, found_sims = index.search(queries, 5)
    np.testing.assert_array_equal(index.search(queries[:1], 5)[0], found_idx[:1])
    # Approximate: most, not all, of the exact top-5 (a missed top-1 was seen once).
    assert recall_at(5, exact_idx, found_idx) >= 0.95
    assert (found_idx[:, 0] == exact_idx[:, 0]).mean() >= 0.9
    true_sims = np.einsum("qd,qkd->qk", queries, refs[found_idx])
    assert np.allclose(found_sims, true_sims, atol=1e-4)  # the scores of what it found
    assert (np.diff(found_sims, axis=1) <= 1e-6).all()  # best first


def test_an_index_of_other_references_is_refused(tmp_path: Path) -> None:
    refs = np.eye(384, dtype=np.float32)[:100]
    build_index(refs, tmp_path / "i.usearch", threads=1)
    with pytest.raises(ValueError, match="100 vectors indexed, 99 references"):
        HnswSearch(tmp_path / "i.usearch", refs[:99])


def cvqueue(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "shared.cli", *args], capture_output=True,
                          text=True, timeout=300)


def test_workers_use_the_index_above_the_threshold_and_verify_it(own_artifacts: Path) -> None:
    texts = [r["cv"] for r in generate(20, seed=11)]
    exact = ModelRuntime(own_artifacts)
    assert isinstance(exact.search, ExactSearch)
    lacking = ModelRuntime(own_artifacts, ann_threshold=10, embedder=exact.embedder)
    assert isinstance(lacking.search, ExactSearch)  # above the threshold, but no index yet
    built = cvqueue("index", "build", "--artifacts", str(own_artifacts))
    assert built.returncode == 0, built.stderr
    indexed = ModelRuntime(own_artifacts, ann_threshold=10, embedder=exact.embedder)
    assert isinstance(indexed.search, HnswSearch)
    # Approximate (a multi-threaded build is not the same graph twice): most of the exact
    # top-5, and the true cosine of each neighbour it returns.
    truth, approx = exact.predict_batch(texts), indexed.predict_batch(texts)
    assert recall_at(5, np.array([[n.reference_id for n in p.neighbours] for p in truth]),
                     np.array([[n.reference_id for n in p.neighbours] for p in approx])) >= 0.9
    for t, a in zip(truth, approx, strict=True):
        true_sims = {n.reference_id: n.similarity for n in t.neighbours}
        assert all(abs(true_sims.get(n.reference_id, n.similarity) - n.similarity) < 1e-4
                   for n in a.neighbours)
    with (own_artifacts / "neighbours.torch.usearch").open("ab") as fh:
        fh.write(b"tampered")
    with pytest.raises(ArtifactError, match="SHA-256"):
        ModelRuntime(own_artifacts, ann_threshold=10, embedder=exact.embedder)
    wrong = cvqueue("index", "build", "--artifacts", str(own_artifacts), "--encoder", "onnx")
    assert wrong.returncode == 2 and "export-onnx" in wrong.stderr
