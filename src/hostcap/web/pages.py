"""The HTML pages: sign-in, clients, client page and timeline, entry forms, assessment,
what-if, research (de-identified) and admin. Every form works without JavaScript."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import FileResponse, RedirectResponse, Response

from hostcap.errors import AccessError, HostcapError, NotFoundError, ValidationError
from hostcap.services import (
    accounts,
    research_jobs,
    web_assessment,
    web_forms,
    web_pages,
    web_timeline,
)
from hostcap.web.security import (
    LOGIN_CSRF_COOKIE,
    SESSION_COOKIE,
    SVG_CSP,
    client_address,
    csrf_guard,
    current_user,
    login_csrf_token,
    require_admin,
    require_clients,
    require_research,
    set_cookie,
)
from hostcap.web.templating import templates

__all__ = ["router"]

router = APIRouter(include_in_schema=False, dependencies=[Depends(csrf_guard)])

Clinician = Annotated[accounts.SignedIn, Depends(require_clients)]
Researcher = Annotated[accounts.SignedIn, Depends(require_research)]
Admin = Annotated[accounts.SignedIn, Depends(require_admin)]
User = Annotated[accounts.SignedIn, Depends(current_user)]


async def form_data(request: Request) -> dict[str, Any]:
    """The submitted form: one value per field, a list where a field repeats (checkboxes)."""
    form = await request.form()
    out: dict[str, Any] = {}
    for key in form:
        values = [v for v in form.getlist(key) if isinstance(v, str)]
        out[key] = values if len(values) > 1 else (values[0] if values else None)
    return out


Form = Annotated[dict[str, Any], Depends(form_data)]


def _store(request: Request) -> Any:
    return request.app.state.store


def _page(request: Request, name: str, context: dict[str, Any], status: int = 200) -> Response:
    context.setdefault("user", getattr(request.state, "user", None))
    return templates.TemplateResponse(request, name, context, status_code=status)


def _landing(role: str) -> str:
    return "/clients" if accounts.can_see_clients(role) else "/research"


def _svg(text: str) -> Response:
    return Response(text, media_type="image/svg+xml", headers={"content-security-policy": SVG_CSP})


# -- sign-in --------------------------------------------------------------------------------


def _login_page(
    request: Request, message: str = "", status: int = 200, username: str = ""
) -> Response:
    token = login_csrf_token(request)
    response = _page(
        request,
        "login.html",
        {"csrf_token": token, "message": message, "username": username, "user": None},
        status,
    )
    set_cookie(request, response, LOGIN_CSRF_COOKIE, token, max_age=3600)
    return response


@router.get("/")
def home(request: Request, user: User) -> Response:
    return RedirectResponse(_landing(user.role), status_code=303)


@router.get("/login")
def login_form(request: Request) -> Response:
    return _login_page(request)


@router.post("/login")
def login(request: Request, form: Form) -> Response:
    username = str(form.get("username") or "")
    password = str(form.get("password") or "")
    try:
        who = accounts.sign_in(
            _store(request),
            username,
            password,
            address=client_address(request),
            previous_token=request.cookies.get(SESSION_COOKIE) or None,
        )
    except AccessError as exc:
        return _login_page(request, str(exc), exc.status, username)
    response = RedirectResponse(_landing(who.role), status_code=303)
    assert who.session_token is not None
    set_cookie(request, response, SESSION_COOKIE, who.session_token)
    response.delete_cookie(LOGIN_CSRF_COOKIE, path="/")
    return response


@router.post("/logout")
def logout(request: Request, user: User) -> Response:
    accounts.sign_out(_store(request), user)
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


# -- clients --------------------------------------------------------------------------------


@router.get("/clients")
def clients(request: Request, user: Clinician, q: str = "") -> Response:
    rows = web_pages.client_list(_store(request), q[:64])
    web_pages.audit_view(_store(request), None, "clients", actor=user.username)
    return _page(request, "clients.html", {"clients": rows, "q": q[:64]})


@router.get("/clients/{code}")
def client(request: Request, code: str, user: Clinician) -> Response:
    view = web_pages.client_page(_store(request), code, actor=user.username)
    return _page(
        request,
        "client.html",
        {
            "view": view,
            "code": code,
            "kinds": web_forms.ENTRY_KINDS,
            "saved": request.query_params.get("saved", ""),
        },
    )


@router.get("/clients/{code}/timeline.svg")
def client_timeline(request: Request, code: str, user: Clinician) -> Response:
    store = _store(request)
    web_pages.audit_view(store, code, "timeline", actor=user.username)
    return _svg(web_timeline.timeline(store, code).svg)


def _entry_page(
    request: Request,
    kind: str,
    code: str,
    values: dict[str, Any],
    errors: dict[str, list[str]],
    status: int = 200,
) -> Response:
    fields = web_forms.entry_fields(kind)
    items: list[web_forms.InstrumentItemField] = []
    instrument = str(values.get("instrument") or "")
    if kind == "questionnaires":
        fields = [f for f in fields if f.name != "answers"]
        if instrument:
            try:
                items = web_forms.questionnaire_items(instrument)
            except (HostcapError, KeyError):  # an unknown instrument: named on submit
                items = []
    return _page(
        request,
        "entry.html",
        {
            "code": code,
            "kind": kind,
            "title": web_forms.ENTRY_KINDS[kind][1],
            "fields": fields,
            "values": values,
            "errors": errors,
            "items": items,
            "instrument": instrument,
            "instruments": web_forms.questionnaire_instruments()
            if kind == "questionnaires"
            else [],
        },
        status,
    )


def _known_kind(kind: str) -> None:
    if kind not in web_forms.ENTRY_KINDS:
        raise NotFoundError(
            f"no entry form for {kind!r}; expected one of {', '.join(web_forms.ENTRY_KINDS)}"
        )


@router.get("/clients/{code}/enrolment/new")
def enrolment_form(request: Request, code: str, user: Clinician) -> Response:
    web_pages.require_client(_store(request), code, "enrolment form", actor=user.username)
    return _page(request, "enrolment.html", {"code": code, "values": {}, "errors": {}})


@router.post("/clients/{code}/enrolment")
def enrolment_save(request: Request, code: str, user: Clinician, form: Form) -> Response:
    try:
        web_forms.save_enrolment(
            _store(request),
            code,
            protocol=str(form.get("protocol") or ""),
            start=str(form.get("start") or ""),
            phenotype_label=str(form.get("phenotype_label") or "") or None,
            phases=str(form.get("phases") or ""),
            actor=user.username,
        )
    except ValidationError as exc:
        errors = web_forms.issues_by_field(exc, ["protocol", "start", "phenotype_label", "phases"])
        return _page(
            request, "enrolment.html", {"code": code, "values": form, "errors": errors}, 422
        )
    return RedirectResponse(f"/clients/{code}?saved=enrolment", status_code=303)


# -- assessment and what-if -------------------------------------------------------------------


@router.get("/clients/{code}/assessment")
def assessment(request: Request, code: str, user: Clinician) -> Response:
    page = web_assessment.assessment_page(_store(request), code, actor=user.username)
    return _page(
        request,
        "assessment.html",
        {"page": page, "code": code, "saved": request.query_params.get("saved", "")},
    )


@router.post("/clients/{code}/assessment")
def assessment_save(request: Request, code: str, user: Clinician) -> Response:
    number = web_assessment.save_assessment(_store(request), code, actor=user.username)
    return RedirectResponse(f"/clients/{code}/assessment?saved={number}", status_code=303)


@router.get("/clients/{code}/what-if")
def what_if(
    request: Request, code: str, user: Clinician, variant: str = "essay", protocol: str = "example"
) -> Response:
    page = web_assessment.what_if(
        _store(request), code, variant=variant, protocol=protocol, actor=user.username
    )
    return _page(request, "what_if.html", {"page": page, "code": code})


@router.get("/clients/{code}/what-if.svg")
def what_if_svg(
    request: Request, code: str, user: Clinician, variant: str = "essay", protocol: str = "example"
) -> Response:
    page = web_assessment.what_if(
        _store(request), code, variant=variant, protocol=protocol, actor=user.username
    )
    return _svg(page["svg"] or "<svg xmlns='http://www.w3.org/2000/svg'/>")


# -- research (de-identified) ------------------------------------------------------------------


@router.get("/research")
def research(request: Request, user: Researcher) -> Response:
    store = _store(request)
    view = web_pages.research_view(store, actor=user.username)
    return _page(
        request,
        "research.html",
        {
            "view": view,
            "job": research_jobs.analysis_job(store),
            "last": research_jobs.last_analysis(store),
        },
    )


@router.get("/research/status")
def research_status(request: Request, user: Researcher) -> Response:
    """The running analysis's state (htmx polls this fragment while it runs)."""
    return _page(
        request, "_analysis_status.html", {"job": research_jobs.analysis_job(_store(request))}
    )


