"""What the API process holds, built once in `create_app`: settings, database sessions, the
Celery producer, the broker's Redis, the limits, the reference records, the positions catalogue."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import redis
from celery import Celery
from flask import Flask, current_app
from sqlalchemy.orm import sessionmaker

from api.limits import Limits
from api.positions import Catalogue
from api.references import ReferenceStore
from shared.config import Settings


@dataclass
class Resources:
    settings: Settings
    sessions: sessionmaker[Any]
    celery: Celery
    broker: redis.Redis | None
    references: ReferenceStore
    catalogue: Catalogue
    limits: Limits


def resources(app: Flask | None = None) -> Resources:
    return (app or current_app).extensions["cvqueue"]  # type: ignore[no-any-return]
