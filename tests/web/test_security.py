"""Security of the web app, on a live server: the route × role matrix, CSRF on every unsafe
route, session fixation, expiry and revocation, the sign-in rate limit, headers and cookies,
and error pages without stack traces or SQL."""

from __future__ import annotations

import re
import sqlite3
import time
from pathlib import Path

import httpx
import pytest
from starlette.routing import Mount
from tests.web.live_app import (
    PASSWORD,
    ROLES,
    LiveApp,
    csrf_of,
    make_store,
    page_csrf,
    session_as,
    sign_in,
    start_app,
)

from hostcap.services import accounts
from hostcap.services.store import open_store

CODE = "DEMO-A1"
ENTRY_KINDS = (
    "labs",
    "meds",
    "questionnaires",
    "food",
    "episodes",
    "visits",
    "findings",
    "interventions",
)
# Expected status per role: practitioner, researcher, admin, anonymous.
CLINICAL = (200, 403, 200, 303)
CLINICAL_API = (200, 403, 200, 401)
GET_MATRIX: dict[str, tuple[int, int, int, int]] = {
    "/login": (200, 200, 200, 200),
    "/": (303, 303, 303, 303),
    "/healthz": (200, 200, 200, 200),
    "/openapi.json": (200, 200, 200, 200),
    "/clients": CLINICAL,
    f"/clients/{CODE}": CLINICAL,
    f"/clients/{CODE}/timeline.svg": CLINICAL,
    **{f"/clients/{CODE}/{kind}/new": CLINICAL for kind in ENTRY_KINDS},
    f"/clients/{CODE}/enrolment/new": CLINICAL,
    f"/clients/{CODE}/assessment": CLINICAL,
    f"/clients/{CODE}/what-if": CLINICAL,
    f"/clients/{CODE}/what-if.svg": CLINICAL,
    "/research": (403, 200, 200, 303),
    "/research/cohort.svg": (403, 200, 200, 303),
    "/research/status": (403, 200, 200, 303),
    "/research/figures/run_0001/none.png": (403, 404, 404, 303),
    "/admin": (403, 403, 200, 303),
    "/api/v1/me": (200, 200, 200, 401),
    "/api/v1/clients": CLINICAL_API,
    f"/api/v1/clients/{CODE}": CLINICAL_API,
    f"/api/v1/clients/{CODE}/records/labs": CLINICAL_API,
    f"/api/v1/clients/{CODE}/assessments": CLINICAL_API,
    "/api/v1/research/cohort": (403, 200, 200, 401),
}
#: Unsafe routes, each with a body per role (a valid CSRF token is added) and the statuses.
POST_MATRIX: dict[str, tuple[tuple[int, int, int, int], dict[str, str]]] = {
    "/login": ((401, 401, 401, 401), {"username": "nobody", "password": "x" * 12}),
    f"/clients/{CODE}/labs": (
        (303, 403, 303, 403),
        {"analyte": "hs_crp", "value": "1.5", "unit": "mg/L", "collected_at": "2026-02-0{i}T09:00"},
    ),
    f"/clients/{CODE}/enrolment": ((422, 403, 422, 403), {"protocol": "", "start": "soon"}),
    f"/clients/{CODE}/assessment": ((303, 403, 303, 403), {}),
    "/admin/users": (
        (403, 403, 422, 403),
        {"username": "new1", "role": "admin", "password": "short"},
    ),
    "/admin/users/nobody/disable": ((403, 403, 404, 403), {}),
    "/admin/audit/verify": ((403, 403, 200, 403), {}),
    "/api/v1/clients/DEMO-A1/records/labs": (
        (201, 403, 201, 403),
        {
            "json": '{"values": {"analyte": "hs_crp", "value": "2", "unit": "mg/L", '
            '"collected_at": "2026-03-0{i}T09:00"}}'
        },
    ),
    "/api/v1/clients/DEMO-A1/assessments": ((201, 403, 201, 403), {}),
    "/logout": ((303, 303, 303, 403), {}),
}


