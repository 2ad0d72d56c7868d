"""The pages on a live server: sign-in form, client page (banner first, timeline, tables),
entry forms derived from the record kinds, assessment, what-if, and the audit they leave."""

from __future__ import annotations

import html
import re
from pathlib import Path

import httpx
import pytest
from tests.web.live_app import LiveApp, csrf_of, page_csrf

from hostcap.cli.main import main
from hostcap.services.client_view import client_view
from hostcap.services.records import record_fields
from hostcap.services.store import open_store
from hostcap.services.web_forms import ENTRY_KINDS, questionnaire_items

CODE = "DEMO-A1"


def _text(page: str) -> str:
    return html.unescape(re.sub(r"<[^>]+>", " ", page))


def _labels(page: str) -> dict[str, str]:
    """``for`` id → label text."""
    return {
        m.group(1): " ".join(_text(m.group(2)).split())
        for m in re.finditer(r'<label for="([^"]+)">(.*?)</label>', page, re.S)
    }


def _ids(page: str) -> set[str]:
    return set(re.findall(r'\sid="([^"]+)"', page))


def test_the_sign_in_form_has_labelled_username_and_password_and_a_sign_in_button(
    sessions: dict[str | None, httpx.Client],
) -> None:
    page = sessions[None].get("/login").text
    labels = _labels(page)
    assert labels["username"] == "Username" and labels["password"] == "Password"
    assert {"username", "password"} <= _ids(page)
    assert re.search(r'<button type="submit">Sign in</button>', page)


def test_the_client_list_holds_every_client_and_the_search_narrows_it(
    sessions: dict[str | None, httpx.Client],
) -> None:
    client = sessions["practitioner"]
    every = client.get("/clients").text
    assert all(code in every for code in ("DEMO-A1", "DEMO-B1", "DEMO-C1", "DEMO-R1"))
    found = client.get("/clients", params={"q": "r1"}).text
    assert "DEMO-R1" in found and "DEMO-A1" not in found
    assert _labels(every)["q"] == "Search by code"


def test_the_client_page_shows_the_safety_banner_first_with_the_client_show_text(
    live: LiveApp, sessions: dict[str | None, httpx.Client]
) -> None:
    store = open_store(live.database)
    try:
        expected = client_view(store, "DEMO-R1")["safety"]
    finally:
        store.dispose()
    assert expected, "DEMO-R1 carries referral lines"
    page = sessions["practitioner"].get("/clients/DEMO-R1").text
    shown = [html.unescape(x) for x in re.findall(r"<li>(.*?)</li>", page.split("</ul>")[0])]
    assert shown == expected
    first_banner = page.index('class="banner"')
    assert first_banner < page.index("<h1>") < page.index("timeline.svg")
    # The CLI prints the same lines first.
    assert main(["client", "show", "DEMO-R1", "--database", live.database]) == 0


def test_the_timeline_is_one_svg_with_a_text_alternative_and_a_data_table(
    sessions: dict[str | None, httpx.Client],
) -> None:
    client = sessions["practitioner"]
    page = client.get(f"/clients/{CODE}").text
    assert page.count("timeline.svg") == 1
    img = re.search(
        r'<img src="/clients/DEMO-A1/timeline.svg" alt="([^"]+)" aria-label="([^"]+)"', page
    )
    assert img and "Timeline of client DEMO-A1" in img.group(1)
    assert "<caption>Every point of the timeline</caption>" in page
    assert "lab: tryptase" in page and "episode" in page and "food trial" in page
    svg = client.get(f"/clients/{CODE}/timeline.svg")
    assert svg.headers["content-type"].startswith("image/svg+xml")
    assert "script" not in svg.headers["content-security-policy"].replace("default-src 'none'", "")
    assert svg.text.startswith("<svg") and "<script" not in svg.text
    again = client.get(f"/clients/{CODE}/timeline.svg").text
    assert again == svg.text  # byte-identical for the same data


@pytest.mark.parametrize("kind", list(ENTRY_KINDS))
def test_each_entry_form_has_one_labelled_input_per_declared_field(
    kind: str, sessions: dict[str | None, httpx.Client]
) -> None:
    page = sessions["practitioner"].get(f"/clients/{CODE}/{kind}/new").text
    labels, ids = _labels(page), _ids(page)
    for column in record_fields(ENTRY_KINDS[kind][0]):
        if column.name in ("client_code", "answers"):
            continue
        if column.type.value == "list":  # one labelled checkbox per choice, in a fieldset
            for choice in column.choices:
                assert labels[f"f-{column.name}-{choice}"] == choice
            assert f"<legend>{column.display_label}" in page
            continue
        assert f"f-{column.name}" in ids, column.name
        assert labels[f"f-{column.name}"].startswith(column.display_label), labels
    assert ">Save</button>" in page or kind == "questionnaires"


