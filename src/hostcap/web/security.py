"""Who is asking and may they: session cookie, API token, CSRF token, roles, headers.

Sessions are server-side (``hostcap.services.accounts``); the cookie holds only a random token.
Every unsafe request (POST, PUT, PATCH, DELETE) must carry the session's CSRF token as the form
field ``csrf_token`` or the ``X-CSRF-Token`` header; the sign-in form (no session yet) uses a
double-submit cookie. API calls with ``Authorization: Bearer`` need no CSRF token (no cookie
is involved).
"""

from __future__ import annotations

import hmac
import secrets
from typing import Any

from fastapi import Request
from starlette.responses import Response

from hostcap.errors import AccessError
from hostcap.services import accounts
from hostcap.settings import setting

__all__ = [
    "CSRF_FIELD",
    "CSRF_HEADER",
    "LOGIN_CSRF_COOKIE",
    "SECURITY_HEADERS",
    "SESSION_COOKIE",
    "SVG_CSP",
    "SignInRedirect",
    "client_address",
    "csrf_guard",
    "current_user",
    "login_csrf_token",
    "require_admin",
    "require_clients",
    "require_research",
    "secure_cookies",
    "set_cookie",
]

SESSION_COOKIE = "hostcap_session"
LOGIN_CSRF_COOKIE = "hostcap_login_csrf"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"
UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "font-src 'self'; connect-src 'self'; form-action 'self'; base-uri 'none'; "
    "object-src 'none'; frame-ancestors 'none'"
)
#: An SVG figure loaded by ``<img>`` keeps matplotlib's inline styles; it may run nothing.
SVG_CSP = "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'"
SECURITY_HEADERS = {
    "content-security-policy": CSP,
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "x-frame-options": "DENY",
    "cross-origin-opener-policy": "same-origin",
    "permissions-policy": "camera=(), microphone=(), geolocation=()",
}


class SignInRedirect(Exception):  # noqa: N818 - a control-flow signal, not an error
    """Send the browser elsewhere (an anonymous page view goes to the sign-in form)."""

    def __init__(self, location: str) -> None:
        super().__init__(location)
        self.location = location


def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def secure_cookies(request: Request) -> bool:
    mode = (setting("web_secure_cookies") or "auto").lower()
    if mode == "always":
        return True
    if mode == "never":
        return False
    forwarded = request.headers.get("x-forwarded-proto", "")
    return request.url.scheme == "https" or forwarded.split(",")[0].strip() == "https"


def set_cookie(request: Request, response: Response, name: str, value: str, **extra: Any) -> None:
    response.set_cookie(
        name,
        value,
        httponly=True,
        samesite="strict",
        secure=secure_cookies(request),
        path="/",
        **extra,
    )


def _store(request: Request) -> Any:
    return request.app.state.store


def _wants_html(request: Request) -> bool:
    return not request.url.path.startswith("/api/")


def current_user(request: Request) -> accounts.SignedIn:
    """The signed-in user (session cookie, or ``Authorization: Bearer`` on /api/)."""
    cached = getattr(request.state, "user", None)
    if cached is not None:
        return cached  # type: ignore[no-any-return]
    who: accounts.SignedIn | None = None
    auth = request.headers.get("authorization", "")
    if auth.lower().startswith("bearer ") and request.url.path.startswith("/api/"):
        who = accounts.user_for_api_token(_store(request), auth[7:].strip())
        if who is None:
            raise AccessError("the API token is unknown, revoked or its user is disabled")
    else:
        token = request.cookies.get(SESSION_COOKIE, "")
        who = accounts.session_for(_store(request), token) if token else None
    if who is None:
        if _wants_html(request):
            raise SignInRedirect("/login")
        raise AccessError("sign in first: expected a session cookie or an API token")
    request.state.user = who
    return who


def require_clients(request: Request) -> accounts.SignedIn:
    who = current_user(request)
    if not accounts.can_see_clients(who.role):
        raise AccessError(
            f"role {who.role!r} may not see identified client pages; expected practitioner or "
            "admin (researchers: the de-identified view at /research)",
            status=403,
        )
    return who


def require_research(request: Request) -> accounts.SignedIn:
    who = current_user(request)
    if not accounts.can_research(who.role):
        raise AccessError(
            f"role {who.role!r} may not see the research view; expected researcher or admin",
            status=403,
        )
    return who


def require_admin(request: Request) -> accounts.SignedIn:
    who = current_user(request)
    if not accounts.is_admin(who.role):
        raise AccessError(f"role {who.role!r} may not administer; expected admin", status=403)
    return who


def login_csrf_token(request: Request) -> str:
    """The double-submit token of the sign-in form (the cookie's, or a new one)."""
    existing = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    return existing if 20 <= len(existing) <= 100 else secrets.token_urlsafe(32)


def _same(a: str, b: str) -> bool:
    return bool(a) and bool(b) and hmac.compare_digest(a.encode(), b.encode())


async def csrf_guard(request: Request) -> None:
    """Refuse an unsafe request without the right CSRF token (403). A dependency of every
    router, so no unsafe route can forget it."""
    if request.method not in UNSAFE:
        return
    auth = request.headers.get("authorization", "")
    if auth.lower().startswith("bearer ") and request.url.path.startswith("/api/"):
        return  # token-authenticated API call: no cookie, nothing to forge
    sent = request.headers.get(CSRF_HEADER, "")
    if not sent:
        content_type = request.headers.get("content-type", "")
        if content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
            form = await request.form()
            value = form.get(CSRF_FIELD)
            sent = value if isinstance(value, str) else ""
    if request.url.path == "/login":
        expected = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    else:
        token = request.cookies.get(SESSION_COOKIE, "")
        who = accounts.session_for(_store(request), token) if token else None
        expected = who.csrf_token if who else ""
    if not _same(sent, expected):
        raise AccessError(
            "the form's CSRF token is missing or wrong; reload the page and submit again",
            status=403,
        )
