"""The recruiters' accounts and page through Flask's test client (real SQLite, real Redis for
the sign-in limit): sessions, CSRF, scoping to the board, the audit trail, the CSV export,
and `cvqueue users` as a real subprocess. The browser test is tests/test_page.py."""

from __future__ import annotations

import csv
import io
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from api import create_app
from api.resources import resources
from shared.config import Settings
from shared.db import AuditEvent, Submission, User
from shared.keys import create_key, revoke
from shared.users import add_user, disable_user
from tests import cvfiles

PASSWORD = "correct horse battery staple"
TOKEN = re.compile(r'name="csrf_token"[^>]*?value="([^"]+)"')


@pytest.fixture()
def app(settings: Settings, redis_url: str) -> Iterator[Flask]:
    app = create_app({"SETTINGS": replace(settings, broker_url=redis_url), "TESTING": True})
    sessions = resources(app).sessions
    for board, email in (("board-a", "ann@example.com"), ("board-b", "bob@example.com")):
        create_key(sessions, board)
        add_user(sessions, board, email, PASSWORD)
    yield app


def token(client: FlaskClient, path: str = "/app/sign-in") -> str:
    found = TOKEN.search(client.get(path).text)
    assert found, path
    return found.group(1)


def signed_in(app: Flask, email: str = "ann@example.com") -> FlaskClient:
    client = app.test_client()
    r = client.post("/app/sign-in", data={"email": email, "password": PASSWORD,
                                          "csrf_token": token(client)})
    assert r.status_code == 302 and r.headers["Location"] == "/app/", r.text
    return client


def evaluate(client: FlaskClient, **fields: object) -> str:
    r = client.post("/app/", data={"csrf_token": token(client, "/app/"), "position": "",
                                   **fields}, content_type="multipart/form-data")
    assert r.status_code == 302, r.text
    return str(r.headers["Location"]).rsplit("/", 1)[1]


def test_pages_need_a_signed_in_recruiter(app: Flask) -> None:
    client = app.test_client()
    for path in ("/app/", "/app/submissions", "/app/submissions.csv"):
        assert client.get(path).headers["Location"].startswith("/app/sign-in")


def test_wrong_password_unknown_user_and_missing_csrf_token_are_refused(app: Flask) -> None:
    client = app.test_client()
    for email, password in (("ann@example.com", "wrong password!"), ("who@example.com", PASSWORD)):
        r = client.post("/app/sign-in", data={"email": email, "password": password,
                                              "csrf_token": token(client)})
        assert r.status_code == 401 and "Wrong e-mail or password" in r.text
    r = client.post("/app/sign-in", data={"email": "ann@example.com", "password": PASSWORD})
    assert r.status_code == 400 and "CSRF" in r.get_json()["message"]


def test_sign_in_attempts_are_rate_limited_per_user(app: Flask) -> None:
    client = app.test_client()
    codes = [client.post("/app/sign-in", data={"email": "ann@example.com", "password": f"guess {i}!!",
                                               "csrf_token": token(client)}).status_code
             for i in range(11)]
    assert codes == [401] * 10 + [429]
    r = client.post("/app/sign-in", data={"email": "ann@example.com", "password": PASSWORD,
                                          "csrf_token": token(client)})
    assert r.status_code == 429  # even the right password waits out the window


def test_the_session_cookie_is_httponly_and_samesite(app: Flask) -> None:
    client = app.test_client()
    r = client.post("/app/sign-in", data={"email": "ann@example.com", "password": PASSWORD,
                                          "csrf_token": token(client)})
    cookie = r.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie


def test_disabling_a_user_or_revoking_the_board_signs_out_at_once(app: Flask) -> None:
    client = signed_in(app)
    assert client.get("/app/").status_code == 200
    disable_user(resources(app).sessions, "ann@example.com")
    assert client.get("/app/").status_code == 302
    bob = signed_in(app, "bob@example.com")
    revoke(resources(app).sessions, "board-b")
    assert bob.get("/app/submissions").status_code == 302


def test_a_recruiter_sees_only_their_boards_submissions(app: Flask) -> None:
    ann, bob = signed_in(app), signed_in(app, "bob@example.com")
    sid = evaluate(ann, cv="Backend Developer, 4 years of Node.js and Redis.")
    assert ann.get(f"/app/submissions/{sid}").status_code == 200
    assert bob.get(f"/app/submissions/{sid}").status_code == 404
    r = bob.post(f"/app/submissions/{sid}/erase",
                 data={"csrf_token": token(bob, "/app/submissions")})
    assert r.status_code == 404
    assert sid not in bob.get("/app/submissions").text
    assert sid in ann.get("/app/submissions").text


