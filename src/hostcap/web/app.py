"""The app factory: one store per app, security headers, one error page and one JSON error."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from hostcap import __version__
from hostcap.errors import AccessError, HostcapError, NotFoundError, ValidationError
from hostcap.services.store import open_store
from hostcap.web import api, pages
from hostcap.web.security import SECURITY_HEADERS, SignInRedirect
from hostcap.web.templating import templates

__all__ = ["create_app", "error_payload"]

HERE = Path(__file__).resolve().parent
log = logging.getLogger("hostcap.web")

_STATUS = {NotFoundError: 404, ValidationError: 422}
_TITLES = {
    400: "Bad request",
    401: "Sign in required",
    403: "Not allowed",
    404: "Not found",
    405: "Method not allowed",
    422: "Input not accepted",
    429: "Too many attempts",
    500: "Something went wrong",
}


def _status(exc: HostcapError) -> int:
    if isinstance(exc, AccessError):
        return exc.status
    for kind, status in _STATUS.items():
        if isinstance(exc, kind):
            return status
    from hostcap.errors import InputError

    return 400 if isinstance(exc, InputError) else 500


def error_payload(
    status: int, message: str, issues: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    """The one JSON error shape: ``{"error": {"status", "title", "message", "issues"}}``."""
    return {
        "error": {
            "status": status,
            "title": _TITLES.get(status, "Error"),
            "message": message,
            "issues": issues or [],
        }
    }


def _error(
    request: Request, status: int, message: str, issues: list[dict[str, Any]] | None = None
) -> Response:
    if request.url.path.startswith("/api/") or request.url.path == "/openapi.json":
        return JSONResponse(error_payload(status, message, issues), status_code=status)
    return templates.TemplateResponse(
        request,
        "error.html",
        {
            "status": status,
            "title": _TITLES.get(status, "Error"),
            "message": message,
            "issues": issues or [],
            "user": getattr(request.state, "user", None),
        },
        status_code=status,
    )


def _issues(exc: HostcapError) -> list[dict[str, Any]]:
    if isinstance(exc, ValidationError):
        return [
            {
                "location": i.location,
                "message": i.message,
                "severity": str(i.severity),
                "value": i.value
                if isinstance(i.value, str | int | float | bool) or i.value is None
                else str(i.value),
                "expected": i.expected,
            }
            for i in exc.issues
        ]
    return []


def _routes(routes: list[Any]) -> list[Any]:
    """Every route, those of included routers too (FastAPI keeps them behind a wrapper)."""
    out: list[Any] = []
    for route in routes:
        inner = getattr(route, "original_router", None)
        out.extend(_routes(inner.routes) if inner is not None else [route])
    return out


def _allowed(request: Request) -> list[str]:
    methods: set[str] = set()
    for route in _routes(request.app.routes):
        if hasattr(route, "methods") and route.matches(request.scope)[0] != Match.NONE:
            methods |= set(route.methods or ())
    return sorted(methods)


def create_app(database_url: str | None = None) -> FastAPI:
    """The web app on the store at ``database_url`` (or the configured store).

    The store must be initialised (``hostcap init``); it is opened once and shared.
    """
    store = open_store(database_url)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        store.dispose()

    app = FastAPI(
        lifespan=lifespan,
        title="hostcap",
        version=__version__,
        description="hostcap's JSON API: clients, records, assessments (session or token auth).",
        docs_url=None,
        redoc_url=None,
    )
    app.state.store = store

    @app.middleware("http")
    async def headers(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        try:
            response = await call_next(request)
        except Exception as exc:  # the one place that turns any failure into a page
            # Never a traceback or SQL in a response: the log has the type, the page a sentence.
            log.error(
                "unexpected error: %s %s: %s", request.method, request.url.path, type(exc).__name__
            )
            response = _error(
                request, 500, "The request could not be completed. The error was logged."
            )
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        if not request.url.path.startswith("/static/"):
            response.headers.setdefault("cache-control", "no-store")
        return response

    @app.exception_handler(SignInRedirect)
    async def redirect(request: Request, exc: SignInRedirect) -> Response:
        return RedirectResponse(exc.location, status_code=303)

    @app.exception_handler(HostcapError)
    async def hostcap_error(request: Request, exc: HostcapError) -> Response:
        status = _status(exc)
        if status >= 500:
            log.error(
                "request failed: %s %s: %s", request.method, request.url.path, type(exc).__name__
            )
            return _error(
                request, status, "The request could not be completed. The error was logged."
            )
        return _error(request, status, str(exc), _issues(exc))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        status = exc.status_code
        detail = exc.detail if isinstance(exc.detail, str) else ""
        message = {404: "No such page.", 405: "This page does not accept that method."}.get(
            status, detail or _TITLES.get(status, "Error")
        )
        response = _error(request, status, message)
        for name, value in (exc.headers or {}).items():
            response.headers[name] = value
        if status == 405:  # RFC 9110: Allow lists every method of the path, of every route
            response.headers["allow"] = ", ".join(_allowed(request))
        return response

    @app.exception_handler(RequestValidationError)
    async def request_error(request: Request, exc: RequestValidationError) -> Response:
        issues = [
            {
                "location": ".".join(str(p) for p in e.get("loc", ())),
                "message": str(e.get("msg", "")),
                "severity": "error",
                "value": None,
                "expected": str(e.get("type", "")),
            }
            for e in exc.errors()
        ]
        return _error(
            request, 422, "The request does not match what this endpoint expects.", issues
        )

    app.mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")

    app.include_router(pages.router)
    app.include_router(api.router)

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> HTMLResponse:
        return HTMLResponse("ok")

    return app
