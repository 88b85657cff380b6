"""A board's submissions as the page lists and exports them: filters, newest first."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from flask import abort
from sqlalchemy import ColumnElement, select
from sqlalchemy.orm import selectinload, sessionmaker
from werkzeug.datastructures import MultiDict

from api.validation import ID_RE
from shared.db import STATUSES, Result, Submission, User

PAGE = 50
EXPORT_MAX = 10_000
#: A spreadsheet runs a cell starting with these as a formula (CSV injection).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


@dataclass(frozen=True)
class Filters:
    status: str = ""
    label: str = ""
    position: str = ""
    before: str = ""
    page: int = PAGE

    @classmethod
    def from_args(cls, args: MultiDict[str, str]) -> Filters:
        def arg(name: str) -> str:
            return args.get(name, "").strip()[:200]

        found = cls(arg("status"), arg("label"), arg("position"), arg("before"))
        if found.status not in ("", *STATUSES) or (found.before and not ID_RE.fullmatch(
                found.before)):
            abort(400)
        return found

    def where(self, board: int) -> ColumnElement[bool]:
        where: ColumnElement[bool] = Submission.board_id == board
        if self.status:
            where = where & (Submission.status == self.status)
        if self.position:
            where = where & (Submission.position == self.position)
        if self.label:
            where = where & Submission.seq.in_(select(Result.submission_seq).where(
                Result.label == self.label))
        if self.before:
            where = where & (Submission.seq < select(Submission.seq).where(
                Submission.id == self.before, Submission.board_id == board).scalar_subquery())
        return where

    def describe(self) -> str:
        return " ".join(f"{k}={v}" for k, v in (("status", self.status), ("label", self.label),
                                               ("position", self.position)) if v) or "all"


def find(sessions: sessionmaker[Any], board: int, filters: Filters, ids: list[str] | None = None,
         limit: int | None = None, options: Sequence[Any] = ()) -> list[Submission]:
    stmt = select(Submission).where(filters.where(board)).order_by(Submission.seq.desc())
    if ids is not None:
        stmt = stmt.where(Submission.id.in_(ids))
    if limit:
        stmt = stmt.limit(limit)
    with sessions() as session:
        return list(session.scalars(stmt.options(*options)))


def _cell(value: Any) -> str:
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def export_csv(sessions: sessionmaker[Any], board: int, filters: Filters) -> str:
    """The filtered submissions (newest first, at most EXPORT_MAX), without CV text."""
    rows = find(sessions, board, filters, limit=EXPORT_MAX,
                options=[selectinload(Submission.result)])
    with sessions() as session:
        emails = dict(session.execute(select(User.id, User.email).where(
            User.board_id == board)).tuples().all())
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["id", "external_id", "position", "status", "label", "probability",
                     "classifier", "created_at", "finished_at", "submitted_by"])
    for s in rows:
        r = s.result
        writer.writerow([_cell(v) for v in (
            s.id, s.external_id, s.position, s.status, r.label if r else "",
            f"{r.probabilities[r.label]:.4f}" if r else "", r.classifier if r else "",
            s.created_at.isoformat(timespec="seconds"),
            s.finished_at.isoformat(timespec="seconds") if s.finished_at else "",
            emails.get(s.submitted_by or -1, ""))])
    return out.getvalue()