def test_actions_are_recorded_with_the_user_who_did_them(app: Flask) -> None:
    ann = signed_in(app)
    sid = evaluate(ann, cv="QA Engineer, 2 years of Selenium.", external_id="q-1")
    ann.get("/app/submissions.csv?status=queued")
    r = ann.post(f"/app/submissions/{sid}/erase", data={"csrf_token": token(ann, "/app/")})
    assert r.status_code == 302
    with resources(app).sessions() as session:
        ann_id = session.scalar(select(User.id).where(User.email == "ann@example.com"))
        events = session.execute(select(AuditEvent.user_id, AuditEvent.action, AuditEvent.target)
                                 .order_by(AuditEvent.id)).all()
        assert session.scalar(select(Submission).where(Submission.id == sid)) is None
    assert [tuple(e) for e in events] == [(ann_id, "sign_in", None), (ann_id, "submit", sid),
                                          (ann_id, "export", "status=queued"),
                                          (ann_id, "erase", sid)]


def test_an_uploaded_file_and_the_csv_export(app: Flask) -> None:
    ann = signed_in(app)
    pdf = (io.BytesIO(cvfiles.pdf(["Data Scientist", "5 years of Python"])), "cv.pdf")
    sid = evaluate(ann, file=pdf, position="Data Scientist", external_id="=1+1")
    with resources(app).sessions() as session:
        row = session.scalar(select(Submission).where(Submission.id == sid))
        assert row is not None and "5 years of Python" in (row.cv or "")
        assert row.submitted_by is not None
    rows = list(csv.DictReader(io.StringIO(ann.get("/app/submissions.csv").text)))
    assert [(r["id"], r["external_id"], r["submitted_by"]) for r in rows] == [
        (sid, "'=1+1", "ann@example.com")]


def test_a_bad_file_on_the_page_is_a_message_not_a_500(app: Flask) -> None:
    ann = signed_in(app)
    r = ann.post("/app/", data={"csrf_token": token(ann, "/app/"), "position": "",
                                "file": (io.BytesIO(cvfiles.image_only_pdf()), "scan.pdf")},
                 content_type="multipart/form-data")
    assert r.status_code == 422 and "no text" in r.text
    r = ann.post("/app/", data={"csrf_token": token(ann, "/app/"), "position": "Chef?",
                                "cv": "A CV"}, content_type="multipart/form-data")
    assert r.status_code == 400 and "Position: Not a valid choice" in r.text


def cvqueue(*args: str, stdin: str = "", db: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CVQ_DATABASE_URL": f"sqlite:///{db}"}
    return subprocess.run([sys.executable, "-m", "shared.cli", *args], input=stdin,
                          capture_output=True, text=True, env=env, timeout=120)


def test_users_command_adds_lists_and_disables(tmp_path: Path) -> None:
    db = tmp_path / "u.db"
    assert cvqueue("keys", "create", "--name", "board-a", db=db).returncode == 0
    add = ("users", "add", "--board", "board-a", "--email", "Ann@Example.com", "--password-stdin")
    done = cvqueue(*add, stdin=PASSWORD + "\n", db=db)
    assert done.returncode == 0, done.stderr
    for args, stdin, message in [
            (add, PASSWORD + "\n", "already exists"),
            (add, "short\n", "12 to 256 characters"),
            (("users", "add", "--board", "nope", "--email", "x@example.com", "--password-stdin"),
             PASSWORD + "\n", "no job board named 'nope'"),
            (("users", "add", "--board", "board-a", "--email", "not-an-email", "--password-stdin"),
             PASSWORD + "\n", "is not an e-mail address"),
            (("users", "add", "--board", "board-a", "--email", "c@example.com"), "",
             "--password-stdin"),
            (("users", "disable", "who@example.com"), "", "no active user")]:
        failed = cvqueue(*args, stdin=stdin, db=db)
        assert failed.returncode == 2 and message in failed.stderr, failed.stderr
        assert len(failed.stderr.strip().splitlines()) == 1
    assert "ann@example.com" in cvqueue("users", "list", db=db).stdout
    assert cvqueue("users", "disable", "ann@example.com", db=db).returncode == 0
    assert "yes" in cvqueue("users", "list", db=db).stdout
