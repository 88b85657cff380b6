"""What the API process holds: settings, database sessions, the Celery producer, references."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from celery import Celery
from flask import Flask, current_app
from sqlalchemy.orm import sessionmaker

from api.limits import Limits
from api.references import ReferenceStore
from shared.config import Settings


@dataclass
class Services:
    settings: Settings
    sessions: sessionmaker[Any]
    celery: Celery
    references: ReferenceStore
    limits: Limits


def services(app: Flask | None = None) -> Services:
    return (app or current_app).extensions["cvqueue"]  # type: ignore[no-any-return]
