"""Data and models: generate, train, evaluate, predict."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from shared.cli.common import app, console, one_line_errors
from shared.errors import CvqError

if TYPE_CHECKING:
    from models.runtime import Prediction


@app.command()
@one_line_errors
def generate(
    out: Annotated[Path, typer.Option(help="Where to write the JSON array.")],
    n: Annotated[int, typer.Option(min=1, help="Number of records.")] = 10000,
    seed: Annotated[int, typer.Option(help="Same seed, same bytes.")] = 42,
) -> None:
    """Write the fictional IT-recruitment dataset."""
    from models.generator import generate as make
    from models.generator import rule_ceiling, write_dataset

    records = make(n, seed)
    write_dataset(records, out)
    ceiling = rule_ceiling(records) or 0.0
    console.print(f"wrote {n} records to {out} (rule ceiling accuracy {ceiling:.4f})")


@app.command()
@one_line_errors
def train(
    data: Annotated[Path, typer.Option(help="Labelled JSON array, JSONL or CSV.")],
    out: Annotated[Path, typer.Option(help="Artifacts folder to write.")],
    text_field: Annotated[str, typer.Option(help="Field holding the CV text.")] = "cv",
    label_field: Annotated[str, typer.Option(help="Field holding the label.")] = "result",
    features: Annotated[str, typer.Option(
        help="auto, embedding or embedding+requirements.")] = "auto",
    seed: Annotated[int, typer.Option(help="Split and model seed.")] = 42,
) -> None:
    """Embed, train RF / SVM / MLP, evaluate and write the artifacts."""
    from models.train import train as run

    result = run(data, out, text_field, label_field, features=features, seed=seed)
    table = Table(title=f"held-out scores ({out})")
    for column in ("model", "accuracy", "macro-F1", "train s"):
        table.add_column(column)
    for s in result.scores:
        mark = " (best)" if s.model == result.best else ""
        table.add_row(s.model + mark, f"{s.accuracy:.4f}", f"{s.macro_f1:.4f}",
                      f"{s.train_seconds:.1f}")
    console.print(table)
    if result.ceiling is not None:
        console.print(f"generator ceiling accuracy on the same records: {result.ceiling:.4f}")
    console.print(f"embedding took {result.embedding_seconds:.1f} s; report: {out / 'report.md'}")


@app.command()
@one_line_errors
def evaluate(
    data: Annotated[Path, typer.Option(help="Labelled file to score on.")],
    artifacts: Annotated[Path, typer.Option(help="Artifacts folder.")],
    text_field: Annotated[str | None, typer.Option(help="Default: the training run's.")] = None,
    label_field: Annotated[str | None, typer.Option(help="Default: the training run's.")] = None,
) -> None:
    """Score saved artifacts (all three classifiers) on another labelled file."""
    from models.evaluate import evaluate as run

    scores = run(data, artifacts, text_field, label_field)
    table = Table(title=f"scores on {data}")
    for column in ("model", "accuracy", "macro-F1"):
        table.add_column(column)
    for s in scores:
        table.add_row(s.model, f"{s.accuracy:.4f}", f"{s.macro_f1:.4f}")
    console.print(table)


@app.command()
@one_line_errors
def predict(
    text: Annotated[str, typer.Argument(help="The CV text.")],
    artifacts: Annotated[Path, typer.Option(help="Artifacts folder.")] = Path("var/artifacts"),
    position: Annotated[str | None, typer.Option(help="The position applied for.")] = None,
    k: Annotated[int, typer.Option(min=1, help="How many similar records.")] = 5,
    classifier: Annotated[str | None, typer.Option(help="random_forest, svm or mlp.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="The API's result object.")] = False,
) -> None:
    """Classify one CV, explain the decision and show its most similar reference records."""
    from models.runtime import ModelRuntime

    if not text.strip():
        raise CvqError("the CV text is empty")
    runtime = ModelRuntime(artifacts, classifier)
    prediction = runtime.predict_batch([text], k=k, positions=[position])[0]
    if as_json:
        print(json.dumps(prediction_json(prediction), indent=1, ensure_ascii=False))
        return
    console.print(f"label: [bold]{prediction.label}[/bold] (classifier {prediction.classifier})")
    for label, p in sorted(prediction.probabilities.items(), key=lambda kv: -kv[1]):
        console.print(f"  P({label}) = {p:.4f}")
    print_explanation(prediction.explanation or {})


def prediction_json(prediction: Prediction) -> dict[str, Any]:
    return {"label": prediction.label, "probabilities": prediction.probabilities,
            "classifier": prediction.classifier,
            "neighbours": [{"reference_id": n.reference_id, "similarity": n.similarity,
                            "outcome": n.label} for n in prediction.neighbours],
            "explanation": prediction.explanation}


def print_explanation(explanation: dict[str, Any]) -> None:
    position, experience = explanation["position"], explanation["experience"]
    console.print(f"position: {position['applied'] or 'none'}"
                  + (f" ({position['note']})" if position.get("note") else ""))
    required = experience["required"]
    console.print(f"experience: {experience['stated']} year(s) stated"
                  + ("" if required is None else f", {required}+ required, "
                     f"{'meets' if experience['meets'] else 'below'}"))
    if skills := explanation["skills"]:
        console.print(f"skills matched: {', '.join(skills['matched']) or 'none'}; "
                      f"missing: {', '.join(skills['missing']) or 'none'}")
    for factor in explanation["factors"]:
        console.print(f"  {factor['factor']}: {factor['direction']} {factor['weight']:.3f} "
                      f"({factor['detail']})")
    table = Table(title="most similar past candidates")
    for column in ("id", "similarity", "outcome", "reason"):
        table.add_column(column)
    for e in explanation["evidence"]:
        table.add_row(e["reference_id"], f"{e['similarity']:.4f}", e["outcome"], e["reason"] or "")
    console.print(table)


@app.command()
@one_line_errors
def positions(
    artifacts: Annotated[Path, typer.Option(help="Artifacts folder.")] = Path("var/artifacts"),
) -> None:
    """The positions catalogue the model learned: each position's years and keywords."""
    from models import artifacts as art
    from models.features import Requirements

    path = artifacts / art.REQUIREMENTS
    if not (artifacts / art.MANIFEST).is_file():
        raise CvqError(f"{artifacts}: no trained artifacts (run `cvqueue train` first)")
    if not path.is_file():
        console.print("this model was trained without positions: no catalogue")
        return
    table = Table(title=f"positions ({artifacts})")
    for column in ("position", "min years", "keywords"):
        table.add_column(column)
    for title, opening in sorted(Requirements.load(path).openings.items()):
        table.add_row(title, str(opening.min_years), ", ".join(opening.keywords))
    console.print(table)