def test_the_lab_form_reads_analyte_value_unit_collected_context_and_save(
    sessions: dict[str | None, httpx.Client],
) -> None:
    page = sessions["practitioner"].get(f"/clients/{CODE}/labs/new").text
    shown = [label.split(" (")[0] for label in _labels(page).values()]
    assert shown[:5] == ["Analyte", "Value", "Unit", "Collected", "Context"]
    assert '<button type="submit">Save</button>' in page


def test_the_questionnaire_form_has_one_labelled_input_per_item_and_stores_them_in_order(
    live: LiveApp, sessions: dict[str | None, httpx.Client]
) -> None:
    client = sessions["practitioner"]
    page = client.get(f"/clients/{CODE}/questionnaires/new", params={"instrument": "fss"}).text
    items = questionnaire_items("fss")
    labels = _labels(page)
    for item in items:
        assert labels[f"f-{item.name}"].startswith(item.label), labels
    answers = {item.name: str(1 + i % 7) for i, item in enumerate(items)}
    response = client.post(
        f"/clients/{CODE}/questionnaires",
        data={"csrf_token": csrf_of(page), "instrument": "fss", "date": "2026-01-07"} | answers,
    )
    assert response.status_code == 303, response.text
    store = open_store(live.database)
    try:
        rows = store.frame("questionnaires", code=CODE)
    finally:
        store.dispose()
    stored = rows[rows["answered_on"].astype(str) == "2026-01-07"]
    assert [float(a) for a in stored["answers"].iloc[0]] == [float(v) for v in answers.values()]


def test_a_bad_lab_value_is_shown_next_to_its_field_as_the_cli_says_and_nothing_is_stored(
    live: LiveApp, sessions: dict[str | None, httpx.Client], capsys: pytest.CaptureFixture[str]
) -> None:
    client = sessions["practitioner"]
    store = open_store(live.database)
    before = len(store.frame("labs"))
    page = client.get(f"/clients/{CODE}/labs/new").text
    values = {
        "analyte": "tryptase",
        "value": "six",
        "unit": "ng/mL",
        "collected_at": "2026-01-08T09:00",
    }
    response = client.post(f"/clients/{CODE}/labs", data={"csrf_token": csrf_of(page)} | values)
    assert response.status_code == 422
    message = re.search(r'<p class="error" id="e-value">([^<]+)</p>', response.text)
    assert message, response.text
    assert 'aria-describedby="e-value"' in response.text and "Nothing was stored" in response.text
    assert len(store.frame("labs")) == before
    store.dispose()
    rc = main(
        [
            "lab",
            "add",
            CODE,
            "--analyte",
            "tryptase",
            "--value",
            "six",
            "--unit",
            "ng/mL",
            "--collected",
            "2026-01-08T09:00",
            "--database",
            live.database,
        ]
    )
    assert rc != 0
    assert html.unescape(message.group(1)) in capsys.readouterr().err


def test_a_saved_lab_is_on_the_timeline_and_in_the_export(
    live: LiveApp, sessions: dict[str | None, httpx.Client], tmp_path: Path
) -> None:
    client = sessions["practitioner"]
    page = client.get(f"/clients/{CODE}/labs/new").text
    values = {
        "analyte": "tryptase",
        "value": "9.75",
        "unit": "ng/mL",
        "collected_at": "2026-01-09T08:30",
        "context": "baseline",
    }
    response = client.post(f"/clients/{CODE}/labs", data={"csrf_token": csrf_of(page)} | values)
    assert (response.status_code, response.headers["location"]) == (
        303,
        f"/clients/{CODE}?saved=labs",
    )
    shown = client.get(f"/clients/{CODE}").text
    assert "2026-01-09 08:30" in shown and "9.75 ng/mL" in shown
    assert main(["export", "--out", str(tmp_path / "out"), "--database", live.database]) == 0
    assert "9.75" in (tmp_path / "out" / "labs.csv").read_text()


