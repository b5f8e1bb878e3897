"""The clinic admin console (/ui/admin): clinic_admin only. Anyone else logged in gets 403 on
every page and every post; nobody logged in goes to the login page. Every post is a plain form
(CSRF token and same origin checked, no JavaScript needed)."""

import uuid
from typing import Annotated

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError

from services.accounts import service as accounts
from services.accounts.service import OwnAccount
from services.clinics import service as clinics
from services.core.auth import Session
from services.core.errors import NotFound, ServiceError
from services.core.principal import Principal
from services.core.schemas import PageQuery
from services.export import service as export
from services.export.schemas import ExportQuery
from services.web.admin import service
from services.web.admin.access import admin_or_answer, admin_post, missing
from services.web.admin.invite import router as invite_router
from services.web.admin.notifications import router as notifications_router
from services.web.pages import form_ok, page, redirect

router = APIRouter(include_in_schema=False)
router.include_router(invite_router)
router.include_router(notifications_router)
Csrf = Annotated[str, Form(max_length=200)]


@router.get("/ui/admin")
async def admin_home(request: Request, session: Session) -> Response:
    admin = await admin_or_answer(request, session)
    return admin if isinstance(admin, Response) else redirect("/ui/admin/users")


# --- users --------------------------------------------------------------------------


async def _users_page(
    request: Request, session: Session, admin: Principal, status_code: int = 200, **extra: object
) -> Response:
    users = await accounts.clinic_users(session, admin.clinic_id)
    trail = await clinics.admin_events(session, admin.clinic_id)
    context = {"tab": "users", "users": users, "me": admin.user_id, "roles": service.ROLES, "events": trail}
    return page(request, "admin_users.html", {**context, **extra}, status_code)


@router.get("/ui/admin/users", response_class=HTMLResponse)
async def users(request: Request, session: Session) -> Response:
    admin = await admin_or_answer(request, session)
    return admin if isinstance(admin, Response) else await _users_page(request, session, admin)


@router.post("/ui/admin/users/invite")
async def invite(
    request: Request,
    session: Session,
    csrf: Csrf = "",
    email: Annotated[str, Form(max_length=254)] = "",
    role: Annotated[str, Form(max_length=20)] = "physio",
) -> Response:
    admin = await admin_post(request, session, csrf, "/ui/admin/users")
    if isinstance(admin, Response):
        return admin
    try:
        sent = await service.invite(session, request.app.state.settings, admin, email, role)
    except ServiceError as exc:
        return await _users_page(request, session, admin, exc.status, error=exc.detail, email=email, role=role)
    return await _users_page(request, session, admin, sent=sent)


@router.post("/ui/admin/users/{user_id}/{action}")
async def user_action(
    user_id: uuid.UUID,
    action: str,
    request: Request,
    session: Session,
    csrf: Csrf = "",
    role: Annotated[str, Form(max_length=20)] = "",
) -> Response:
    admin = await admin_post(request, session, csrf, "/ui/admin/users")
    if isinstance(admin, Response):
        return admin
    try:
        if action == "reset":
            sent = await service.reset(session, request.app.state.settings, admin, user_id)
            return await _users_page(request, session, admin, sent=sent)
        if action == "role":
            await service.change_role(session, admin, user_id, role)
            return redirect("/ui/admin/users", msg="role-changed")
        if action in ("disable", "enable"):
            await service.set_disabled(session, admin, user_id, action == "disable")
            return redirect("/ui/admin/users", msg=f"user-{action}d")
    except OwnAccount:
        return redirect("/ui/admin/users", msg="own-account")
    except NotFound:
        return missing(request)
    except ServiceError as exc:
        return await _users_page(request, session, admin, exc.status, error=exc.detail)
    return missing(request)


# --- keys ---------------------------------------------------------------------------


@router.get("/ui/admin/keys", response_class=HTMLResponse)
async def keys(request: Request, session: Session) -> Response:
    admin = await admin_or_answer(request, session)
    if isinstance(admin, Response):
        return admin
    return page(request, "admin_keys.html", {"tab": "keys", "keys": await clinics.list_keys(session, admin.clinic_id)})


@router.post("/ui/admin/keys")
async def create_key(
    request: Request, session: Session, csrf: Csrf = "", kind: Annotated[str, Form(max_length=20)] = ""
) -> Response:
    admin = await admin_post(request, session, csrf, "/ui/admin/keys")
    if isinstance(admin, Response):
        return admin
    try:
        created = await service.create_key(session, admin, kind)
    except ServiceError:
        return redirect("/ui/admin/keys", msg="error")
    snippet = service.snippet(request.app.state.settings, created.key) if created.kind == "publishable" else None
    listed = await clinics.list_keys(session, admin.clinic_id)
    # The whole key is in this answer only (no-store, like every page): never again.
    context = {"tab": "keys", "keys": listed, "created": created, "snippet": snippet}
    return page(request, "admin_keys.html", context, 201)


@router.post("/ui/admin/keys/{key_id}/revoke")
async def revoke_key(key_id: uuid.UUID, request: Request, session: Session, csrf: Csrf = "") -> Response:
    admin = await admin_post(request, session, csrf, "/ui/admin/keys")
    if isinstance(admin, Response):
        return admin
    try:
        await service.revoke_key(session, admin, key_id)
    except NotFound:
        return missing(request)
    return redirect("/ui/admin/keys", msg="key-revoked")


# --- allowed origins ----------------------------------------------------------------


