"""Running the system: api, worker, sweep, up, demo, submit."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from shared.cli.common import app, check_artifacts, console, one_line_errors
from shared.config import Settings
from shared.errors import CvqError


@app.command()
@one_line_errors
def api(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
) -> None:
    """Serve the intake API with waitress (threads and limits: CVQ_HTTP_*)."""
    import gc

    from api import create_app
    from api.server import make_server
    from shared.bootstrap import service_settings
    from shared.lifecycle import require_free_port, stop_on_sigterm
    from shared.priority import realtime_priority

    settings = service_settings()
    require_free_port(host, port)
    application = create_app({"SETTINGS": settings})
    # What start-up built (the references' metadata, the catalogue, the contract) lives as
    # long as the process: out of the collector's sight, a full collection no longer walks
    # it on a request's time (measured: 57-66 ms pauses; a 100-id poll's p95 78 -> 20 ms).
    gc.freeze()
    server = make_server(application, settings, host, port)
    if settings.api_realtime:  # once waitress's threads exist; after the start-up's CPU
        realtime_priority()
    stop_on_sigterm()  # waitress closes its sockets on KeyboardInterrupt
    print(f"serving on http://{host}:{port}", flush=True)
    server.run()


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
    from shared.lifecycle import stop_on_sigterm, stop_requested
    from shared.stack import LocalStack

    settings = Settings.from_env()
    check_artifacts(settings.artifacts)
    stop_on_sigterm()
    try:
        with LocalStack(settings, workers=workers, port=port) as stack:
            console.print(f"cvqueue is up at {stack.url} (broker {stack.settings.broker_url});"
                          " logs in var/log. Ctrl-C stops it.")
            console.print(f"API key for this session's board: {stack.api_key}")
            while not stop_requested.wait(0.5):
                if any(p.poll() is not None for p in stack.procs):
                    raise CvqError("a child process exited; see var/log")
    except KeyboardInterrupt:
        pass
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
                      f"database {settings.database_url}; a worker has its model loaded")
        client = stack.client()
        started = time.perf_counter()
        singles = [client.submit(item) for item in items[:4]]
        ids = singles + client.submit_many(items[4:])
        console.print(f"submitted {len(singles)} single(s) and a batch of {len(ids) - 4}")
        results = client.wait(ids, timeout=300)
        console.print(f"all {len(ids)} done in {time.perf_counter() - started:.1f} s "
                      "from the first submit")
        show_results(results, [r["result"] for r in sample])


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
