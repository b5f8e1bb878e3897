"""HTML: the embeddable intake form and the physio UI. Server-rendered; the little
JavaScript there is ships as static files, with no build step."""

import uuid
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Path, Query, Request
from fastapi.responses import FileResponse, HTMLResponse, Response
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from services.accounts.service import UI_SESSION_SECONDS, LoginThrottled
from services.core.auth import Session, client_address
from services.core.db import utcnow
from services.core.errors import NotFound, ServiceError
from services.core.pagination import InvalidCursor
from services.core.principal import Principal
from services.core.schemas import PageQuery
from services.referrals import service as referrals
from services.referrals.schemas import TRANSITIONS, QueueQuery, Status
from services.triage import service as triage
from services.web import messages, service, views
from services.web.pages import (
    COOKIE,
    HERE,
    LOGIN_COOKIE,
    current_user,
    form_ok,
    from_our_pages,
    page,
    redirect,
    secure,
    templates,
)

router = APIRouter(include_in_schema=False)
STATUSES = list(TRANSITIONS)
URGENCIES = ["emergency", "urgent", "routine", "self_care"]


@router.get("/embed.js")
async def embed_js() -> Response:
    """`<script src="{base}/embed.js" data-key="pk_...">`: draws the form in an iframe."""
    return FileResponse(HERE / "static" / "embed.js", media_type="text/javascript")


@router.get("/embed/form", response_class=HTMLResponse)
async def embed_form(request: Request, session: Session, key: Annotated[str, Query(max_length=200)] = "") -> Response:
    try:
        clinic = await service.publishable_clinic(session, request.app.state.settings, key)
    except NotFound:
        # A page, not JSON: it is shown in the clinic's frame, to a person who may need help now.
        response = templates.TemplateResponse(
            request, "form_missing.html", {"advice": service.early_alert()}, status_code=404
        )
        # No data and no actions here: any page may frame it, so the person sees the words.
        response.headers["Content-Security-Policy"] = (
            "default-src 'self'; frame-ancestors *; form-action 'none'; base-uri 'none'; object-src 'none'"
        )
        return response
    # Only the clinic's own pages may frame the form.
    ancestors = " ".join(clinic.allowed_origins) or "'none'"
    response = templates.TemplateResponse(
        request,
        "form.html",
        {
            "steps": service.form_steps(),
            "key": key,
            "idempotency_key": service.new_idempotency_key(),
            "early_alert": service.early_alert(),
        },
    )
    response.headers["Content-Security-Policy"] = (
        f"default-src 'self'; frame-ancestors {ancestors}; form-action 'self'; base-uri 'none'; object-src 'none'"
    )
    return response


# --- physio UI ----------------------------------------------------------------------


def _login_page(request: Request, error: str | None = None, status_code: int = 200) -> Response:
    """The login form, with a fresh cookie of its own and a CSRF token bound to it: a page on
    another site cannot log someone in to an account of its choosing (login CSRF)."""
    cookie = service.new_login_cookie()
    response = page(request, "login.html", {"error": error}, status_code, csrf_cookie=cookie)
    response.set_cookie(
        LOGIN_COOKIE, cookie, httponly=True, samesite="strict", secure=secure(request), max_age=3600, path="/ui"
    )
    return response


@router.get("/ui/login", response_class=HTMLResponse)
async def login_page(request: Request) -> Response:
    return _login_page(request)


