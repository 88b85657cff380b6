"""What every command shares: the Typer app, the console, and one-line errors."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import Any, TypeVar

import typer
from rich.console import Console

from shared.bootstrap import database
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



def check_artifacts(folder: Path) -> None:
    from models.artifacts import read_manifest

    read_manifest(folder)


def admin_database() -> Any:
    """Sessions for an operator command: the schema is checked (and upgraded outside
    production) as for the services."""
    return database(Settings.from_env())
