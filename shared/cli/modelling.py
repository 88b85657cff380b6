"""Data and models: generate, train, evaluate, predict."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from shared.cli.common import app, console, one_line_errors
from shared.errors import CvqError


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
    k: Annotated[int, typer.Option(min=1, help="How many similar records.")] = 5,
    classifier: Annotated[str | None, typer.Option(help="random_forest, svm or mlp.")] = None,
) -> None:
    """Classify one CV and show its most similar reference records."""
    from models.runtime import ModelRuntime

    if not text.strip():
        raise CvqError("the CV text is empty")
    runtime = ModelRuntime(artifacts, classifier)
    prediction = runtime.predict_batch([text], k=k)[0]
    console.print(f"label: [bold]{prediction.label}[/bold] (classifier {prediction.classifier})")
    for label, p in sorted(prediction.probabilities.items(), key=lambda kv: -kv[1]):
        console.print(f"  P({label}) = {p:.4f}")
    table = Table(title=f"top {k} similar records")
    for column in ("id", "similarity", "label"):
        table.add_column(column)
    for nb in prediction.neighbours:
        table.add_row(nb.reference_id, f"{nb.similarity:.4f}", nb.label)
    console.print(table)


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
    console.print("serve with CVQ_ENCODER=onnx-int8 (or onnx); details in encoders.json")