@router.post("/ui/login")
async def login(
    request: Request,
    session: Session,
    email: Annotated[str, Form(max_length=254)] = "",
    password: Annotated[str, Form(max_length=1024)] = "",
    csrf: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    settings = request.app.state.settings
    if not from_our_pages(request) or not service.csrf_ok(settings, request.cookies.get(LOGIN_COOKIE), csrf):
        return _login_page(request, "That form had expired. Please try again.", 403)
    try:
        token = await service.log_in(session, settings, email, password, client_address(request))
    except LoginThrottled:
        return _login_page(request, "Too many failed attempts. Please wait a little and try again.", 429)
    except ServiceError:
        return _login_page(request, "That email and password do not match an account.", 401)
    response = redirect("/ui")
    response.set_cookie(
        COOKIE, token, httponly=True, samesite="strict", secure=secure(request),
        max_age=UI_SESSION_SECONDS, path="/",
    )  # fmt: skip
    response.delete_cookie(LOGIN_COOKIE, path="/ui")
    return response


@router.post("/ui/logout")
async def logout(request: Request, session: Session, csrf: Annotated[str, Form()] = "") -> Response:
    """Ends the session on the server (the cookie, and anything else holding its token, stops
    working), then forgets the cookie. A forged or stale form logs nobody out, and says so."""
    settings, cookie = request.app.state.settings, request.cookies.get(COOKIE)
    if not form_ok(request, csrf):
        text = "You are still logged in: that form had expired. Use the Log out button again."
        return page(request, "notice.html", {"title": "Not logged out", "text": text}, 403)
    await service.log_out(session, settings, cookie)
    response = redirect("/ui/login", msg="logged-out")
    response.delete_cookie(COOKIE, path="/")
    return response


async def _queue_or_none(
    session: AsyncSession, user: Principal, status: list[Status], urgency: list[str], assignee: str, cursor: str | None
) -> views.Queue | None:
    """The queue page's contents; None when the filters or the cursor are not ones we gave out."""
    try:
        query = QueueQuery.model_validate({"status": status, "urgency": urgency, "assignee": assignee or None,
                                           "cursor": cursor})  # fmt: skip
    except ValidationError:
        return None
    try:
        return await views.queue(session, user, query, utcnow())
    except InvalidCursor:
        return None


@router.get("/ui", response_class=HTMLResponse)
async def queue(
    request: Request,
    session: Session,
    status: Annotated[list[Status], Query()] = [],  # noqa: B006 - FastAPI reads, never mutates
    urgency: Annotated[list[str], Query()] = [],  # noqa: B006
    assignee: Annotated[str, Query(max_length=10)] = "",
    cursor: Annotated[str | None, Query(max_length=500)] = None,
) -> Response:
    user = await current_user(request, session)
    if user is None:
        return redirect("/ui/login")
    # Only the filters and the cursor are the caller's to get wrong: an error in what is stored
    # is the server's, and a redirect to /ui would send the page to itself.
    found = await _queue_or_none(session, user, status, urgency, assignee, cursor)
    if found is None:
        return redirect("/ui", msg="bad-filters")
    filters = [(k, v) for k, v in request.query_params.multi_items() if k != "cursor"]
    return page(
        request, "queue.html",
        {"queue": found, "statuses": STATUSES, "urgencies": URGENCIES,
         "chosen": {"status": status, "urgency": urgency, "assignee": assignee},
         "next_query": urlencode([*filters, ("cursor", found.page.next_cursor or "")]),
         "live_query": urlencode(request.query_params.multi_items()),
         "poll_seconds": request.app.state.settings.ui_poll_seconds, "refresh_seconds": 60},
    )  # fmt: skip


@router.get("/ui/queue/live", response_class=HTMLResponse)
async def queue_live(
    request: Request,
    session: Session,
    status: Annotated[list[Status], Query()] = [],  # noqa: B006
    urgency: Annotated[list[str], Query()] = [],  # noqa: B006
    assignee: Annotated[str, Query(max_length=10)] = "",
    cursor: Annotated[str | None, Query(max_length=500)] = None,
) -> Response:
    """The queue's live part (counts, banner, rows) for the page to swap in: what it polls."""
    user = await current_user(request, session)
    if user is None:
        return redirect("/ui/login")
    found = await _queue_or_none(session, user, status, urgency, assignee, cursor)
    if found is None:
        return Response(status_code=400)
    filters = [(k, v) for k, v in request.query_params.multi_items() if k != "cursor"]
    context = {"queue": found, "urgencies": URGENCIES,
               "next_query": urlencode([*filters, ("cursor", found.page.next_cursor or "")])}  # fmt: skip
    response = templates.TemplateResponse(request, "queue_live.html", context)
    response.headers["Cache-Control"] = "no-store"
    return response


@router.get("/ui/referrals/{referral_id}", response_class=HTMLResponse)
async def referral_page(referral_id: uuid.UUID, request: Request, session: Session) -> Response:
    user = await current_user(request, session)
    if user is None:
        return redirect("/ui/login")
    try:
        referral = await referrals.view(session, user, referral_id)
    except ServiceError:
        return page(request, "missing.html", {}, 404)
    trail = await referrals.list_events(session, user, referral_id, PageQuery(limit=100))
    if referral.erased_at is not None:
        return page(request, "erased.html", {"r": referral, "events": trail.items}, 410)
    picture = await views.referral_picture(session, user.clinic_id, referral)
    moves = sorted(TRANSITIONS[referral.status])
    return page(request, "referral.html", {"r": referral, **picture, "events": trail.items, "moves": moves,
                                           "me": user.user_id, "suggestion": service.open_suggestion(trail.items),
                                           "escalation": messages.last_escalation(trail.items),
                                           "urgencies": URGENCIES})  # fmt: skip


@router.get("/ui/sources/{name}", response_class=HTMLResponse)
async def source_page(name: Annotated[str, Path(max_length=100)], request: Request, session: Session) -> Response:
    """A source document triage cites, by its title, with the quoted passages marked."""
    if await current_user(request, session) is None:
        return redirect("/ui/login")
    try:
        document = triage.source_document(name)
    except triage.UnknownDocument:
        return page(request, "missing.html", {}, 404)
    return page(request, "document.html", {"document": document})


@router.post("/ui/referrals/{referral_id}/{action}")
async def referral_action(
    referral_id: uuid.UUID,
    action: str,
    request: Request,
    session: Session,
    csrf: Annotated[str, Form()] = "",
    to: Annotated[str, Form(max_length=20)] = "",
    version: Annotated[str, Form(max_length=20)] = "",
    note: Annotated[str, Form(max_length=2000)] = "",
    pathway: Annotated[str, Form(max_length=32)] = "",
) -> Response:
    user = await current_user(request, session)
    if user is None:
        return redirect("/ui/login")
    back = f"/ui/referrals/{referral_id}"
    if not form_ok(request, csrf):
        return redirect(back, msg="expired")
    try:
        flash = await service.act(
            session, user, referral_id, action, to=to, version=version, note=note, pathway=pathway
        )
    except ValidationError:
        flash = {"msg": "urgency-invalid"}
    except ServiceError as exc:
        flash = {"msg": service.in_words(exc)}
    return redirect(back, **flash)
