"""The ONNX encoders: exported from the packaged MiniLM, hashed in the manifest, references
re-encoded by the same encoder, held-out accuracy side by side with torch; a worker runtime
serving with int8."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from models import artifacts as art
from models.encoders import ENCODERS_JSON, EncoderScore, default_encoder, export_encoders, pick_default
from models.generator import generate
from models.runtime import ModelRuntime
from shared.config import Settings
from shared.errors import ArtifactError
from shared.stack import LocalStack
from tests.test_onnx_classifier import without_onnx_classifiers


@pytest.fixture(scope="module")
def exported(artifacts: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Exported from a folder trained before the classifiers' ONNX files, which the export
    adds as well."""
    folder = without_onnx_classifiers(artifacts, tmp_path_factory.mktemp("onnx") / "artifacts")
    export_encoders(folder)
    return folder


def test_export_records_files_and_scores(exported: Path) -> None:
    manifest = art.read_manifest(exported)
    for encoder in ("onnx", "onnx-int8"):
        for name in art.encoder_files(encoder):
            assert manifest["files"][name] == art.sha256_file(exported / name)
    for name in art.CLASSIFIER_ONNX_FILES.values():
        assert manifest["files"][name] == art.sha256_file(exported / name)
    report = json.loads((exported / ENCODERS_JSON).read_text())
    by_name = {e["encoder"]: e for e in report["encoders"]}
    assert set(by_name) == {"torch", "onnx", "onnx-int8"}
    assert by_name["onnx"]["cosine_min"] > 0.999, "fp32 ONNX is the same model"
    assert by_name["onnx-int8"]["cosine_mean"] > 0.97
    assert abs(by_name["onnx-int8"]["accuracy"] - by_name["torch"]["accuracy"]) <= 0.1
    assert (exported / "minilm-int8.onnx").stat().st_size < \
        (exported / "minilm.onnx").stat().st_size / 3


def test_the_export_picks_the_fastest_encoder_within_half_a_point(exported: Path) -> None:
    report = json.loads((exported / ENCODERS_JSON).read_text())
    by_name = {e["encoder"]: e for e in report["encoders"]}
    fit = [e for e in report["encoders"]
           if e["accuracy"] >= by_name["torch"]["accuracy"] - 0.005]
    assert report["default"] == max(fit, key=lambda e: e["cvs_per_second"])["encoder"]
    assert default_encoder(exported) == report["default"]


def test_pick_default_never_trades_accuracy_for_speed() -> None:
    def s(name: str, accuracy: float, speed: float) -> EncoderScore:
        return EncoderScore(name, accuracy, accuracy, speed, 1.0, 1.0)

    assert pick_default([s("torch", 0.92, 25), s("onnx", 0.92, 26),
                         s("onnx-int8", 0.916, 48)]) == "onnx-int8"
    assert pick_default([s("torch", 0.92, 25), s("onnx", 0.92, 26),
                         s("onnx-int8", 0.91, 48)]) == "onnx"


def test_a_runtime_serves_with_int8_and_its_own_references(exported: Path) -> None:
    torch_rt = ModelRuntime(exported)
    int8_rt = ModelRuntime(exported, encoder="onnx-int8")
    texts = ["Backend Developer with 6 years of Python, Django, PostgreSQL, Redis and Docker",
             "Junior tester, 1 year, manual testing"]
    a, b = torch_rt.predict_batch(texts, k=5), int8_rt.predict_batch(texts, k=5)
    assert [p.label for p in b] and all(p.label in int8_rt.labels for p in b)
    assert int8_rt.reference.shape == torch_rt.reference.shape
    assert not np.array_equal(int8_rt.reference, torch_rt.reference)
    overlap = [len({n.reference_id for n in x.neighbours} & {n.reference_id for n in y.neighbours})
               for x, y in zip(a, b, strict=True)]
    assert min(overlap) >= 3, overlap
    assert int8_rt.describe()["encoder"] == "onnx-int8"


