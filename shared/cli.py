"""`cvqueue`: the command line. Errors are one line on stderr and exit code 2."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.table import Table

from shared.config import Settings
from shared.errors import CvqError

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="CV intake and classification: generate data, train, serve, submit.")
console = Console(width=None if sys.stdout.isatty() else 130)
F = TypeVar("F", bound=Callable[..., Any])


def one_line_errors(func: F) -> F:
    """Every error is one line on stderr and exit code 2; an unexpected one names its type
    (`CVQ_DEBUG=1` shows the traceback instead)."""
    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except CvqError as exc:
            print(f"error: {exc}", file=sys.stderr)
        except (typer.Exit, typer.Abort, KeyboardInterrupt):
            raise
        except Exception as exc:
            if os.environ.get("CVQ_DEBUG") == "1":
                raise
            first = (str(exc).strip().splitlines() or [""])[0][:300]
            print(f"error: unexpected {type(exc).__name__}: {first}", file=sys.stderr)
        raise typer.Exit(2)
    return wrapper  # type: ignore[return-value]


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


@app.command()
@one_line_errors
def api(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    threads: Annotated[int, typer.Option(min=1, help="Waitress threads.")] = 8,
) -> None:
    """Serve the intake API with waitress (a production WSGI server)."""
    import waitress

    from api import create_app
    from shared.bootstrap import service_settings
    from shared.lifecycle import require_free_port, stop_on_sigterm

    settings = service_settings()
    require_free_port(host, port)
    stop_on_sigterm()  # waitress closes its sockets on KeyboardInterrupt
    waitress.serve(create_app({"SETTINGS": settings}), host=host, port=port, threads=threads,
                   ident="cvqueue")


@app.command()
@one_line_errors
def worker() -> None:
    """Start a Celery worker (same command on every machine; scale by running more)."""
    from worker.main import run

    run()


@app.command()
@one_line_errors
def sweep(
    once: Annotated[bool, typer.Option(help="One pass, then exit.")] = False,
) -> None:
    """Re-enqueue stuck submissions and fail poison ones (run one or more; they cooperate)."""
    from shared.bootstrap import database, service_settings
    from shared.broker import make_celery
    from shared.lifecycle import stop_on_sigterm
    from worker.sweeper import run

    settings = service_settings()
    stop_on_sigterm()
    with contextlib.suppress(KeyboardInterrupt):  # a pass is one transaction: stop anywhere
        run(database(settings), make_celery(settings), settings, once=once)


@app.command()
@one_line_errors
def up(
    port: Annotated[int, typer.Option(help="API port.")] = 8000,
    workers: Annotated[int, typer.Option(min=1, help="Worker processes to start.")] = 1,
) -> None:
    """Run Redis (embedded if CVQ_BROKER_URL is unset), the API and workers until Ctrl-C or
    SIGTERM; either stops everything it started."""
    import time

    from shared.lifecycle import stop_on_sigterm
    from shared.stack import LocalStack

    settings = Settings.from_env()
    check_artifacts(settings.artifacts)
    stop_on_sigterm()
    try:
        with LocalStack(settings, workers=workers, port=port) as stack:
            console.print(f"cvqueue is up at {stack.url} (broker {stack.settings.broker_url});"
                          " logs in var/log. Ctrl-C stops it.")
            console.print(f"API key for this session's board: {stack.api_key}")
            while all(p.poll() is None for p in stack.procs):
                time.sleep(0.5)
            raise CvqError("a child process exited; see var/log")
    except KeyboardInterrupt:
        console.print("stopped")


@app.command()
@one_line_errors
def submit(
    file: Annotated[Path, typer.Argument(help="JSON array or JSONL of {cv, position?, external_id?}.")],
    url: Annotated[str, typer.Option(help="API base URL.")] = "http://127.0.0.1:8000",
    api_key: Annotated[str, typer.Option(envvar="CVQ_API_KEY", help="The board's API key.")] = "",
    wait: Annotated[bool, typer.Option(help="Poll until every submission is done.")] = False,
    timeout: Annotated[float, typer.Option(help="Seconds to wait with --wait.")] = 600,
) -> None:
    """Submit CVs from a file through the batch endpoint; optionally wait for results."""
    from models.data import read_records
    from shared.client import Client

    rows, _ = read_records(file)
    items = [submission_item(row, i) for i, row in enumerate(rows)]
    if not api_key:
        raise CvqError("no API key: pass --api-key or set CVQ_API_KEY")
    client = Client(url, api_key)
    ids = client.submit_many(items)
    console.print(f"submitted {len(ids)} CV(s)")
    if wait:
        show_results(client.wait(ids, timeout=timeout))
    else:
        for submission_id in ids:
            print(submission_id)


@app.command()
@one_line_errors
def demo(
    artifacts: Annotated[Path, typer.Option(help="Trained artifacts.")] = Path("var/artifacts"),
    n: Annotated[int, typer.Option(min=2, max=1000, help="CVs to submit.")] = 24,
) -> None:
    """The main job end to end: start everything, submit sample CVs over HTTP, show results."""
    import time
    from dataclasses import replace

    from models.generator import generate as make
    from shared.lifecycle import stop_on_sigterm
    from shared.stack import LocalStack

    settings = replace(Settings.from_env(), artifacts=artifacts)
    check_artifacts(artifacts)
    stop_on_sigterm()
    sample = make(n, seed=20261127)
    items = [{"cv": r["cv"], "position": r["opening_position"], "external_id": f"demo-{i}"}
             for i, r in enumerate(sample)]
    with LocalStack(settings, workers=1) as stack:
        console.print(f"API {stack.url}, broker {stack.settings.broker_url}, "
                      f"database {settings.database_url}; a worker is loading the model ...")
        client = stack.client()
        started = time.perf_counter()
        singles = [client.submit(item) for item in items[:4]]
        ids = singles + client.submit_many(items[4:])
        console.print(f"submitted {len(singles)} single(s) and a batch of {len(ids) - 4}")
        results = client.wait(ids, timeout=300)
        console.print(f"all {len(ids)} done in {time.perf_counter() - started:.1f} s "
                      "(including the worker's model load)")
        show_results(results, [r["result"] for r in sample])


keys_app = typer.Typer(help="API keys, one per job board (tenant).", no_args_is_help=True)
app.add_typer(keys_app, name="keys")


@keys_app.command("create")
@one_line_errors
def keys_create(name: Annotated[str, typer.Option(help="The board's name.")]) -> None:
    """Create a board and print its key: shown once, stored only as a hash."""
    from shared.db import make_sessions
    from shared.keys import create_key

    key = create_key(make_sessions(Settings.from_env().database_url), name)
    console.print(f"API key for {name} (shown once, store it now):")
    print(key)


@keys_app.command("list")
@one_line_errors
def keys_list() -> None:
    """Boards with their key prefixes; keys themselves are never stored."""
    from shared.db import make_sessions
    from shared.keys import list_boards

    table = Table(title="boards")
    for column in ("name", "key prefix", "created", "revoked"):
        table.add_column(column)
    for b in list_boards(make_sessions(Settings.from_env().database_url)):
        table.add_row(b.name, b.key_prefix + "...", b.created_at.isoformat(timespec="seconds"),
                      b.revoked_at.isoformat(timespec="seconds") if b.revoked_at else "")
    console.print(table)


@keys_app.command("revoke")
@one_line_errors
def keys_revoke(name: Annotated[str, typer.Argument(help="The board's name.")]) -> None:
    """Revoke a board's key: its requests get 401 from now on."""
    from shared.db import make_sessions
    from shared.keys import revoke

    revoke(make_sessions(Settings.from_env().database_url), name)
    console.print(f"revoked the key of {name}")


