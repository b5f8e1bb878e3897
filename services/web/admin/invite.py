"""The page an invitation (or reset) link opens: the invitee sets a password, then logs in.
Nobody is logged in here, so the form's CSRF token is bound to a cookie of its own, as on the
login page."""

from typing import Annotated

from fastapi import APIRouter, Form, Path, Request
from fastapi.responses import HTMLResponse, Response

from services.accounts import service as accounts
from services.core.auth import Session
from services.core.errors import ServiceError
from services.web import service as web
from services.web.pages import from_our_pages, page, redirect, secure

router = APIRouter(include_in_schema=False)
COOKIE = "bs_invite"
Token = Annotated[str, Path(max_length=100)]


def _form(request: Request, token: str, email: str, error: str | None = None, status_code: int = 200) -> Response:
    cookie = web.new_login_cookie()
    context = {"token": token, "email": email, "error": error, "min_password": accounts.MIN_PASSWORD}
    response = page(request, "admin_invite.html", context, status_code, csrf_cookie=cookie)
    response.set_cookie(
        COOKIE, cookie, httponly=True, samesite="strict", secure=secure(request), max_age=3600, path="/ui/invite"
    )
    return response


def _invalid(request: Request) -> Response:
    text = "This link has expired or has already been used. Ask your clinic admin for a new one."
    return page(request, "admin_invite.html", {"invalid": text}, 404)


@router.get("/ui/invite/{token}", response_class=HTMLResponse)
async def invitation(token: Token, request: Request, session: Session) -> Response:
    try:
        user, _ = await accounts.link_user(session, token)
    except ServiceError:
        return _invalid(request)
    return _form(request, token, user.email)


@router.post("/ui/invite/{token}")
async def set_password(
    token: Token,
    request: Request,
    session: Session,
    password: Annotated[str, Form(max_length=1024)] = "",
    confirm: Annotated[str, Form(max_length=1024)] = "",
    csrf: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    try:
        user, _ = await accounts.link_user(session, token)
    except ServiceError:
        return _invalid(request)
    settings = request.app.state.settings
    if not from_our_pages(request) or not web.csrf_ok(settings, request.cookies.get(COOKIE), csrf):
        return _form(request, token, user.email, "That form had expired. Please try again.", 403)
    if password != confirm:
        return _form(request, token, user.email, "The two passwords are not the same.", 422)
    if len(password) < accounts.MIN_PASSWORD:
        return _form(request, token, user.email, f"Use at least {accounts.MIN_PASSWORD} characters.", 422)
    try:
        await accounts.use_link(session, token, password)
    except ServiceError:
        return _invalid(request)
    response = redirect("/ui/login", msg="password-set")
    response.delete_cookie(COOKIE, path="/ui/invite")
    return response