def _route_templates(live: LiveApp) -> set[tuple[str, str]]:
    """Every (method, path) the app serves (its own routes and those of included routers)."""
    found: set[tuple[str, str]] = set()
    pending = list(live.server.config.app.routes)
    while pending:
        route = pending.pop()
        if isinstance(route, Mount):
            continue
        included = getattr(route, "original_router", None)  # FastAPI's included router
        if included is not None:
            pending.extend(included.routes)
            continue
        for method in (getattr(route, "methods", None) or set()) - {"HEAD"}:
            found.add((method, route.path))
    assert len(found) > 30, found
    return found


def _as_template(path: str) -> str:
    path = path.replace(CODE, "{code}").replace("/nobody/", "/{username}/")
    for kind in ENTRY_KINDS:
        path = path.replace(f"/{kind}/new", "/{kind}/new")
    path = re.sub(r"/records/labs$", "/records/{kind}", path)
    path = path.replace("/run_0001/none.png", "/{run}/{name}")
    return path


def test_the_matrix_names_every_route_of_the_app(live: LiveApp) -> None:
    listed = {("GET", _as_template(p)) for p in GET_MATRIX} | {
        ("POST", _as_template(p)) for p in POST_MATRIX
    }
    listed.add(("POST", "/clients/{code}/{kind}"))  # the entry forms' posts: tested below
    listed.add(("POST", "/research/analyses"))  # starts a real analysis: test_research.py
    missing = {
        r for r in _route_templates(live) if r not in listed and not r[1].startswith("/docs")
    }
    assert not missing, f"routes without an expected status per role: {sorted(missing)}"


@pytest.mark.parametrize("path", list(GET_MATRIX))
def test_each_page_answers_each_role_as_the_matrix_says(
    path: str, sessions: dict[str | None, httpx.Client]
) -> None:
    expected = dict(zip((*ROLES, None), GET_MATRIX[path], strict=True))
    got = {role: sessions[role].get(path).status_code for role in expected}
    assert got == expected


def test_each_unsafe_route_answers_each_role_as_the_matrix_says(
    live: LiveApp,
) -> None:
    for i, (path, (statuses, body)) in enumerate(POST_MATRIX.items(), start=1):
        expected = dict(zip((*ROLES, None), statuses, strict=True))
        got = {}
        for j, role in enumerate(expected, start=1):
            with session_as(live, role) as client:
                login_form = role is None or path == "/login"
                token = csrf_of(client.get("/login").text) if login_form else page_csrf(client)
                filled = {k: v.replace("{i}", str(j)) for k, v in body.items()}
                if "json" in filled:
                    response = client.post(
                        path,
                        content=filled["json"],
                        headers={"content-type": "application/json", "x-csrf-token": token},
                    )
                else:
                    response = client.post(path, data=filled | {"csrf_token": token})
                got[role] = response.status_code
        assert got == expected, f"{path} (route {i})"


def _audit_count(live: LiveApp) -> int:
    store = open_store(live.database)
    try:
        return len(store.audit_entries())
    finally:
        store.dispose()


def test_every_unsafe_route_is_refused_without_a_csrf_token(live: LiveApp) -> None:
    with session_as(live, "admin") as admin:
        token = page_csrf(admin)
        before = _audit_count(live)
        unsafe = sorted(r for r in _route_templates(live) if r[0] != "GET")
        assert len(unsafe) >= 10
        for method, template in unsafe:
            path = (
                template.replace("{code}", CODE)
                .replace("{kind}", "labs")
                .replace("{username}", "practitioner1")
            )
            body = {
                "analyte": "tryptase",
                "value": "5",
                "unit": "ng/mL",
                "collected_at": "2026-01-05T09:00",
            }
            none = admin.request(method, path, data=body)
            wrong = admin.request(method, path, data=body | {"csrf_token": token[::-1]})
            header = admin.request(method, path, data=body, headers={"x-csrf-token": "nope"})
            assert (none.status_code, wrong.status_code, header.status_code) == (403, 403, 403), (
                path
            )
        assert _audit_count(live) == before  # nothing was written or even viewed
        assert admin.get("/admin").status_code == 200  # still signed in


