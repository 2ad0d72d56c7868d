"""``/api/v1``: JSON for clients, records and assessments (session or API-token auth).

Writes go through the same services and validation as the pages and the CLI; errors come back
in the one JSON error shape (``{"error": {...}}``). Record values are strings, exactly as a
command line gives them (strict types: ``false`` is not a string, so it is refused).
"""

from __future__ import annotations

import datetime as dt
import math
from enum import StrEnum
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.encoders import jsonable_encoder
from pydantic import BaseModel, ConfigDict, Field

from hostcap.services import accounts, web_assessment, web_forms, web_pages
from hostcap.services.assessment_reports import stored_assessments
from hostcap.services.client_view import client_view
from hostcap.web.security import csrf_guard, current_user, require_clients, require_research

__all__ = ["router"]

router = APIRouter(prefix="/api/v1", dependencies=[Depends(csrf_guard)], tags=["api"])

Clinician = Annotated[accounts.SignedIn, Depends(require_clients)]
Researcher = Annotated[accounts.SignedIn, Depends(require_research)]
User = Annotated[accounts.SignedIn, Depends(current_user)]

RecordKindName = StrEnum("RecordKindName", {k: k for k in web_forms.ENTRY_KINDS})  # type: ignore[misc]


class ErrorIssue(BaseModel):
    location: str
    message: str
    severity: str
    value: Any = None
    expected: str | None = None


class ErrorBody(BaseModel):
    status: int
    title: str
    message: str
    issues: list[ErrorIssue]


class ErrorResponse(BaseModel):
    error: ErrorBody


ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorResponse} for status in (400, 401, 403, 404, 422, 429)
}


class Me(BaseModel):
    username: str
    role: str


class ClientSummary(BaseModel):
    code: str
    sex: str
    birth_year: int
    demo: bool


class RecordIn(BaseModel):
    """One record's fields as strings (names as in ``hostcap import``'s CSV columns)."""

    model_config = ConfigDict(strict=True, extra="forbid")

    values: dict[str, str | None] = Field(
        description='field name → value as text, e.g. {"analyte": "tryptase", '
        '"value": "6.1", "unit": "ng/mL", "collected_at": "2026-01-12T09:00"}'
    )


class Stored(BaseModel):
    ids: list[int]
    warnings: list[str]


class AssessmentSaved(BaseModel):
    id: int


def _store(request: Request) -> Any:
    return request.app.state.store


def _plain(value: Any) -> Any:
    if isinstance(value, float) and (math.isnan(value) or math.isinf(value)):
        return None
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return jsonable_encoder(value)


@router.get("/me", responses=ERRORS)
def me(user: User) -> Me:
    return Me(username=user.username, role=user.role)


@router.get("/clients", responses=ERRORS)
def clients(request: Request, user: Clinician, q: str = "") -> list[ClientSummary]:
    web_pages.audit_view(_store(request), None, "api:clients", actor=user.username)
    return [ClientSummary(**c) for c in web_pages.client_list(_store(request), q[:64])]


@router.get("/clients/{code}", responses=ERRORS)
def client(request: Request, code: str, user: Clinician) -> dict[str, Any]:
    """The client overview with the safety banner lines first (``safety``)."""
    store = _store(request)
    view = client_view(store, code)
    web_pages.audit_view(store, code, "api:client", actor=user.username)
    return _plain({"safety": view.pop("safety")} | view)  # type: ignore[no-any-return]


@router.get("/clients/{code}/records/{kind}", responses=ERRORS)
def records(
    request: Request, code: str, kind: RecordKindName, user: Clinician
) -> list[dict[str, Any]]:
    store = _store(request)
    rows = web_pages.client_records(store, code).get(str(kind.value), [])
    web_pages.audit_view(store, code, f"api:records:{kind.value}", actor=user.username)
    return _plain(rows)  # type: ignore[no-any-return]


@router.post("/clients/{code}/records/{kind}", status_code=201, responses=ERRORS)
def add_record(
    request: Request, code: str, kind: RecordKindName, body: RecordIn, user: Clinician
) -> Stored:
    """Validate and store one record (every problem named; nothing stored on error)."""
    report = web_forms.save_record(
        _store(request), str(kind.value), code, body.values, actor=user.username, only_declared=True
    )
    return Stored(ids=[int(i) for i in report.ids], warnings=[str(w) for w in report.warnings])


@router.get("/clients/{code}/assessments", responses=ERRORS)
def assessments(request: Request, code: str, user: Clinician) -> list[dict[str, Any]]:
    """Stored assessments exactly as they were made, oldest first."""
    store = _store(request)
    history = [h.as_dict() for h in stored_assessments(store, code)]
    web_pages.audit_view(store, code, "api:assessments", actor=user.username)
    return _plain(history)  # type: ignore[no-any-return]


@router.post("/clients/{code}/assessments", status_code=201, responses=ERRORS)
def save_assessment(request: Request, code: str, user: Clinician) -> AssessmentSaved:
    """Assess the stored data and save it (rulebook version and sha256)."""
    return AssessmentSaved(
        id=web_assessment.save_assessment(_store(request), code, actor=user.username)
    )


@router.get("/research/cohort", responses=ERRORS)
def cohort(request: Request, user: Researcher) -> dict[str, Any]:
    """The de-identified cohort aggregates (no codes, names or dates)."""
    view = web_pages.research_view(_store(request), actor=user.username)
    view.pop("svg", None)
    return _plain(view)  # type: ignore[no-any-return]
