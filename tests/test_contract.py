"""The contract, api/openapi.yaml, against the running app: every route is documented and
every documented route is served; then schemathesis throws schema-driven requests at a
live API (real HTTP, waitress, SQLite, real Redis) and every answer must be no 5xx and
conform to the document: status code, content type, headers and body schema."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from api import create_app
from api.contract import operations, spec
from shared.config import Settings
from shared.stack import LocalStack

CONTRACT_PATHS = ("/v1/", "/healthz", "/readyz", "/metrics", "/openapi.json")
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_headers_conformance, response_schema_conformance]


def test_every_route_is_documented_and_every_documented_route_is_served(
        tmp_path: Path) -> None:
    app = create_app({"SETTINGS": replace(Settings(), database_url=f"sqlite:///{tmp_path}/c.db",
                                          broker_url="memory://")})
    served = {(method, re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule))
              for rule in app.url_map.iter_rules() if rule.rule.startswith(CONTRACT_PATHS)
              for method in rule.methods - {"HEAD", "OPTIONS"}}
    documented = {(op["method"], op["path"]) for op in operations()}
    assert served == documented
    assert spec()["openapi"] == "3.1.0" and set(spec()["webhooks"]) == {
        "submission.completed", "submission.failed", "batch.completed"}


@pytest.fixture(scope="module")
def live(artifacts: Path, redis_url: str, tmp_path_factory: pytest.TempPathFactory
         ) -> Iterator[LocalStack]:
    folder = tmp_path_factory.mktemp("contract")
    s = replace(Settings(), env="test", database_url=f"sqlite:///{folder / 'cvq.db'}",
                artifacts=artifacts, queue=f"cvq-contract-{uuid.uuid4().hex[:8]}",
                broker_url=redis_url, worker_pool="solo", rate_limit_per_minute=10**6,
                rate_limit_per_address=10**6)
    with LocalStack(s, log_dir=folder / "log") as stack:
        yield stack


# The document as the app serves it (test_the_served_document_is_the_file checks that).
schema = schemathesis.openapi.from_dict(spec())


def test_the_served_document_is_the_file(live: LocalStack) -> None:
    import requests

    assert requests.get(f"{live.url}/openapi.json", timeout=10).json() == spec()
    assert "POST" in requests.get(f"{live.url}/docs", timeout=10).text


@pytest.mark.e2e
@pytest.mark.filterwarnings("ignore:Skipped test cases with unsupported payload media types")
@schema.parametrize()
@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
def test_the_live_api_conforms_to_its_contract(case: schemathesis.Case, live: LocalStack
                                               ) -> None:
    case.call_and_validate(base_url=live.url, checks=CHECKS,
                           headers={"Authorization": f"Bearer {live.api_key}"})