db_app = typer.Typer(help="Schema migrations (Alembic).", no_args_is_help=True)
app.add_typer(db_app, name="db")


@db_app.command("upgrade")
@one_line_errors
def db_upgrade() -> None:
    """Bring the database in CVQ_DATABASE_URL to this release's schema."""
    from shared.db import make_engine
    from shared.schema import current, upgrade

    engine = make_engine(Settings.from_env().database_url)
    before = current(engine)
    after = upgrade(engine)
    console.print(f"database schema: {before or 'empty'} -> {after}")


@db_app.command("current")
@one_line_errors
def db_current() -> None:
    """Print the database's schema revision and this release's; exit 1 when behind."""
    from shared.db import make_engine
    from shared.schema import current, head

    at, needed = current(make_engine(Settings.from_env().database_url)), head()
    print(f"database: {at or 'none'}; this release: {needed}")
    if at != needed:
        raise typer.Exit(1)


@app.command()
@one_line_errors
def purge(
    older_than: Annotated[str, typer.Option(help="Age such as 90d, 12h or 30m.")] = "90d",
) -> None:
    """Erase submissions (CV, result, neighbours) older than the retention period."""
    from shared.db import make_sessions
    from shared.retention import parse_age, purge_older_than

    erased = purge_older_than(make_sessions(Settings.from_env().database_url),
                              parse_age(older_than))
    console.print(f"erased {erased} submission(s) older than {older_than}")


def submission_item(row: object, index: int) -> dict[str, object]:
    if not isinstance(row, dict) or not isinstance(row.get("cv"), str):
        raise CvqError(f"record {index} has no 'cv' text")
    item: dict[str, object] = {"cv": row["cv"]}
    position = row.get("position", row.get("opening_position"))
    if isinstance(position, str):
        item["position"] = position
    if isinstance(row.get("external_id"), str):
        item["external_id"] = row["external_id"]
    return item


def show_results(results: list[dict[str, object]],
                 recorded: list[str] | None = None) -> None:
    table = Table(title="classified CVs")
    columns = ["id", "position", "status", "label", "P(label)", "nearest candidate (sim, outcome)"]
    if recorded:
        columns.insert(4, "recorded")
    for column in columns:
        table.add_column(column)
    for i, item in enumerate(results):
        result = item.get("result") or {}
        assert isinstance(result, dict)
        label = result.get("label", "")
        probs = result.get("probabilities") or {}
        neighbours = result.get("neighbours") or []
        nearest = (f"{neighbours[0]['reference_id']} ({neighbours[0]['similarity']:.3f}, "
                   f"{neighbours[0]['outcome']})" if neighbours else str(item.get("error") or ""))
        row = [str(item["id"])[:8], str(item.get("position") or ""), str(item["status"]),
               str(label), f"{probs.get(label, 0):.3f}" if label else "", nearest]
        if recorded:
            row.insert(4, recorded[i])
        table.add_row(*row)
    console.print(table)


def check_artifacts(folder: Path) -> None:
    from models.artifacts import read_manifest

    read_manifest(folder)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