index_app = typer.Typer(help="The HNSW index of the reference embeddings.", no_args_is_help=True)
app.add_typer(index_app, name="index")


@index_app.command("build")
@one_line_errors
def index_build(
    artifacts: Annotated[Path, typer.Option(help="Trained artifacts folder.")] = Path(
        "var/artifacts"),
    encoder: Annotated[str, typer.Option(help="torch, onnx or onnx-int8: whose references.")] = (
        "torch"),
) -> None:
    """Build the neighbour index workers use above CVQ_ANN_THRESHOLD references."""
    import time

    from models import artifacts as art
    from models.neighbours import build_index

    if encoder not in ("torch", *art.ONNX_FILES):
        raise CvqError(f"unknown encoder {encoder!r}; choose torch, onnx or onnx-int8")
    manifest = art.read_manifest(artifacts)
    source = art.reference_file(encoder)
    if not (artifacts / source).is_file():
        raise CvqError(f"{artifacts}: no {source} (cvqueue export-onnx first)")
    art.verify(artifacts, manifest, (source,))
    started = time.perf_counter()
    vectors = art.load_references(artifacts, encoder)
    build_index(vectors, artifacts / art.index_file(encoder))
    art.write_manifest(artifacts, {k: v for k, v in manifest.items() if k != "files"})
    console.print(f"{art.index_file(encoder)}: {len(vectors)} references indexed in "
                  f"{time.perf_counter() - started:.1f} s (recorded in the manifest)")


@app.command("export-onnx")
@one_line_errors
def export_onnx(
    artifacts: Annotated[Path, typer.Option(help="Trained artifacts folder.")] = Path(
        "var/artifacts"),
) -> None:
    """Add the ONNX encoders (fp32 and int8) to trained artifacts; compare them with torch."""
    from models.encoders import export_encoders

    table = Table(title=f"encoders on the held-out records ({artifacts})")
    for column in ("encoder", "accuracy", "macro-F1", "CVs/s", "cosine to torch (mean/min)"):
        table.add_column(column)
    for s in export_encoders(artifacts, progress=True):
        table.add_row(s.encoder, f"{s.accuracy:.4f}", f"{s.macro_f1:.4f}",
                      f"{s.cvs_per_second:.1f}", f"{s.cosine_mean:.4f} / {s.cosine_min:.4f}")
    console.print(table)
    from models.encoders import default_encoder

    console.print(f"workers with CVQ_ENCODER=auto (the default) now serve with "
                  f"{default_encoder(artifacts)}: the fastest within 0.5 accuracy points of "
                  "torch; details in encoders.json")