@router.post("/research/analyses")
def research_start(request: Request, user: Researcher) -> Response:
    research_jobs.start_analysis(_store(request), actor=user.username)
    return RedirectResponse("/research", status_code=303)


@router.get("/research/figures/{run}/{name}")
def research_figure(request: Request, run: str, name: str, user: Researcher) -> Response:
    return FileResponse(
        research_jobs.analysis_figure(_store(request), run, name), media_type="image/png"
    )


@router.get("/research/cohort.svg")
def research_svg(request: Request, user: Researcher) -> Response:
    view = web_pages.research_view(_store(request), actor=user.username)
    return _svg(view["svg"] or "<svg xmlns='http://www.w3.org/2000/svg'/>")


# -- admin ----------------------------------------------------------------------------------


def _admin_page(
    request: Request,
    store: Any,
    *,
    verification: dict[str, Any] | None = None,
    message: str = "",
    status: int = 200,
) -> Response:
    users = accounts.list_users(store)
    context = {"users": users, "roles": accounts.ROLES, "verification": verification}
    return _page(request, "admin.html", context | {"message": message}, status)


@router.get("/admin")
def admin(request: Request, user: Admin) -> Response:
    return _admin_page(request, _store(request))


@router.post("/admin/users")
def admin_add_user(request: Request, user: Admin, form: Form) -> Response:
    store = _store(request)
    message = ""
    try:
        accounts.add_user(
            store,
            str(form.get("username") or ""),
            role=str(form.get("role") or ""),
            password=str(form.get("password") or ""),
            actor=user.username,
        )
    except HostcapError as exc:
        message = str(exc)
    if message:
        return _admin_page(request, store, message=message, status=422)
    return RedirectResponse("/admin", status_code=303)


