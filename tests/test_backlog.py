"""A board's share of the queue, admitted from a bound (api.backlog): exact at the share,
without counting the backlog on every submit, whoever else inserts or finishes rows."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import insert, select, update

from api.resources import resources
from shared.config import Settings
from shared.db import Board, Submission, new_id
from shared.keys import create_key
from tests.test_api import board_client, on_the_wire

SHARE = 6
CV = {"cv": "Go developer, eight years of payment services."}


def counts(sent: list[tuple[str, Any]]) -> int:
    """How many statements counted the board's unfinished submissions."""
    return sum("count(*)" in sql for sql, _ in sent)


def submit(client: FlaskClient, n: int = 1) -> Any:
    if n == 1:
        return client.post("/v1/submissions", json=CV)
    return client.post("/v1/submissions/batch", json=[CV] * n)


def board_id(app: Flask, name: str = "board-w") -> int:
    with resources(app).sessions() as s:
        return int(s.scalar(select(Board.id).where(Board.name == name)))


def other_rows(app: Flask, board: int, n: int) -> None:
    """Rows as another API process would insert them: not through this process's submits."""
    with resources(app).sessions.begin() as s:
        s.connection().execute(insert(Submission), [
            {"id": new_id(), "board_id": board, "status": "queued", "cv": "x", "lane": "bulk"}
            for _ in range(n)])


def finish(app: Flask, n: int) -> None:
    """A worker's store, not through this process: `n` of the queued CVs done."""
    with resources(app).sessions.begin() as s:
        seqs = s.scalars(select(Submission.seq).where(Submission.status == "queued")
                         .limit(n)).all()
        s.execute(update(Submission).where(Submission.seq.in_(seqs)).values(status="done"))


@pytest.fixture(params=["sqlite", "postgresql"])
def board(settings: Settings, request: pytest.FixtureRequest) -> tuple[Flask, FlaskClient]:
    return board_client(replace(settings, max_board_queue=SHARE), request.param, request)


def test_submits_under_the_share_count_the_backlog_once(
        board: tuple[Flask, FlaskClient]) -> None:
    app, client = board
    sent, _ = on_the_wire(app)
    assert submit(client).status_code == 202
    assert counts(sent) == 1, "the first submit counts exactly"
    sent.clear()
    for _ in range(3):
        assert submit(client).status_code == 202
    assert counts(sent) == 0, "the next ones are admitted from the bound"


def test_the_share_is_exact(board: tuple[Flask, FlaskClient]) -> None:
    app, client = board
    assert submit(client, SHARE - 1).status_code == 202
    assert submit(client).status_code == 202
    full = submit(client)
    assert full.status_code == 429
    assert full.get_json()["error"] == "board_queue_full"
    assert (full.get_json()["waiting"], full.get_json()["limit"]) == (SHARE, SHARE)
    finish(app, 2)  # finished rows leave room, which only a count sees
    assert submit(client, 2).status_code == 202
    assert submit(client).status_code == 429


def test_rows_inserted_elsewhere_are_within_the_bound(
        board: tuple[Flask, FlaskClient]) -> None:
    """Another API process's rows for this board, which this process never saw: the
    bound grows by every row inserted since its count, so the next submit counts them."""
    app, client = board
    assert submit(client, 2).status_code == 202
    other_rows(app, board_id(app), SHARE - 2)
    sent, _ = on_the_wire(app)
    refused = submit(client)
    assert refused.status_code == 429 and refused.get_json()["waiting"] == SHARE
    assert counts(sent) == 1


def test_other_boards_rows_cost_a_count_not_a_refusal(
        board: tuple[Flask, FlaskClient]) -> None:
    app, client = board
    assert submit(client, 2).status_code == 202
    create_key(resources(app).sessions, "board-other")
    other_rows(app, board_id(app, "board-other"), 50)
    sent, _ = on_the_wire(app)
    assert submit(client).status_code == 202
    assert counts(sent) == 1, "the bound (2 + 50) left no room: counted, 2 of this board's"
    sent.clear()
    assert submit(client).status_code == 202
    assert counts(sent) == 0


def test_a_bound_older_than_fresh_for_is_counted_again(
        board: tuple[Flask, FlaskClient]) -> None:
    app, client = board
    resources(app).limits.backlogs.fresh_for = 0.0
    sent, _ = on_the_wire(app)
    for _ in range(3):
        assert submit(client).status_code == 202
    assert counts(sent) == 3