def test_htmx_requests_may_carry_the_token_in_the_x_csrf_token_header(live: LiveApp) -> None:
    with session_as(live, "practitioner") as client:
        token = page_csrf(client)
        response = client.post(
            f"/clients/{CODE}/visits",
            data={"date": "2026-01-06", "visit_kind": "follow_up"},
            headers={"x-csrf-token": token, "hx-request": "true"},
        )
        assert response.status_code == 303, response.text


def test_sign_in_rotates_the_session_so_a_planted_cookie_is_worthless(live: LiveApp) -> None:
    with session_as(live, "practitioner") as first:
        planted = first.cookies["hostcap_session"]
        # An attacker's cookie is in the victim's browser when the victim signs in.
        with live.client() as victim:
            victim.cookies.set("hostcap_session", planted, domain="127.0.0.1")
            assert sign_in(victim, "practitioner1").status_code == 303
            fresh = victim.cookies["hostcap_session"]
            assert fresh != planted
            assert victim.get("/clients").status_code == 200
        with live.client() as attacker:
            attacker.cookies.set("hostcap_session", planted, domain="127.0.0.1")
            response = attacker.get("/clients")
            assert (response.status_code, response.headers["location"]) == (303, "/login")


def test_sign_out_ends_the_session_on_the_server(live: LiveApp) -> None:
    with session_as(live, "practitioner") as client:
        cookie = client.cookies["hostcap_session"]
        token = page_csrf(client)
        assert client.post("/logout", data={"csrf_token": token}).status_code == 303
        assert client.get("/clients").status_code == 303
    with live.client() as replay:
        replay.cookies.set("hostcap_session", cookie, domain="127.0.0.1")
        assert replay.get("/clients").status_code == 303
        assert replay.get("/api/v1/me").status_code == 401


