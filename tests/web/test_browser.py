"""The web app in a real browser (Debian's Chromium driven by Playwright), with axe-core.

Logs in, finds a client, adds a lab through the form and sees it on the timeline and in
``hostcap export``; a bad value is refused with nothing stored; an assessment is saved; a
researcher is refused the client page; sign-out ends the session on the server. Every page
visited passes axe-core without serious or critical violations. Screenshots of the client
page, the assessment and the what-if page are written to docs/screenshots/.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.web.live_app import PASSWORD, LiveApp

from hostcap.cli.main import main
from hostcap.services.store import open_store

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
pytestmark = pytest.mark.skipif(
    not Path(CHROMIUM).exists(),
    reason="Debian's chromium is not installed (apt-get install chromium; the Makefile's "
    "set-up does it): the browser tests need a real browser",
)
SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        try:
            yield chromium
        finally:
            chromium.close()


def _axe(page: Any) -> list[str]:
    """Serious and critical axe-core violations of the page (none expected)."""
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page)
    return [
        f"{page.url}: {v['id']} ({v['impact']}): {v['help']} — "
        + "; ".join(n["html"][:120] for n in v["nodes"][:3])
        for v in results.response["violations"]
        if v.get("impact") in ("serious", "critical")
    ]


def _image_width(page: Any) -> int:
    """The decoded width of the page's chart image (0: it did not load or render)."""
    script = (
        "async img => { try { await img.decode(); } catch { return 0; } return img.naturalWidth; }"
    )
    return int(page.locator("img.chart").evaluate(script))


def _sign_in(page: Any, live: LiveApp, username: str) -> None:
    page.goto(f"{live.url}/login")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()


def _labs(live: LiveApp) -> int:
    store = open_store(live.database)
    try:
        return len(store.frame("labs"))
    finally:
        store.dispose()


def test_a_practitioner_works_through_the_app_in_a_real_browser(
    browser: Any, live: LiveApp, tmp_path: Path
) -> None:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    violations: list[str] = []
    page.goto(f"{live.url}/login")
    violations += _axe(page)
    _sign_in(page, live, "practitioner1")
    assert page.url.endswith("/clients")
    violations += _axe(page)

    # Find the client.
    page.get_by_label("Search by code").fill("A1")
    page.get_by_role("button", name="Search").click()
    page.get_by_role("link", name="DEMO-A1").click()
    assert page.url.endswith("/clients/DEMO-A1")
    violations += _axe(page)

    # Add a lab through the form.
    page.get_by_role("link", name="Add laboratory result").click()
    violations += _axe(page)
    page.get_by_label("Analyte").fill("tryptase")
    page.get_by_label("Value").fill("8.25")
    page.get_by_label("Unit").fill("ng/mL")
    page.get_by_label("Collected").fill("2026-01-04T09:15")
    page.get_by_label("Context").select_option("baseline")
    page.get_by_role("button", name="Save").click()
    assert page.url.endswith("/clients/DEMO-A1?saved=labs")
    page.get_by_text("Timeline data").click()
    assert page.get_by_role("cell", name="8.25 ng/mL").count() == 1
    # The timeline SVG loads as an image (its own, stricter CSP) and renders.
    assert _image_width(page) > 0
    out = tmp_path / "export"
    assert main(["export", "--out", str(out), "--database", live.database]) == 0
    assert "8.25" in (out / "labs.csv").read_text()

    # The screenshot: a client with referral lines, the banner before everything else.
    page.goto(f"{live.url}/clients/DEMO-R1")
    assert _image_width(page) > 0
    page.screenshot(path=str(SCREENSHOTS / "client-page.png"), full_page=False)

    # A bad value: refused next to its field, nothing stored.
    before = _labs(live)
    page.goto(f"{live.url}/clients/DEMO-A1/labs/new")
    page.get_by_label("Analyte").fill("tryptase")
    page.get_by_label("Value").fill("lots")
    page.get_by_label("Unit").fill("ng/mL")
    page.get_by_label("Collected").fill("2026-01-05T09:15")
    page.get_by_role("button", name="Save").click()
    error = page.locator("#e-value")
    assert "is not a number" in error.inner_text()
    assert page.get_by_label("Value").get_attribute("aria-invalid") == "true"
    violations += _axe(page)
    assert _labs(live) == before

    # The assessment, saved.
    page.goto(f"{live.url}/clients/DEMO-A1")
    page.get_by_role("link", name="Assessment and plan").click()
    page.get_by_role("button", name="Save assessment").click()
    assert "Saved as assessment #" in page.get_by_role("status").inner_text()
    violations += _axe(page)
    page.screenshot(path=str(SCREENSHOTS / "assessment.png"), full_page=False)

    # What-if: hypothesis, labelled.
    page.goto(f"{live.url}/clients/DEMO-A1/what-if?variant=essay&protocol=example")
    assert page.get_by_role("heading", level=1).inner_text().endswith("HYPOTHESIS")
    assert _image_width(page) > 0
    violations += _axe(page)
    page.screenshot(path=str(SCREENSHOTS / "what-if.png"), full_page=False)

    # Sign out: the session ends on the server, not just in the browser.
    cookie = next(c["value"] for c in context.cookies() if c["name"] == "hostcap_session")
    page.get_by_role("button", name="Sign out").click()
    assert page.url.endswith("/login")
    replay = httpx.get(
        f"{live.url}/api/v1/me", cookies={"hostcap_session": cookie}, follow_redirects=False
    )
    assert replay.status_code == 401
    context.close()

    assert not violations, "\n".join(violations)
    assert main(["audit", "--verify", "--database", live.database]) == 0


def test_a_researcher_is_refused_the_client_page_in_a_real_browser(
    browser: Any, live: LiveApp
) -> None:
    context = browser.new_context()
    page = context.new_page()
    _sign_in(page, live, "researcher1")
    assert page.url.endswith("/research")
    violations = _axe(page)
    response = page.goto(f"{live.url}/clients/DEMO-A1")
    assert response is not None and response.status == 403
    assert page.get_by_role("heading", level=1).inner_text() == "Not allowed"
    assert "DEMO-A1" not in page.locator("main").inner_text()
    violations += _axe(page)
    context.close()
    assert not violations, "\n".join(violations)


def test_the_admin_pages_pass_axe(browser: Any, live: LiveApp) -> None:
    context = browser.new_context()
    page = context.new_page()
    _sign_in(page, live, "admin1")
    violations: list[str] = []
    for path in (
        "/admin",
        "/clients/DEMO-A1/questionnaires/new?instrument=gsrs",
        "/clients/DEMO-A1/episodes/new",
        "/clients/DEMO-A1/enrolment/new",
        "/clients/DEMO-R1",
        "/research",
    ):
        page.goto(f"{live.url}{path}")
        violations += _axe(page)
    # htmx (served by the app): typing in the search box narrows the table in place.
    page.goto(f"{live.url}/clients")
    page.get_by_label("Search by code").press_sequentially("R1")
    page.wait_for_url(re.compile(r"q=R1"))
    page.get_by_role("link", name="DEMO-R1").wait_for()
    assert page.get_by_role("link", name="DEMO-A1").count() == 0
    page.get_by_role("link", name="Admin").click()
    page.get_by_role("button", name="Verify the audit chain").click()
    assert "Audit chain intact" in page.get_by_role("status").inner_text()
    context.close()
    assert not violations, "\n".join(violations)
