"""Health, login, and the clinic admin's own settings and keys."""

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from services.core import migrations, observability, service
from services.core.auth import Session, require
from services.core.db import Database
from services.core.errors import responses
from services.core.schemas import ClinicOut, KeyCreated, KeyIn, KeyList, OriginsIn, TokenOut
from services.core.service import Principal

health_router = APIRouter(tags=["health"])
auth_router = APIRouter(prefix="/v1/auth", tags=["auth"])
clinic_router = APIRouter(prefix="/v1/clinic", tags=["clinic admin"])

ClinicAdmin = Annotated[Principal, Depends(require("clinic:admin"))]


class Health(BaseModel):
    status: str
    detail: str | None = None


@health_router.get("/healthz", response_model=Health)
async def healthz() -> Health:
    """The process is up. Touches nothing else."""
    return Health(status="ok")


@health_router.get("/readyz", response_model=Health, responses={503: {"model": Health, "description": "Not ready"}})
async def readyz(request: Request) -> Health | JSONResponse:
    """Ready for traffic: the database answers and its schema is at the migrations' head."""
    database: Database = request.app.state.db
    try:
        current = await migrations.current_revision(database.engine)
    except Exception:  # noqa: BLE001 - any failure to reach the database means "not ready"
        return _not_ready("database unreachable")
    head = request.app.state.migration_head
    if current != head:
        return _not_ready(f"schema at {current}, expected {head}")
    return Health(status="ok")


def _not_ready(detail: str) -> JSONResponse:
    return JSONResponse({"status": "unavailable", "detail": detail}, status_code=503, headers={"Retry-After": "5"})


@health_router.get("/metrics", include_in_schema=False)
async def metrics(session: Session) -> Response:
    """Prometheus metrics: requests by route and status, latency, intakes by urgency, exports."""
    body, content_type = await observability.scrape(session)
    return Response(body, media_type=content_type)


@auth_router.post("/token", response_model=TokenOut, responses=responses(401, 413, 422, 429, 503))
async def token(
    request: Request,
    session: Session,
    username: Annotated[str, Form(max_length=254, description="The user's email")],
    password: Annotated[str, Form(max_length=1024)],
    grant_type: Annotated[str | None, Form(pattern="^password$")] = None,
) -> TokenOut:
    """OAuth2 password grant: exchange a physio's or clinic admin's email and password for a
    short-lived bearer token. Failures answer 401 without saying whether the email exists;
    repeated failures lock the account for a while; attempts per account are rate-limited (429)."""
    settings = request.app.state.settings
    request.app.state.limiter.hit("login", username.strip().lower(), settings.rate_limit_logins_per_minute)
    return await service.login(session, settings, username, password)


@clinic_router.get("", response_model=ClinicOut, responses=responses(401, 403, 503))
async def get_clinic(session: Session, principal: ClinicAdmin) -> ClinicOut:
    """The caller's clinic (clinic admins only)."""
    return await service.get_clinic(session, principal.clinic_id)


@clinic_router.put("/allowed-origins", response_model=ClinicOut, responses=responses(401, 403, 413, 422, 503))
async def set_allowed_origins(body: OriginsIn, session: Session, principal: ClinicAdmin) -> ClinicOut:
    """Replace the origins (web pages) allowed to use the clinic's publishable keys."""
    return await service.set_allowed_origins(session, principal.clinic_id, body.allowed_origins)


@clinic_router.get("/keys", response_model=KeyList, responses=responses(401, 403, 503))
async def list_keys(session: Session, principal: ClinicAdmin) -> KeyList:
    """The clinic's keys, active and revoked, oldest first. Only their prefixes are shown."""
    return KeyList(items=await service.list_keys(session, principal.clinic_id))


@clinic_router.post("/keys", status_code=201, response_model=KeyCreated, responses=responses(401, 403, 413, 422, 503))
async def create_key(body: KeyIn, session: Session, principal: ClinicAdmin) -> KeyCreated:
    """Create a secret or publishable key. The whole key is in this response only."""
    return await service.create_key(session, principal.clinic_id, body.kind)


@clinic_router.delete(
    "/keys/{key_id}", status_code=204, response_class=Response, responses=responses(401, 403, 404, 422, 503)
)
async def revoke_key(key_id: uuid.UUID, session: Session, principal: ClinicAdmin) -> Response:
    """Revoke a key at once: requests made with it are refused from now on."""
    await service.revoke_key(session, principal.clinic_id, key_id)
    return Response(status_code=204)