def test_an_expired_or_idle_session_is_refused_and_revoked(
    live: LiveApp, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOSTCAP_WEB_SESSION_HOURS", "0.0003")  # about one second
    with session_as(live, "practitioner") as client:
        assert client.get("/api/v1/me").status_code == 200
        time.sleep(1.5)
        monkeypatch.setenv("HOSTCAP_WEB_SESSION_HOURS", "8")
        assert client.get("/api/v1/me").status_code == 401  # revoked: never comes back
    monkeypatch.setenv("HOSTCAP_WEB_IDLE_MINUTES", "0.01")
    with session_as(live, "practitioner") as client:
        time.sleep(1.0)
        assert client.get("/api/v1/me").status_code == 401


def test_disabling_a_user_revokes_their_sessions_and_api_tokens(tmp_path: Path) -> None:
    live = start_app(make_store(tmp_path, demo=False))
    try:
        store = open_store(live.database)
        api_token = accounts.new_api_token(store, "practitioner1")
        with session_as(live, "practitioner") as client:
            bearer = {"authorization": f"Bearer {api_token}"}
            assert client.get("/api/v1/me").status_code == 200
            assert httpx.get(f"{live.url}/api/v1/me", headers=bearer).status_code == 200
            accounts.disable_user(store, "practitioner1")
            assert client.get("/api/v1/me").status_code == 401
            assert httpx.get(f"{live.url}/api/v1/me", headers=bearer).status_code == 401
        with live.client() as again:
            assert sign_in(again, "practitioner1").status_code == 401
        store.dispose()
    finally:
        live.stop()


def test_sign_in_is_rate_limited_per_username_and_per_address(tmp_path: Path) -> None:
    live = start_app(make_store(tmp_path, demo=False))
    try:
        with live.client() as client:
            for _ in range(accounts.LOGIN_FAILURES_PER_USERNAME):
                assert sign_in(client, "practitioner1", "wrong password!").status_code == 401
            refused = sign_in(client, "practitioner1", PASSWORD)  # right password, too late
            assert refused.status_code == 429, refused.text
            assert "too many failed sign-ins" in refused.text
            # Another user is not locked out by this username's failures...
            assert sign_in(client, "researcher1").status_code == 303
        with live.client() as client:
            left = accounts.LOGIN_FAILURES_PER_ADDRESS - accounts.LOGIN_FAILURES_PER_USERNAME
            for i in range(left):
                assert sign_in(client, f"guess{i}", "wrong password!").status_code == 401
            # ...until this address has failed too often for any username.
            assert sign_in(client, "admin1").status_code == 429
    finally:
        live.stop()


def test_every_response_carries_the_security_headers_and_strict_cookies(live: LiveApp) -> None:
    with live.client() as client:
        page = client.get("/login")
        for response in (page, client.get("/static/htmx.min.js"), client.get("/nope")):
            csp = response.headers["content-security-policy"]
            assert "script-src 'self'" in csp and "unsafe-inline" not in csp
            assert "frame-ancestors 'none'" in csp
            assert response.headers["x-content-type-options"] == "nosniff"
            assert response.headers["referrer-policy"] == "no-referrer"
        assert "<script>" not in page.text and " on" + "click=" not in page.text
        cookie = page.headers["set-cookie"].lower()
        assert "httponly" in cookie and "samesite=strict" in cookie and "secure" not in cookie
        signed = sign_in(client, "practitioner1")
        session_cookie = signed.headers["set-cookie"].lower()
        assert "hostcap_session=" in session_cookie
        assert "httponly" in session_cookie and "samesite=strict" in session_cookie
    with live.client() as proxied:
        page = proxied.get("/login", headers={"x-forwarded-proto": "https"})
        assert "secure" in page.headers["set-cookie"].lower()


LEAKS = re.compile(r"Traceback|File \"|sqlalchemy|sqlite3|SELECT |INSERT |OperationalError", re.I)


def test_error_pages_show_no_stack_trace_or_sql(tmp_path: Path) -> None:
    live = start_app(make_store(tmp_path))
    try:
        with session_as(live, "practitioner") as client:
            token = page_csrf(client)
            answers = [
                client.get("/clients/NO-SUCH-CLIENT"),
                client.get("/no/such/page"),
                client.put("/clients", data={"csrf_token": token}),
                client.get(f"/clients/{CODE}/what-if?variant=bogus"),
                client.get("/api/v1/clients/NO-SUCH-CLIENT"),
                client.post(
                    "/api/v1/clients/DEMO-A1/records/labs",
                    json={"values": {"value": False}},
                    headers={"x-csrf-token": token},
                ),
                client.get("/clients/%27%3B%20DROP%20TABLE%20clients%3B--"),
            ]
            assert [a.status_code for a in answers] == [404, 404, 405, 422, 404, 422, 404]
            # A real server error: the store loses a table under the running app.
            with sqlite3.connect(live.database.removeprefix("sqlite:///")) as db:
                db.execute("DROP TABLE lab_results")
            broken = client.get(f"/clients/{CODE}")
            broken_api = client.get(f"/api/v1/clients/{CODE}/records/labs")
            assert (broken.status_code, broken_api.status_code) == (500, 500)
            assert broken_api.json()["error"]["status"] == 500
            for answer in [*answers, broken, broken_api]:
                assert not LEAKS.search(answer.text), answer.text
    finally:
        live.stop()


def test_an_unknown_client_is_a_404_page_and_a_404_json_error(
    sessions: dict[str | None, httpx.Client],
) -> None:
    page = sessions["practitioner"].get("/clients/NOPE-9")
    assert page.status_code == 404 and "NOPE-9" in page.text
    body = sessions["practitioner"].get("/api/v1/clients/NOPE-9").json()
    assert body["error"]["status"] == 404 and "NOPE-9" in body["error"]["message"]
