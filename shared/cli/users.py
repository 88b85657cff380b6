"""Recruiters' accounts for the page: add, list, disable."""

from __future__ import annotations

import sys
from typing import Annotated

import typer
from rich.table import Table

from shared.cli.common import admin_database, app, console, one_line_errors
from shared.errors import CvqError

users_app = typer.Typer(help="Recruiters' accounts (the page's sign-in), one person each.",
                        no_args_is_help=True)
app.add_typer(users_app, name="users")


def _password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\n")
    if not sys.stdin.isatty():
        raise CvqError("no terminal to ask for the password; pipe it with --password-stdin")
    password: str = typer.prompt("password (12+ characters)", hide_input=True,
                                 confirmation_prompt=True)
    return password


@users_app.command("add")
@one_line_errors
def users_add(
    board: Annotated[str, typer.Option(help="The job board the recruiter works for.")],
    email: Annotated[str, typer.Option(help="The recruiter's e-mail: their sign-in name.")],
    password_stdin: Annotated[bool, typer.Option(
        "--password-stdin", help="Read the password from the first line of stdin.")] = False,
) -> None:
    """Add a recruiter; the password is asked at a prompt (never an argument)."""
    from shared.users import add_user, check_password

    password = _password(password_stdin)
    check_password(password)
    add_user(admin_database(), board, email, password)
    console.print(f"added {email.strip().lower()} to {board}; they sign in at /app/")


@users_app.command("list")
@one_line_errors
def users_list() -> None:
    """Recruiters with their board, creation, last sign-in, and whether disabled."""
    from shared.users import list_users

    table = Table(title="recruiters")
    for column in ("e-mail", "board", "created", "last sign-in", "disabled"):
        table.add_column(column)
    for u in list_users(admin_database()):
        table.add_row(u.email, u.board, u.created_at.isoformat(timespec="seconds"),
                      u.last_sign_in_at.isoformat(timespec="seconds") if u.last_sign_in_at
                      else "", "yes" if u.disabled else "")
    console.print(table)


@users_app.command("disable")
@one_line_errors
def users_disable(email: Annotated[str, typer.Argument(help="The recruiter's e-mail.")]) -> None:
    """Sign a recruiter out everywhere and refuse their sign-ins; their actions stay theirs."""
    from shared.users import disable_user

    disable_user(admin_database(), email)
    console.print(f"disabled {email.strip().lower()}")
