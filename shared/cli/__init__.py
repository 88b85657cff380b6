"""`cvqueue`: the command line, the top of the import graph (the only place that composes
api, worker and models). Errors are one line on stderr and exit code 2."""

from __future__ import annotations

from shared.cli import admin, modelling, serving, users
from shared.cli.common import app

__all__ = ["admin", "app", "main", "modelling", "serving", "users"]


def main() -> None:
    app()
