"""The operators' dashboard in a real headless browser against a running stack with a real
worker: sign in with an operator key, read the figures, sign out; a board key is refused."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from models.generator import generate
from shared.config import Settings
from shared.db import make_sessions
from shared.keys import create_key
from shared.stack import LocalStack
from tests.browser import browser_page, screenshot

pytestmark = pytest.mark.e2e


def test_dashboard_in_a_real_browser(settings: Settings, redis_url: str,
                                     tmp_path: Path) -> None:
    s = replace(settings, broker_url=redis_url, worker_pool="solo")
    with LocalStack(s, log_dir=tmp_path / "log") as stack, browser_page() as page:
        operator = create_key(make_sessions(s.database_url), "ops", role="operator")
        client = stack.client()
        client.wait(client.submit_many([{"cv": r["cv"]} for r in generate(20, seed=12)]),
                    timeout=180)
        page.goto(f"{stack.url}/dashboard/")
        assert page.url.endswith("/dashboard/sign-in")
        page.fill("input[name=key]", client.http.headers["Authorization"].split()[1])
        page.click("button[type=submit]")
        assert "not an active operator key" in page.inner_text("[role=alert]")
        page.fill("input[name=key]", operator)
        page.click("button[type=submit]")
        page.wait_for_selector("#done")
        assert page.inner_text("#done") == "20"
        assert page.inner_text("#workers") == "1"
        assert page.inner_text("#waiting") == "0"
        rows = page.locator("#workers-table tr")
        assert rows.count() == 2 and len(rows.nth(1).locator("td").nth(1).inner_text()) == 12
        assert page.locator("svg[aria-label='CVs done per 10 minutes'] rect").count() > 30
        path = screenshot(page, "dashboard")
        assert path.stat().st_size > 10_000
        page.click("text=Sign out")
        page.goto(f"{stack.url}/dashboard/")
        assert page.url.endswith("/dashboard/sign-in")
