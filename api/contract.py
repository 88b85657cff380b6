"""The API contract: api/openapi.yaml (OpenAPI 3.1, kept beside the code and checked
against the running app by tests/test_contract.py) served as /openapi.json, and a readable
page of it at /docs (server-rendered: no script, nothing fetched from elsewhere)."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import yaml
from flask import Blueprint, Response, jsonify, render_template
from flask.typing import ResponseReturnValue

contract = Blueprint("contract", __name__)
SPEC = Path(__file__).with_name("openapi.yaml")
METHODS = ("get", "put", "post", "delete")
CSP = "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'"


@functools.cache
def spec() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(SPEC.read_text(encoding="utf-8"))
    return loaded


def operations() -> list[dict[str, Any]]:
    """Every documented (method, path) with what the page shows of it."""
    found = []
    for path, item in spec()["paths"].items():
        shared = item.get("parameters", [])
        for method in METHODS:
            if method in item:
                op = item[method]
                found.append({"method": method.upper(), "path": path,
                              "summary": op.get("summary", ""),
                              "parameters": [p for p in shared + op.get("parameters", [])
                                             if "name" in p],
                              "body": sorted(op.get("requestBody", {}).get("content", {})),
                              "responses": sorted(op.get("responses", {})),
                              "public": op.get("security") == []})
    return found


@contract.get("/openapi.json")
def openapi() -> ResponseReturnValue:
    return jsonify(spec())


@contract.get("/docs")
def docs() -> ResponseReturnValue:
    page = render_template("docs.html", info=spec()["info"], operations=operations(),
                           webhooks=sorted(spec().get("webhooks", {})))
    response = Response(page, mimetype="text/html")
    response.headers["Content-Security-Policy"] = CSP
    return response
