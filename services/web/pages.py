"""What every page of the UI shares: templates, the session cookie, CSRF checks, redirects.
Each page module (router.py, admin/, dashboard/) builds on these."""

from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from fastapi import Request
from fastapi.responses import RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from sqlalchemy.ext.asyncio import AsyncSession

from services.core.principal import Principal
from services.triage import service as triage
from services.web import messages, service

HERE = Path(__file__).parent
templates = Jinja2Templates(directory=HERE / "templates")
templates.env.globals["pathway_words"] = messages.PATHWAY_WORDS
templates.env.globals["urgency_words"] = messages.URGENCY_WORDS
templates.env.globals["event_words"] = messages.event_words
templates.env.globals["source_title"] = triage.source_title
templates.env.globals["source_link"] = triage.source_link
COOKIE = "bs_session"
LOGIN_COOKIE = "bs_login"  # the login page's own cookie, for its CSRF token


async def current_user(request: Request, session: AsyncSession) -> Principal | None:
    user = await service.user_of(session, request.app.state.settings, request.cookies.get(COOKIE))
    request.state.ui_user = user  # for the header's links
    return user


def redirect(path: str, **query: str) -> RedirectResponse:
    return RedirectResponse(f"{path}?{urlencode(query)}" if query else path, status_code=303)


def page(
    request: Request, name: str, context: dict[str, Any], status_code: int = 200, csrf_cookie: str | None = None
) -> Response:
    cookie = csrf_cookie or request.cookies.get(COOKIE)
    csrf = service.csrf_token(request.app.state.settings, cookie) if cookie else ""
    message = messages.flash(request.query_params.get("msg"), request.query_params.get("to"))
    user = getattr(request.state, "ui_user", None)
    is_admin = user is not None and "clinic:admin" in user.scopes  # the header's Admin link
    return templates.TemplateResponse(
        request, name, {**context, "csrf": csrf, "message": message, "is_admin": is_admin}, status_code=status_code
    )


def secure(request: Request) -> bool:
    """Cookies are Secure in production whatever the proxy says, and over https anywhere."""
    return request.app.state.settings.environment == "production" or request.url.scheme == "https"


def from_our_pages(request: Request) -> bool:
    own = str(request.base_url).rstrip("/").lower()
    return service.same_origin(request.headers.get("origin"), request.headers.get("referer"), own)


def form_ok(request: Request, csrf: str) -> bool:
    """A UI post is ours: from our own origin, with the session's CSRF token."""
    settings = request.app.state.settings
    return from_our_pages(request) and service.csrf_ok(settings, request.cookies.get(COOKIE), csrf)
