"""The research view is de-identified: on a synthetic cohort, no page or JSON a researcher
gets holds a client code, a name, a contact detail or a date."""

from __future__ import annotations

import re
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.web.live_app import (
    PASSWORD,
    ROLES,
    LiveApp,
    page_csrf,
    session_as,
    sign_in,
    start_app,
)

from hostcap.services import accounts
from hostcap.services.store import open_store
from hostcap.services.synthesis import synthesize_cohort

DATE = re.compile(r"\b(19|20)\d\d-\d\d-\d\d\b|\b\d\d?/\d\d?/(19|20)\d\d\b")


@pytest.fixture(scope="module")
def cohort_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LiveApp, set[str]]]:
    folder = tmp_path_factory.mktemp("cohort")
    url = f"sqlite:///{folder / 'cohort.sqlite'}"
    synthesize_cohort(url, 10, 5, weeks=8, truth_out=folder / "truth.json")
    store = open_store(url)
    codes = [c["code"] for c in store.list_clients()]
    for role in ROLES:
        accounts.add_user(store, f"{role}1", role=role, password=PASSWORD, actor="test")
    labs = store.frame("labs")
    store.dispose()
    identifiers: set[str] = set(codes)
    with sqlite3.connect(folder / "cohort.sqlite") as db:
        for i, (client_id,) in enumerate(db.execute("SELECT id FROM clients").fetchall()):
            name, email = f"Testperson Zz{i:03d}", f"zz{i:03d}@example.org"
            db.execute(
                "INSERT INTO client_identities (client_id, full_name, email, phone) "
                "VALUES (?, ?, ?, ?)",
                (client_id, name, email, f"+44 7700 9{i:05d}"),
            )
            identifiers |= {name, email, f"9{i:05d}"}
    identifiers |= {str(t)[:10] for t in labs["collected_at"]}
    app = start_app(url)
    try:
        yield app, identifiers
    finally:
        app.stop()


def test_the_research_view_never_shows_a_code_name_contact_or_date(
    cohort_app: tuple[LiveApp, set[str]],
) -> None:
    live, identifiers = cohort_app
    assert len(identifiers) > 30
    for role in ("researcher", "admin"):
        with session_as(live, role) as client:
            bodies = {
                path: client.get(path)
                for path in ("/research", "/research/cohort.svg", "/api/v1/research/cohort")
            }
            for path, response in bodies.items():
                assert response.status_code == 200, (path, response.text)
                leaked = sorted(i for i in identifiers if i in response.text)
                assert not leaked, (path, leaked[:5])
                assert not DATE.search(response.text), (path, DATE.search(response.text))
    with session_as(live, "researcher") as client:
        page = client.get("/research").text
    assert "enrolled clients with measurements" in page and "Responders by measure" in page
    assert "<title>Research · hostcap</title>" in page
    assert page.count('id="analysis-h"') == 1  # one analysis section, not a copy in the title


def test_a_researcher_lands_on_research_and_is_refused_every_identified_page(
    cohort_app: tuple[LiveApp, set[str]],
) -> None:
    live, _ = cohort_app
    store = open_store(live.database)
    code = store.list_clients()[0]["code"]
    store.dispose()
    with session_as(live, None) as client:
        response = sign_in(client, "researcher1")
        assert response.headers["location"] == "/research"
        for path in ("/clients", f"/clients/{code}", "/api/v1/clients"):
            assert client.get(path).status_code == 403, path


def test_viewing_the_research_page_is_audited_with_the_user(
    cohort_app: tuple[LiveApp, set[str]], tmp_path: Path
) -> None:
    live, _ = cohort_app
    with session_as(live, "researcher") as client:
        client.get("/research")
    store = open_store(live.database)
    try:
        entries = store.audit_entries()
    finally:
        store.dispose()
    assert any(e["actor"] == "researcher1" and e["entity_id"] == "research" for e in entries)


def test_an_analysis_runs_in_the_background_and_its_results_stay_de_identified(
    cohort_app: tuple[LiveApp, set[str]],
) -> None:
    live, identifiers = cohort_app
    with session_as(live, "practitioner") as practitioner:
        token = page_csrf(practitioner)
        refused = practitioner.post("/research/analyses", data={"csrf_token": token})
        assert refused.status_code == 403
    with session_as(live, "researcher") as client, session_as(live, "admin") as admin:
        started = client.post("/research/analyses", data={"csrf_token": page_csrf(client)})
        assert (started.status_code, started.headers["location"]) == (303, "/research")
        again = admin.post("/research/analyses", data={"csrf_token": page_csrf(admin)})
        assert again.status_code == 400 and "already running" in again.text
        assert 'hx-get="/research/status"' in client.get("/research").text  # polled while running
        deadline = time.monotonic() + 300
        while "running" in (status := client.get("/research/status").text):
            assert time.monotonic() < deadline, status
            time.sleep(2)
        assert "finished" in status, status
        page = client.get("/research")
        assert "Newest analysis (run_0001)" in page.text
        figures = re.findall(r'src="(/research/figures/run_0001/[a-z0-9_]+\.png)"', page.text)
        assert figures
        image = client.get(figures[0])
        assert image.headers["content-type"] == "image/png" and image.content[:4] == b"\x89PNG"
        assert client.get("/research/figures/run_0001/..%2F..%2Fsummary.md").status_code == 404
        leaked = sorted(i for i in identifiers if i in page.text)
        assert not leaked and not DATE.search(page.text), (leaked[:5], DATE.search(page.text))
    store = open_store(live.database)
    try:
        audited = [e for e in store.audit_entries() if e["action"] == "analyze"]
    finally:
        store.dispose()
    assert [e["actor"] for e in audited] == ["researcher1", "researcher1"]