@router.get("/ui/admin/origins", response_class=HTMLResponse)
async def origins(request: Request, session: Session) -> Response:
    admin = await admin_or_answer(request, session)
    if isinstance(admin, Response):
        return admin
    clinic = await clinics.get_clinic(session, admin.clinic_id)
    return page(request, "admin_origins.html", {"tab": "origins", "text": "\n".join(clinic.allowed_origins)})


@router.post("/ui/admin/origins")
async def set_origins(
    request: Request, session: Session, csrf: Csrf = "", origins: Annotated[str, Form(max_length=20000)] = ""
) -> Response:
    admin = await admin_post(request, session, csrf, "/ui/admin/origins")
    if isinstance(admin, Response):
        return admin
    try:
        await service.set_origins(session, admin, origins)
    except ServiceError as exc:
        context = {"tab": "origins", "text": origins, "error": exc.detail}
        return page(request, "admin_origins.html", context, exc.status)
    return redirect("/ui/admin/origins", msg="origins-saved")


# --- FHIR integration ---------------------------------------------------------------


async def _integration_page(
    request: Request, session: Session, admin: Principal, status_code: int = 200, **extra: object
) -> Response:
    current = await service.integration(session, request.app.state.settings, admin)
    return page(request, "admin_integration.html", {"tab": "integration", "current": current, **extra}, status_code)


@router.get("/ui/admin/integration", response_class=HTMLResponse)
async def integration(request: Request, session: Session) -> Response:
    admin = await admin_or_answer(request, session)
    return admin if isinstance(admin, Response) else await _integration_page(request, session, admin)


@router.post("/ui/admin/integration")
async def save_integration(request: Request, session: Session) -> Response:
    admin = await admin_or_answer(request, session)
    if isinstance(admin, Response):
        return admin
    form = {k: v for k, v in (await request.form()).items() if isinstance(v, str) and len(v) <= 4000}
    if not form_ok(request, form.get("csrf", "")):
        return redirect("/ui/admin/integration", msg="expired")
    try:
        await service.save_integration(session, request.app.state.settings, admin, form)
    except ValidationError as exc:
        return await _integration_page(request, session, admin, 422, errors=service.validation_words(exc), form=form)
    except ServiceError as exc:
        return await _integration_page(request, session, admin, exc.status, errors=[exc.detail], form=form)
    return redirect("/ui/admin/integration", msg="integration-saved")


@router.post("/ui/admin/integration/test")
async def test_integration(request: Request, session: Session, csrf: Csrf = "") -> Response:
    admin = await admin_post(request, session, csrf, "/ui/admin/integration")
    if isinstance(admin, Response):
        return admin
    try:
        result = await export.test_connection(session, admin.clinic_id, request.app.state.settings)
    except export.IntegrationNotConfigured:
        return redirect("/ui/admin/integration", msg="no-integration")
    return await _integration_page(request, session, admin, tested=result)


# --- exports ------------------------------------------------------------------------


@router.get("/ui/admin/exports", response_class=HTMLResponse)
async def exports(
    request: Request, session: Session, cursor: Annotated[str | None, Query(max_length=500)] = None
) -> Response:
    admin = await admin_or_answer(request, session)
    if isinstance(admin, Response):
        return admin
    limit = PageQuery().limit
    pending = await export.list_exports(session, admin.clinic_id, ExportQuery(status="pending", limit=limit))
    try:
        dead = await export.list_exports(session, admin.clinic_id, ExportQuery(status="dead", cursor=cursor))
    except ServiceError:
        return redirect("/ui/admin/exports")
    return page(request, "admin_exports.html", {"tab": "exports", "pending": pending, "dead": dead})


@router.post("/ui/admin/exports/{export_id}/retry")
async def retry_export(export_id: uuid.UUID, request: Request, session: Session, csrf: Csrf = "") -> Response:
    admin = await admin_post(request, session, csrf, "/ui/admin/exports")
    if isinstance(admin, Response):
        return admin
    try:
        await service.retry_export(session, admin, export_id)
    except export.ExportNotFound:
        return missing(request)
    except export.ExportNotDead:
        return redirect("/ui/admin/exports", msg="not-dead")
    return redirect("/ui/admin/exports", msg="export-retried")


# --- embed snippet ------------------------------------------------------------------


@router.get("/ui/admin/embed", response_class=HTMLResponse)
async def embed(request: Request, session: Session) -> Response:
    admin = await admin_or_answer(request, session)
    if isinstance(admin, Response):
        return admin
    listed = [k for k in await clinics.list_keys(session, admin.clinic_id) if k.kind == "publishable"]
    base = request.app.state.settings.public_base_url
    return page(request, "admin_embed.html", {"tab": "embed", "keys": listed, "base": base})


@router.post("/ui/admin/embed")
async def embed_key(request: Request, session: Session, csrf: Csrf = "") -> Response:
    """A new publishable key and the snippet that carries it (stored keys are only hashes)."""
    admin = await admin_post(request, session, csrf, "/ui/admin/embed")
    if isinstance(admin, Response):
        return admin
    settings = request.app.state.settings
    created = await service.create_key(session, admin, "publishable")
    listed = [k for k in await clinics.list_keys(session, admin.clinic_id) if k.kind == "publishable"]
    context = {"tab": "embed", "keys": listed, "base": settings.public_base_url, "created": created,
               "snippet": service.snippet(settings, created.key)}  # fmt: skip
    return page(request, "admin_embed.html", context, 201)
