"""Operators' commands: keys, db, purge."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.table import Table

from shared.cli.common import admin_database, app, console, one_line_errors
from shared.config import Settings
from shared.errors import CvqError

keys_app = typer.Typer(help="API keys, one per job board (tenant).", no_args_is_help=True)
app.add_typer(keys_app, name="keys")


@keys_app.command("create")
@one_line_errors
def keys_create(
    name: Annotated[str, typer.Option(help="The board's (or operator's) name.")],
    operator: Annotated[bool, typer.Option(
        help="An operator key: /metrics and the dashboard, no job board's data.")] = False,
) -> None:
    """Create a board (or an operator) and print its key: shown once, stored as a hash."""
    from shared.keys import create_key

    key = create_key(admin_database(), name, role="operator" if operator else "board")
    console.print(f"{'operator' if operator else 'API'} key for {name} (shown once, store it "
                  "now):")
    print(key)


@keys_app.command("list")
@one_line_errors
def keys_list() -> None:
    """Boards with their key prefixes; keys themselves are never stored."""
    from shared.keys import list_boards

    table = Table(title="key holders")
    for column in ("name", "role", "key prefix", "created", "revoked"):
        table.add_column(column)
    for b in list_boards(admin_database()):
        table.add_row(b.name, b.role, b.key_prefix + "...",
                      b.created_at.isoformat(timespec="seconds"),
                      b.revoked_at.isoformat(timespec="seconds") if b.revoked_at else "")
    console.print(table)


@keys_app.command("rotate")
@one_line_errors
def keys_rotate(name: Annotated[str, typer.Argument(help="The board's name.")]) -> None:
    """Give a board (active or revoked) a new key; the old one stops working now."""
    from shared.keys import rotate

    key = rotate(admin_database(), name)
    console.print(f"new API key for {name} (shown once, store it now; the old key is void):")
    print(key)


@keys_app.command("revoke")
@one_line_errors
def keys_revoke(name: Annotated[str, typer.Argument(help="The board's name.")]) -> None:
    """Revoke a board's key: its requests get 401 from now on."""
    from shared.keys import revoke

    revoke(admin_database(), name)
    console.print(f"revoked the key of {name}")


@keys_app.command("webhook")
@one_line_errors
def keys_webhook(
    name: Annotated[str, typer.Argument(help="The board's name.")],
    url: Annotated[str | None, typer.Option(help="Where to send the board's events.")] = None,
    rotate: Annotated[bool, typer.Option(help="A new signing secret (the old one stays "
                                               "valid for CVQ_WEBHOOK_GRACE_HOURS).")] = False,
    remove: Annotated[bool, typer.Option(help="Send this board no more events.")] = False,
) -> None:
    """Set a board's webhook URL (its signing secret is printed once), rotate or remove it."""
    from shared import subscriptions

    if [url is not None, rotate, remove].count(True) != 1:
        raise CvqError("give one of --url, --rotate or --remove")
    settings, sessions = Settings.from_env(), admin_database()
    board = subscriptions.board_id_by_name(sessions, name)
    if remove:
        subscriptions.remove_webhook(sessions, board)
        console.print(f"{name}: webhook removed")
        return
    secret = (subscriptions.rotate_secret(sessions, board, settings.webhook_grace_hours) if rotate
              else subscriptions.set_webhook(sessions, board, url or "",
                                             settings.webhook_allow_private))
    console.print(f"{name}: webhook {subscriptions.webhook_info(sessions, board)['url']}")
    if secret:
        console.print("signing secret (shown once, store it now):")
        print(secret)


@keys_app.command("redeliver")
@one_line_errors
def keys_redeliver(delivery: Annotated[str, typer.Argument(help="The delivery's id (msg_...).")]
                   ) -> None:
    """Send a webhook delivery again (dead or not), with the same webhook-id."""
    from shared.subscriptions import redeliver

    if not redeliver(admin_database(), delivery):
        raise CvqError(f"no delivery {delivery!r}")
    console.print(f"{delivery}: queued for delivery")


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
    from shared.retention import parse_age, purge_older_than

    erased = purge_older_than(admin_database(),
                              parse_age(older_than))
    console.print(f"erased {erased} submission(s) older than {older_than}")


@app.command()
@one_line_errors
def status(
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Queue, throughput, workers and failures; exit code 1 when work waits and no worker is
    alive (usable from cron or a health check)."""
    import dataclasses
    import json

    from shared.broker import redis_for
    from shared.status import collect

    settings = Settings.from_env()
    s = collect(admin_database(), redis_for(settings.broker_url), settings.queue)
    if as_json:
        print(json.dumps({**dataclasses.asdict(s), "stalled": s.stalled}, indent=2))
    else:
        show_status(s)
    if s.stalled:
        raise typer.Exit(1)


def show_status(s: Any) -> None:
    counts = ", ".join(f"{k} {s.submissions.get(k, 0)}" for k in
                       ("queued", "processing", "done", "failed"))
    messages = "broker unreachable" if s.queue_messages is None else f"{s.queue_messages} message(s)"
    console.print(f"queue: {messages}; submissions: {counts}")
    console.print(f"oldest queued: {s.oldest_queued_seconds:.1f} s")
    console.print(f"throughput: {s.done_last_minute / 60:.2f} CVs/s over the last minute, "
                  f"{s.done_last_hour / 3600:.2f} CVs/s over the last hour")
    console.print(f"sweeper: {s.requeued_total} re-enqueued, {s.gave_up_total} given up (total)")
    console.print(f"workers alive: {len(s.workers)}")
    for w in s.workers:
        console.print(f"  {w.name}  model {w.model_version} ({w.classifier})  "
                      f"beat {w.seconds_ago:.0f} s ago  {w.batches} batch(es)")
    console.print(f"failures in the last hour: {sum(n for _, n in s.failures_last_hour)}")
    for reason, n in s.failures_last_hour:
        console.print(f"  {n} x {reason}")
    if s.stalled:
        console.print(f"[bold red]no worker alive while {s.waiting} submission(s) wait[/]")