def test_an_episode_form_stores_the_ticked_organ_systems_and_flags(
    live: LiveApp, sessions: dict[str | None, httpx.Client]
) -> None:
    client = sessions["practitioner"]
    token = page_csrf(client)
    response = client.post(
        f"/clients/{CODE}/episodes",
        data={
            "csrf_token": token,
            "onset_at": "2026-01-10T13:15",
            "severity": "4",
            "organ_systems": ["skin", "gastrointestinal"],
            "emergency_care": "true",
            "urticaria": "yes",
            "syncope": "no",
            "angioedema": "",
        },
    )
    assert response.status_code == 303, response.text
    store = open_store(live.database)
    try:
        rows = store.frame("episodes", code=CODE)
    finally:
        store.dispose()
    row = rows[rows["onset_at"].astype(str).str.startswith("2026-01-10 13:15")].iloc[0]
    assert list(row["organ_systems"]) == ["skin", "gastrointestinal"]
    assert bool(row["emergency_care"]) and not bool(row["anaphylaxis"])
    # A sign is yes, no or not recorded: the form never turns "not recorded" into "no".
    assert (row["urticaria"], row["syncope"]) == (True, False)
    assert row["angioedema"] is None and row["flushing"] is None
    form = client.get(f"/clients/{CODE}/episodes/new").text
    assert '<select id="f-urticaria" name="urticaria"' in form
    assert '<option value="">—</option>' in form.split('id="f-urticaria"')[1].split("</select>")[0]


def test_the_enrolment_form_enrols_and_names_each_problem(
    sessions: dict[str | None, httpx.Client],
) -> None:
    client = sessions["practitioner"]
    token = page_csrf(client)
    bad = client.post(
        "/clients/DEMO-C1/enrolment",
        data={"csrf_token": token, "protocol": "x", "start": "2026-01-01", "phases": "restore:8:2"},
    )
    assert bad.status_code == 422 and "Nothing was stored" in bad.text
    good = client.post(
        "/clients/DEMO-C1/enrolment",
        data={
            "csrf_token": token,
            "protocol": "web-protocol",
            "start": "2026-01-01",
            "phases": "restore:0:4\nrebuild:4:8",
        },
    )
    assert good.status_code == 303, good.text
    shown = client.get("/clients/DEMO-C1").text
    assert "protocol web-protocol from 2026-01-01" in shown
    assert "protocol phase: web-protocol" in shown  # on the timeline


def test_the_assessment_page_saves_with_the_rulebook_and_keeps_the_history(
    live: LiveApp, sessions: dict[str | None, httpx.Client]
) -> None:
    client = sessions["practitioner"]
    page = client.get("/clients/DEMO-R1/assessment").text
    assert page.index('class="banner"') < page.index("<h1>")
    assert "Phenotype (HYPOTHESIS)" in page and "Criteria" in page
    assert '<button type="submit">Save assessment</button>' in page
    saved = []
    for _ in range(2):
        response = client.post("/clients/DEMO-R1/assessment", data={"csrf_token": csrf_of(page)})
        assert response.status_code == 303
        saved.append(int(response.headers["location"].rsplit("=", 1)[1]))
    history = client.get("/clients/DEMO-R1/assessment").text
    for number in saved:
        assert f"<td>{number}</td>" in history
    store = open_store(live.database)
    try:
        rows = {r["id"]: r for r in store.assessments("DEMO-R1")}
    finally:
        store.dispose()
    assert all(len(rows[n]["rulebook_sha256"]) == 64 for n in saved)
    assert saved[0] != saved[1]  # a new row per save; the older one stays as it was
    assert rows[saved[0]]["result"]["rulebook"] == rows[saved[1]]["result"]["rulebook"]


def test_the_what_if_page_is_labelled_hypothesis_on_the_page_and_in_the_figure(
    sessions: dict[str | None, httpx.Client],
) -> None:
    client = sessions["practitioner"]
    page = client.get(
        "/clients/DEMO-A1/what-if", params={"variant": "essay", "protocol": "example"}
    )
    assert page.status_code == 200, page.text
    assert page.text.count("HYPOTHESIS") >= 3
    assert _labels(page.text)["variant"] == "Model variant"
    svg = client.get(
        "/clients/DEMO-A1/what-if.svg", params={"variant": "essay", "protocol": "example"}
    )
    assert "HYPOTHESIS" in svg.text


def test_every_write_and_view_is_audited_with_the_user_and_the_chain_verifies(
    live: LiveApp, sessions: dict[str | None, httpx.Client], capsys: pytest.CaptureFixture[str]
) -> None:
    client = sessions["admin"]
    client.get(f"/clients/{CODE}")
    token = page_csrf(client)
    client.post(f"/clients/{CODE}/visits", data={"csrf_token": token, "date": "2026-01-11"})
    store = open_store(live.database)
    try:
        entries = [e for e in store.audit_entries(CODE) if e["actor"] == "admin1"]
    finally:
        store.dispose()
    actions = {(e["action"], e["entity"]) for e in entries}
    assert ("view", "web_page") in actions and ("create", "visits") in actions
    assert main(["audit", "--verify", "--database", live.database]) == 0
    assert "audit chain intact" in capsys.readouterr().out
