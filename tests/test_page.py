"""The recruiters' page in a real headless browser (Debian chromium + Playwright) against a
running stack with a real worker: sign in, evaluate a pasted CV and an uploaded PDF, read
the explanation and the nearest past candidates, list, export, erase; screenshots written to
var/screenshots (docs/recruiters.png is one of them)."""

from __future__ import annotations

import csv
import io
from dataclasses import replace
from pathlib import Path

import pytest
import requests

from shared.config import Settings
from shared.db import make_sessions
from shared.keys import create_key, list_boards
from shared.stack import LocalStack
from shared.users import add_user
from tests import cvfiles
from tests.browser import browser_page, screenshot

pytestmark = pytest.mark.e2e
PASSWORD = "correct horse battery staple"
HOSTILE_CV = ("<script>window.pwned = 1</script><img src=x onerror=\"window.pwned = 2\">\n"
              "Data Scientist with 7 years of experience. Python, SQL and Pandas every day; "
              "built churn models and dashboards.")


def sign_in(page, url: str, email: str, password: str = PASSWORD) -> None:
    page.goto(f"{url}/app/")
    assert "/app/sign-in" in page.url
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")


def wait_done(page) -> None:
    page.wait_for_selector("#label", timeout=120_000)  # the page refreshes until the result
    assert page.inner_text("#status") == "done"


def test_a_recruiter_evaluates_reads_why_and_erases(settings: Settings, redis_url: str,
                                                    tmp_path: Path) -> None:
    s = replace(settings, broker_url=redis_url, worker_pool="solo")
    with LocalStack(s, log_dir=tmp_path / "log") as stack, browser_page() as page:
        sessions = make_sessions(s.database_url)
        create_key(sessions, "board-b")
        board = next(b.name for b in list_boards(sessions) if b.name.startswith("local-"))
        add_user(sessions, board, "ann@example.com", PASSWORD)
        add_user(sessions, "board-b", "bob@example.com", PASSWORD)
        dialogs: list[str] = []
        page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))

        sign_in(page, stack.url, "ann@example.com", "not the password")
        assert "Wrong e-mail or password" in page.inner_text("[role=alert]")
        sign_in(page, stack.url, "ann@example.com")
        page.select_option("select[name=position]", "Data Scientist")
        page.fill("textarea[name=cv]", HOSTILE_CV)
        page.click("button.primary")
        wait_done(page)
        pasted_url = page.url
        assert page.inner_text("#experience").startswith("Experience: 7 years stated, 3+ required")
        skills = page.inner_text("#skills")
        assert "Python" in skills and "Statistics" in skills
        assert page.locator("#factors tr").count() == 4
        assert page.locator("#neighbours tr").count() == 6
        assert "<script>" in page.text_content("#cv")  # shown as text ...
        assert page.evaluate("window.pwned === undefined") and dialogs == []  # ... never run
        screenshot(page, "recruiters-result")

        page.goto(f"{stack.url}/app/")
        page.select_option("select[name=position]", "Data Scientist")
        pdf = tmp_path / "cv.pdf"
        pdf.write_bytes(cvfiles.pdf(["Jane Roe, Data Scientist", "2 years of Python and SQL."]))
        page.set_input_files("input[name=file]", str(pdf))
        page.fill("input[name=external_id]", "=HYPERLINK(\"x\")")
        page.click("button.primary")
        wait_done(page)
        assert page.inner_text("#experience").startswith("Experience: 2 years stated")
        assert "below" in page.inner_text("#experience")

        page.goto(f"{stack.url}/app/submissions")
        labels = page.locator("#submissions tr td:nth-child(5)").all_inner_texts()
        assert len(labels) == 2 and set(labels) <= {"Accepted", "Rejected"}
        page.select_option("select[name=label]", labels[0])
        page.click("text=Filter")
        assert page.locator("#submissions tr td:nth-child(5)").all_inner_texts() == [
            lab for lab in labels if lab == labels[0]]
        screenshot(page, "recruiters-submissions")
        page.goto(f"{stack.url}/app/submissions")
        cookies = {c["name"]: c["value"] for c in page.context.cookies()}
        export = requests.get(f"{stack.url}/app/submissions.csv", cookies=cookies, timeout=10)
        rows = list(csv.DictReader(io.StringIO(export.text)))
        assert len(rows) == 2 and {r["submitted_by"] for r in rows} == {"ann@example.com"}
        assert "'=HYPERLINK(\"x\")" in {r["external_id"] for r in rows}  # no formula runs
        assert "Python" not in export.text  # no CV text in the export

        page.goto(pasted_url)
        page.click("#erase")
        assert "erased" in page.inner_text("[role=status]")
        assert page.locator("#submissions tr").count() == 2
        assert page.goto(pasted_url).status == 404

        page.goto(f"{stack.url}/app/submissions")
        page.click("text=Sign out")
        sign_in(page, stack.url, "bob@example.com")  # another board sees none of it
        page.goto(f"{stack.url}/app/submissions")
        assert "No submissions match" in page.inner_text("#submissions")
        assert page.goto(pasted_url.replace(pasted_url.rsplit("/", 1)[1], "0" * 32)).status == 404
