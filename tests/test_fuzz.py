"""Property test: whatever arrives, the API answers JSON and never a 500."""

from __future__ import annotations

import json
from typing import Any

from flask import Flask
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from api import create_app
from api.resources import resources
from shared.config import Settings
from shared.keys import create_key

#: Digits of other scripts (superscripts, circled, Arabic-Indic, Devanagari, fullwidth,
#: mathematical) that str.isdigit() accepts and int() may not: once a 500.
digit_like = st.text(alphabet="0123456789²³¹⁰⁴⁵①②⑩٠١٢३४５６𝟎𝟏", min_size=1, max_size=8)
#: Integers past Python's 4,300-digit conversion limit (as text: Python cannot even build
#: them), in queries and in bodies: once a 500.
huge_integers = st.integers(min_value=4000, max_value=6000).map(lambda n: "9" * n)
huge_number_bodies = st.builds(lambda n, where: (
    b'{"cv": "x", "position": ' + b"9" * n + b"}" if where else
    b'[{"cv": "x"}, ' + b"9" * n + b"]"), st.integers(4000, 6000), st.booleans())
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False)
    | st.text(max_size=50) | st.text(alphabet="\u200b\u200d\ufeff😀 ", max_size=5),
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=10), inner,
                                                                max_size=5),
    max_leaves=20)
submission_like = st.fixed_dictionaries(
    {}, optional={"cv": st.text() | json_values, "position": json_values,
                  "external_id": json_values, "extra": json_values})
ids = st.text(max_size=80).filter(lambda s: "/" not in s and "?" not in s and "#" not in s)
content_types = st.sampled_from(["application/json", "application/x-ndjson", "text/plain",
                                 "application/json; charset=utf-8", ""])


def check(response: Any) -> None:
    assert response.status_code < 500, response.get_data(as_text=True)
    assert response.is_json or response.status_code == 204
    if response.status_code >= 400:
        assert response.get_json()["message"]


def make_app(settings_: Settings) -> tuple[Flask, dict[str, str]]:
    app = create_app({"SETTINGS": settings_, "TESTING": True})
    key = create_key(resources(app).sessions, "fuzz")
    return app, {"Authorization": f"Bearer {key}"}


FUZZ = settings(max_examples=60, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture,
                                       HealthCheck.too_slow])


@FUZZ
@given(body=json_values | submission_like | st.lists(submission_like, max_size=4),
       content_type=content_types, raw=st.binary(max_size=64) | huge_number_bodies,
       use_raw=st.booleans(),
       key=st.sampled_from(["", "garbage", None]))
def test_submit_endpoints(settings: Settings, body: Any, content_type: str, raw: bytes,
                          use_raw: bool, key: str | None) -> None:
    app, auth = make_app(settings) if not hasattr(test_submit_endpoints, "app") else (
        test_submit_endpoints.app, test_submit_endpoints.auth)  # type: ignore[attr-defined]
    test_submit_endpoints.app, test_submit_endpoints.auth = app, auth  # type: ignore[attr-defined]
    headers = dict(auth) if key is None else {"Authorization": f"Bearer {key}"}
    data = raw if use_raw else json.dumps(body, ensure_ascii=False).encode("utf-8", "surrogatepass")
    client = app.test_client()
    for url in ("/v1/submissions", "/v1/submissions/batch"):
        check(client.post(url, data=data, content_type=content_type, headers=headers))
    if data.startswith(b"{") and len(data) > 2:  # the same object with a key repeated
        twice = data[:-1] + b', ' + data[1:]
        check(client.post("/v1/submissions", data=twice, content_type=content_type,
                          headers=headers))


@FUZZ
@given(submission_id=ids,
       query=st.dictionaries(st.sampled_from(["limit", "after", "status", "ids"]) | st.text(
           max_size=8), st.text(max_size=40) | digit_like | huge_integers,
           max_size=3),
       idem=st.text(max_size=300))
def test_read_endpoints_and_headers(settings: Settings, submission_id: str,
                                   query: dict[str, str], idem: str) -> None:
    app, auth = make_app(settings) if not hasattr(test_read_endpoints_and_headers, "app") else (
        test_read_endpoints_and_headers.app,  # type: ignore[attr-defined]
        test_read_endpoints_and_headers.auth)  # type: ignore[attr-defined]
    test_read_endpoints_and_headers.app = app  # type: ignore[attr-defined]
    test_read_endpoints_and_headers.auth = auth  # type: ignore[attr-defined]
    client = app.test_client()
    for url in (f"/v1/submissions/{submission_id}", f"/v1/reference/{submission_id}"):
        check(client.get(url, headers=auth))
    check(client.delete(f"/v1/submissions/{submission_id}", headers=auth))
    check(client.get("/v1/submissions", query_string=query, headers=auth))
    try:
        headers = {**auth, "Idempotency-Key": idem}
        check(client.post("/v1/submissions", json={"cv": "x"}, headers=headers))
    except ValueError:
        pass  # werkzeug refuses header values with newlines before the app sees them
