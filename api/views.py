"""The /v1 endpoints a job board calls: submit, poll, list, erase, look up references."""

from __future__ import annotations

import json
import logging
from typing import Any

from flask import Blueprint, jsonify, request
from flask.typing import ResponseReturnValue
from sqlalchemy import BindParameter, ColumnElement, bindparam, select

from api import idempotency, intake, validation
from api.auth import authenticate, board_id
from api.errors import bad_request, not_found, unavailable
from api.resources import read_session, resources
from api.validation import NewSubmission
from shared.db import STATUSES, Submission, new_id
from shared.retention import erase_one
from shared.serialize import iso_time, page_json, shown, shown_statement

log = logging.getLogger("cvqueue.api")
v1 = Blueprint("v1", __name__, url_prefix="/v1")
v1.before_request(authenticate)
MAX_POLL_IDS = 100
MAX_LIMIT = 500


def _accept(items: list[NewSubmission], ids: list[str], body: dict[str, Any],
            headers: dict[str, str], content: bytes | None = None,
            batch_id: str | None = None) -> ResponseReturnValue:
    """Replay a known Idempotency-Key, or check the queue, commit, enqueue and answer 202."""
    res = resources()
    idem = idempotency.from_request(request, content)
    if idem and (stored := idempotency.stored_response(read_session(), board_id(), *idem)):
        return stored
    res.limits.check_queue(read_session(), board_id(), len(items))
    if winner := intake.persist(items, ids, board_id(), body=body, idem=idem, batch_id=batch_id):
        return winner
    intake.enqueue_ids(ids, intake.lane_of(batch_id))
    return jsonify(body), 202, {"Retry-After": str(res.settings.retry_after), **headers}


@v1.post("/submissions")
def submit() -> ResponseReturnValue:
    """A JSON body, or a CV file (multipart/form-data) whose text is extracted here."""
    settings, content = resources().settings, None
    if request.mimetype == "multipart/form-data":
        item = validation.file_body(request.files, request.form, settings)
        content = json.dumps([item.cv, item.position, item.external_id]).encode()
    else:
        item = validation.single_body(request.get_data(), request.content_type, settings)
    sid = new_id()
    location = f"/v1/submissions/{sid}"
    body: dict[str, Any] = {"id": sid, "status": "queued", "status_url": location}
    if warning := resources().catalogue.warning(item.position):
        body["warnings"] = [warning]
    return _accept([item], [sid], body, {"Location": location}, content)


@v1.post("/submissions/batch")
def submit_batch() -> ResponseReturnValue:
    items = validation.batch_body(request.get_data(), request.content_type, resources().settings)
    ids, batch_id = [new_id() for _ in items], new_id()
    body: dict[str, Any] = {"batch_id": batch_id, "batch_url": f"/v1/batches/{batch_id}",
                            "ids": ids, "count": len(ids), "status": "queued"}
    catalogue = resources().catalogue
    warnings = [{"index": i, **w} for i, item in enumerate(items)
                if (w := catalogue.warning(item.position))]
    if warnings:
        body["warnings"] = warnings
    return _accept(items, ids, body, {}, batch_id=batch_id)


@v1.get("/positions")
def list_positions() -> ResponseReturnValue:
    catalogue = resources().catalogue
    if not catalogue.path.parent.is_dir():
        raise unavailable("model artifacts are not available", resources().settings.retry_after)
    return jsonify({"positions": catalogue.listing()})


def _board(by_id: bool, board: BindParameter[int] | None = None) -> ColumnElement[bool]:
    """This board's rows: the request's board, or `board` in a statement built once.

    A lookup by id filters on `board_id + 0`, which no index serves, so the unique id index
    finds the rows: with statistics that lag the table (PostgreSQL's before autovacuum's
    first ANALYZE, or after a board's fast growth) the planner takes the board index for
    selective and reads every row the board has. A 100-id poll took 20 ms inside the app
    in `make bench` that way, 8 ms now (tests/test_api.py reads the plans)."""
    column = Submission.board_id + 0 if by_id else Submission.board_id
    return column == (board_id() if board is None else board)


#: The polls by id, built once: building a statement took as long as running it (a single
#: poll's 0.60 -> 0.32 ms on SQLite, scratch).
ONE_SUBMISSION = shown_statement((Submission.id == bindparam("id"))
                                 & _board(True, bindparam("board")))
