"""CV files on the submit endpoint: text extracted, bad files refused with a 4xx and nothing
stored. Every file is a real one made here (fpdf2, pypdf, python-docx, zipfile)."""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import replace

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from api import create_app
from api.resources import resources
from shared.config import Settings
from shared.db import Submission
from shared.keys import create_key
from tests import cvfiles

CV_LINES = ["Jane Roe - Data Scientist", "7 years of experience in Python, SQL and Pandas.",
            "Built forecasting models for retail."]
DOCX_TYPE = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"


@pytest.fixture()
def app(settings: Settings) -> Iterator[Flask]:
    small = replace(settings, max_file_bytes=512 * 1024, max_file_pages=5)
    yield create_app({"SETTINGS": small, "TESTING": True})


@pytest.fixture()
def client(app: Flask) -> FlaskClient:
    client = app.test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {create_key(resources(app).sessions, 'b')}"
    return client


def upload(client: FlaskClient, content: bytes, filename: str, content_type: str | None = None,
           **fields: str) -> tuple[int, dict]:
    part = (io.BytesIO(content), filename, content_type) if content_type else (
        io.BytesIO(content), filename)
    r = client.post("/v1/submissions", data={"file": part, **fields},
                    content_type="multipart/form-data")
    return r.status_code, r.get_json()


def stored(app: Flask) -> list[Submission]:
    with resources(app).sessions() as session:
        return list(session.scalars(select(Submission)))


@pytest.mark.parametrize("make, filename", [
    (lambda: cvfiles.pdf(CV_LINES), "cv.pdf"),
    (lambda: cvfiles.docx(CV_LINES[:1], ["7 years of experience in Python, SQL and Pandas."]),
     "cv.docx"),
    (lambda: "\n".join(CV_LINES).encode(), "cv.txt"),
])
def test_a_file_is_stored_as_its_text(app: Flask, client: FlaskClient, make, filename) -> None:
    status, body = upload(client, make(), filename, position="Data Scientist", external_id="f1")
    assert status == 202, body
    [row] = stored(app)
    assert row.id == body["id"] and row.position == "Data Scientist" and row.external_id == "f1"
    assert "7 years of experience in Python, SQL and Pandas." in row.cv
    assert "Data Scientist" in row.cv
    assert "warnings" not in body


def test_the_declared_mime_type_wins_over_the_extension(app: Flask, client: FlaskClient) -> None:
    status, body = upload(client, cvfiles.pdf(CV_LINES), "upload.bin", "application/pdf")
    assert status == 202, body
    status, body = upload(client, cvfiles.docx(CV_LINES), "upload", DOCX_TYPE)
    assert status == 202, body


BAD_FILES = [
    # (what, content, filename, content type, status, error code)
    ("encrypted PDF", lambda: cvfiles.encrypted_pdf(CV_LINES), "cv.pdf", None, 422,
     "encrypted_file"),
    ("corrupt PDF", lambda: cvfiles.corrupt_pdf(CV_LINES), "cv.pdf", None, 422, "unreadable_file"),
    ("image-only PDF", cvfiles.image_only_pdf, "scan.pdf", None, 422, "no_text"),
    ("PDF over the page limit", lambda: cvfiles.pdf(CV_LINES, pages=6), "cv.pdf", None, 413,
     "too_many_pages"),
    ("DOCX zip bomb", cvfiles.zip_bomb_docx, "cv.docx", None, 422, "suspicious_archive"),
    ("ZIP that is no DOCX", cvfiles.plain_zip, "cv.docx", None, 415, "file_type_mismatch"),
    ("PDF named .docx", lambda: cvfiles.pdf(CV_LINES), "cv.docx", None, 415,
     "file_type_mismatch"),
    ("DOCX declared as PDF", lambda: cvfiles.docx(CV_LINES), "cv.docx", "application/pdf", 415,
     "file_type_mismatch"),
    ("PNG declared as text", cvfiles.png, "cv.txt", None, 415, "file_type_mismatch"),
    ("PNG as an image", cvfiles.png, "cv.png", "image/png", 415, "unsupported_file_type"),
    ("unknown extension", lambda: b"Python developer", "cv.rtf", None, 415,
     "unsupported_file_type"),
    ("Latin-1 text", lambda: "Développeur Python, 5 ans".encode("latin-1"), "cv.txt", None, 422,
     "unreadable_file"),
    ("file over the size limit", lambda: b"Python developer. " * 40_000, "cv.txt", None, 413,
     "file_too_large"),
    ("empty file", lambda: b"", "cv.txt", None, 400, "invalid_request"),
    ("text with no letters", lambda: b"12345 ... 678", "cv.txt", None, 422, "no_text"),
]


@pytest.mark.parametrize("what, make, filename, content_type, status, code", BAD_FILES,
                         ids=[b[0] for b in BAD_FILES])
def test_a_bad_file_is_a_clear_4xx_and_nothing_is_stored(
        app: Flask, client: FlaskClient, what, make, filename, content_type, status,
        code) -> None:
    got, body = upload(client, make(), filename, content_type)
    assert (got, body["error"]) == (status, code), body
    assert body["message"] and "Traceback" not in body["message"]
    assert stored(app) == []


@pytest.mark.parametrize("data, message", [
    ({}, "exactly one 'file'"),
    ({"cv": "Python developer"}, "unknown form field 'cv'"),
    ({"file": (io.BytesIO(b"Python dev"), "cv.txt"), "extra": "1"}, "unknown form field 'extra'"),
    ({"file": [(io.BytesIO(b"Python dev"), "a.txt"), (io.BytesIO(b"Java dev"), "b.txt")]},
     "exactly one 'file'"),
])
def test_malformed_forms_are_400(app: Flask, client: FlaskClient, data, message) -> None:
    r = client.post("/v1/submissions", data=data, content_type="multipart/form-data")
    assert r.status_code == 400 and message in r.get_json()["message"], r.get_json()
    assert stored(app) == []


def test_a_part_with_an_unreadable_name_is_400_not_500(app: Flask, client: FlaskClient) -> None:
    """Found by schemathesis: werkzeug files such a part under the key None."""
    boundary = "b0undary"
    body = (f'--{boundary}\r\nContent-Disposition: form-data; name="x\\"\r\n\r\nv\r\n'
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="a.txt"'
            f'\r\n\r\nPython developer\r\n--{boundary}--\r\n').encode()
    r = client.post("/v1/submissions", data=body,
                    content_type=f"multipart/form-data; boundary={boundary}")
    assert r.status_code == 400 and "unknown form field" in r.get_json()["message"]
    assert stored(app) == []


def test_a_retried_upload_with_the_same_idempotency_key_is_one_submission(
        app: Flask, client: FlaskClient) -> None:
    content = cvfiles.pdf(CV_LINES)
    answers = [client.post("/v1/submissions", headers={"Idempotency-Key": "upload-1"},
                           data={"file": (io.BytesIO(content), "cv.pdf")},
                           content_type="multipart/form-data") for _ in range(2)]
    assert [a.status_code for a in answers] == [202, 202]
    assert answers[0].get_json()["id"] == answers[1].get_json()["id"]
    assert answers[1].headers["Idempotent-Replayed"] == "true"
    with resources(app).sessions() as session:
        assert session.scalar(select(func.count()).select_from(Submission)) == 1