def test_the_tokenizer_gives_transformers_ids() -> None:
    """The serving path tokenizes with `tokenizers` alone; transformers' tokenizer (what
    sentence-transformers uses) must give the same ids, masks and truncation."""
    from transformers import AutoTokenizer

    from models.embedder import model_path
    from models.onnx_encoder import MAX_TOKENS, load_tokenizer

    texts = [r["cv"] for r in generate(40, seed=9)] + [
        "", "Ünïcode CV — naïve café, 東京 and emoji 🚀", "word " * 600]
    ours = load_tokenizer().encode_batch(texts)
    theirs = AutoTokenizer.from_pretrained(model_path(), local_files_only=True)(
        texts, padding=True, truncation=True, max_length=MAX_TOKENS)
    assert [t.ids for t in ours] == theirs["input_ids"]
    assert [t.attention_mask for t in ours] == theirs["attention_mask"]
    assert max(sum(t.attention_mask) for t in ours) == MAX_TOKENS


def test_onnx_encodes_one_cv_at_a_time(exported: Path) -> None:
    """The measured fastest sub-batch, and a CV's vector does not depend on its batch-mates:
    the same whether it is encoded with 15 others or alone, as the references were."""
    from models.runtime import make_embedder

    embedder = make_embedder(exported, "onnx-int8", threads=1)
    assert embedder.batch_size == 1
    assert make_embedder(exported, "torch", threads=1).batch_size == 8
    texts = [r["cv"] for r in generate(16, seed=5)]
    together = embedder.encode(texts)
    alone = np.vstack([embedder.encode([t]) for t in texts[:4]])
    np.testing.assert_array_equal(together[:4], alone)


@pytest.mark.parametrize("classifier", ["random_forest", "svm"])
def test_an_int8_runtime_never_imports_torch_or_scikit_learn(exported: Path,
                                                             classifier: str) -> None:
    """A forest or SVM with an ONNX encoder: no torch, no transformers, and (the classifier
    served from its ONNX export) no scikit-learn or SciPy in the process, loaded as a worker
    loads it."""
    code = ("import sys; from pathlib import Path; from worker.context import default_runtime; "
            "from shared.config import Settings; from dataclasses import replace; "
            f"s = replace(Settings.from_env(), artifacts=Path({str(exported)!r}), "
            f"classifier={classifier!r}, encoder='onnx-int8'); rt = default_runtime(s); "
            "rt.warmup(); print(rt.encoder, sorted(m for m in ('torch', 'transformers', "
            "'sentence_transformers', 'sklearn', 'scipy') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=Path(__file__).parent.parent)
    assert out.stdout.strip() == "onnx-int8 []", out.stdout + out.stderr[-2000:]


@pytest.mark.parametrize("name", ["minilm-int8.onnx", "rf_model.onnx"])
def test_a_changed_onnx_file_is_refused(exported: Path, tmp_path: Path, name: str) -> None:
    folder = tmp_path / "tampered"
    shutil.copytree(exported, folder)
    with (folder / name).open("ab") as fh:
        fh.write(b"\0")
    with pytest.raises(ArtifactError, match="does not match the manifest"):
        ModelRuntime(folder, "random_forest", encoder="onnx-int8")


def test_an_encoder_not_exported_is_a_clear_error(artifacts: Path) -> None:
    with pytest.raises(ArtifactError, match="run `cvqueue export-onnx"):
        ModelRuntime(artifacts, encoder="onnx-int8")


@pytest.mark.e2e
def test_a_real_worker_serves_with_int8(exported: Path, settings: Settings, redis_url: str,
                                        tmp_path: Path) -> None:
    s = replace(settings, artifacts=exported, encoder="onnx-int8", broker_url=redis_url,
                worker_pool="solo")
    with LocalStack(s, log_dir=tmp_path / "log") as stack:
        client = stack.client()
        results = client.wait(client.submit_many([{"cv": r["cv"]} for r in generate(6, 4)]),
                              timeout=180)
    assert [r["status"] for r in results] == ["done"] * 6
    assert {len(r["result"]["neighbours"]) for r in results} == {5}
    assert "'encoder': 'onnx-int8'" in (tmp_path / "log" / "worker-1.log").read_text()
