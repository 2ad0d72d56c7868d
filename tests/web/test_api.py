"""/api/v1: token and session auth, the same validation as the forms, one JSON error shape,
and schemathesis against /openapi.json on the live server (strict types)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from tests.web.live_app import LiveApp, make_store, session_as, start_app

from hostcap.services import accounts
from hostcap.services.store import open_store


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LiveApp, dict[str, str]]]:
    url = make_store(tmp_path_factory.mktemp("api"))
    store = open_store(url)
    token = accounts.new_api_token(store, "practitioner1")
    store.dispose()
    live = start_app(url)
    try:
        yield live, {"authorization": f"Bearer {token}"}
    finally:
        live.stop()


def test_a_token_reads_and_writes_with_the_same_validation_as_the_forms(
    api: tuple[LiveApp, dict[str, str]],
) -> None:
    live, bearer = api
    with httpx.Client(base_url=live.url, headers=bearer) as client:
        assert client.get("/api/v1/me").json() == {
            "username": "practitioner1",
            "role": "practitioner",
        }
        overview = client.get("/api/v1/clients/DEMO-R1").json()
        assert next(iter(overview)) == "safety" and overview["safety"]
        good = client.post(
            "/api/v1/clients/DEMO-A1/records/labs",
            json={
                "values": {
                    "analyte": "tryptase",
                    "value": "5.5",
                    "unit": "ng/mL",
                    "collected_at": "2026-01-03T10:00",
                }
            },
        )
        assert good.status_code == 201, good.text
        bad = client.post(
            "/api/v1/clients/DEMO-A1/records/labs",
            json={
                "values": {
                    "analyte": "tryptase",
                    "value": "-1",
                    "unit": "furlongs",
                    "collected_at": "2026-01-03T11:00",
                    "colour": "red",
                }
            },
        )
        assert bad.status_code == 422
        body = bad.json()["error"]
        assert body["status"] == 422
        assert [i["location"] for i in body["issues"]] == ["colour"]
        again = client.post(
            "/api/v1/clients/DEMO-A1/records/labs",
            json={
                "values": {
                    "analyte": "tryptase",
                    "value": "-1",
                    "unit": "ng/mL",
                    "collected_at": "2026-01-03T11:00",
                }
            },
        )
        assert {i["location"] for i in again.json()["error"]["issues"]} == {"value"}
        labs = client.get("/api/v1/clients/DEMO-A1/records/labs").json()
        assert sum(1 for r in labs if r["collected_at"].startswith("2026-01-03")) == 1


def test_strict_types_refuse_a_boolean_where_text_is_expected(
    api: tuple[LiveApp, dict[str, str]],
) -> None:
    live, bearer = api
    response = httpx.post(
        f"{live.url}/api/v1/clients/DEMO-A1/records/labs",
        json={"values": {"value": False}},
        headers=bearer,
    )
    assert response.status_code == 422
    assert response.json()["error"]["issues"][0]["location"].startswith("body.values")


def test_a_session_needs_the_csrf_header_to_write_through_the_api(
    api: tuple[LiveApp, dict[str, str]],
) -> None:
    live, _ = api
    with session_as(live, "practitioner") as client:
        response = client.post("/api/v1/clients/DEMO-A1/assessments")
        assert response.status_code == 403
        assert response.json()["error"]["message"].startswith("the form's CSRF token")


def test_an_unknown_token_is_a_401_json_error(api: tuple[LiveApp, dict[str, str]]) -> None:
    live, _ = api
    response = httpx.get(f"{live.url}/api/v1/clients", headers={"authorization": "Bearer nope"})
    assert response.status_code == 401
    assert set(response.json()["error"]) == {"status", "title", "message", "issues"}


@pytest.fixture(scope="module")
def api_schema(api: tuple[LiveApp, dict[str, str]]) -> schemathesis.BaseSchema:
    live, _ = api
    return schemathesis.openapi.from_url(f"{live.url}/openapi.json")


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck))
def test_the_api_keeps_its_openapi_contract(
    case: schemathesis.Case, api: tuple[LiveApp, dict[str, str]], tmp_path: Path
) -> None:
    _, bearer = api
    response = case.call(headers=bearer)
    # A record's values are strings in the schema; whether "6.1" is a plausible tryptase in
    # ng/mL is the store's check (422 naming the field), not something a schema can say.
    record_post = case.method == "POST" and case.path.endswith("/records/{kind}")
    excluded = [schemathesis.checks.positive_data_acceptance] if record_post else []
    case.validate_response(response, excluded_checks=excluded)