@router.post("/admin/users/{username}/disable")
def admin_disable_user(request: Request, username: str, user: Admin) -> Response:
    accounts.disable_user(_store(request), username, actor=user.username)
    return RedirectResponse("/admin", status_code=303)


@router.post("/admin/audit/verify")
def admin_verify(request: Request, user: Admin) -> Response:
    store = _store(request)
    result = web_pages.verify_audit(store, actor=user.username)
    return _admin_page(request, store, verification=result)


# -- entry forms (last: ``/clients/{code}/{kind}`` would match the pages above) -------------


@router.get("/clients/{code}/{kind}/new")
def entry_form(
    request: Request, code: str, kind: str, user: Clinician, instrument: str = ""
) -> Response:
    _known_kind(kind)
    web_pages.require_client(_store(request), code, f"{kind} form", actor=user.username)
    return _entry_page(request, kind, code, {"instrument": instrument} if instrument else {}, {})


@router.post("/clients/{code}/{kind}")
def entry_save(request: Request, code: str, kind: str, user: Clinician, form: Form) -> Response:
    _known_kind(kind)
    if kind == "questionnaires" and form.get("choose"):
        return _entry_page(request, kind, code, form, {})
    try:
        web_forms.save_record(_store(request), kind, code, form, actor=user.username)
    except ValidationError as exc:
        names = [f.name for f in web_forms.entry_fields(kind)]
        return _entry_page(request, kind, code, form, web_forms.issues_by_field(exc, names), 422)
    return RedirectResponse(f"/clients/{code}?saved={kind}", status_code=303)