SUBMISSIONS_OF = shown_statement(Submission.id.in_(bindparam("ids", expanding=True))
                                 & _board(True, bindparam("board")))
STATUSES_OF = (select(Submission.id, Submission.status, Submission.finished_at)
               .where(Submission.id.in_(bindparam("ids", expanding=True)),
                      _board(True, bindparam("board"))))


@v1.get("/submissions/<submission_id>")
def get_submission(submission_id: str) -> ResponseReturnValue:
    """One submission with its result and neighbours, in one statement; never the CV."""
    validation.submission_id(submission_id)
    found = shown(read_session(), ONE_SUBMISSION, {"id": submission_id, "board": board_id()})
    if not found:
        raise not_found()
    return jsonify(found[0])


@v1.delete("/submissions/<submission_id>")
def erase_submission(submission_id: str) -> ResponseReturnValue:
    """Erase the CV, its result and neighbours; then it is 404. A message still queued for it
    carries only the id, and workers skip ids they cannot claim."""
    validation.submission_id(submission_id)
    if not erase_one(resources().sessions, board_id(), submission_id):
        raise not_found()
    return "", 204


def _status_only(ids: list[str]) -> dict[str, dict[str, Any]]:
    """The cheap poll: three columns, no result, neighbours or explanation to load."""
    rows = read_session().execute(STATUSES_OF, {"ids": ids, "board": board_id()})
    return {sid: {"id": sid, "status": status, "finished_at": iso_time(finished)}
            for sid, status, finished in rows}


def _whole(ids: list[str]) -> dict[str, dict[str, Any]]:
    found = shown(read_session(), SUBMISSIONS_OF, {"ids": ids, "board": board_id()})
    return {item["id"]: item for item in found}


def _poll_ids(raw: str, fields: str | None) -> ResponseReturnValue:
    ids = [validation.submission_id(i.strip()) for i in raw.split(",") if i.strip()]
    if not ids:
        raise bad_request("'ids' is empty")
    if len(ids) > MAX_POLL_IDS:
        raise bad_request(f"at most {MAX_POLL_IDS} ids per poll, got {len(ids)}")
    if fields is not None and fields != "status":
        raise bad_request("'fields' may only be 'status' (id, status and finished_at)")
    found = _status_only(ids) if fields else _whole(ids)
    return jsonify({"items": [found[i] for i in ids if i in found],
                    "missing": [i for i in ids if i not in found]})


def _cursor_seq(cursor: str | None) -> int:
    """A cursor is the id of the last submission seen (opaque: it reveals nothing of the
    system's volume, unlike a global sequence number); empty or absent: the beginning."""
    if not cursor:
        return 0
    validation.submission_id(cursor)
    seq = read_session().scalar(select(Submission.seq).where(
        Submission.id == cursor, Submission.board_id == board_id()))
    if seq is None:
        raise bad_request("'after' is not a submission of this board (erased?)")
    return int(seq)


@v1.get("/submissions")
def list_submissions() -> ResponseReturnValue:
    unknown = sorted(set(request.args) - {"ids", "fields", "status", "after", "limit"})
    if unknown:
        raise bad_request(f"unsupported query parameter '{unknown[0]}' "
                          "(use ids [and fields], or status, after and limit)")
    if "ids" in request.args:
        if set(request.args) - {"ids", "fields"}:
            raise bad_request("'ids' can only be combined with 'fields'")
        return _poll_ids(request.args["ids"], request.args.get("fields"))
    if "fields" in request.args:
        raise bad_request("'fields' goes with 'ids'")
    status = request.args.get("status")
    if status is not None and status not in STATUSES:
        raise bad_request(f"'status' must be one of {', '.join(STATUSES)}")
    after = _cursor_seq(request.args.get("after"))
    limit = validation.int_param(request.args, "limit", 100, 1, MAX_LIMIT)
    where = Submission.seq > after
    if status:
        where = where & (Submission.status == status)
    items = shown(read_session(), shown_statement(where & _board(by_id=False)).limit(limit + 1))
    return jsonify(page_json(items, limit, request.args.get("after", "")))


@v1.get("/reference/<reference_id>")
def get_reference(reference_id: str) -> ResponseReturnValue:
    if len(reference_id) > 64:
        raise bad_request("malformed reference id")
    store = resources().references
    if not store.available():
        raise unavailable("model artifacts are not available", resources().settings.retry_after)
    found = store.get(reference_id)
    if found is None:
        raise not_found("reference record")
    return jsonify(found)
