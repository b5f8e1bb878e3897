"""The clinic admin's own settings and keys."""

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Response

from services.clinics import service
from services.clinics.schemas import ClinicOut, KeyCreated, KeyIn, KeyList, OriginsIn
from services.core.auth import Session, require
from services.core.errors import responses
from services.core.principal import Principal

clinic_router = APIRouter(prefix="/v1/clinic", tags=["clinic admin"])

ClinicAdmin = Annotated[Principal, Depends(require("clinic:admin"))]


@clinic_router.get("", response_model=ClinicOut, responses=responses(401, 403, 503))
async def get_clinic(session: Session, principal: ClinicAdmin) -> ClinicOut:
    """The caller's clinic (clinic admins only)."""
    return await service.get_clinic(session, principal.clinic_id)


@clinic_router.put("/allowed-origins", response_model=ClinicOut, responses=responses(401, 403, 413, 422, 503))
async def set_allowed_origins(body: OriginsIn, session: Session, principal: ClinicAdmin) -> ClinicOut:
    """Replace the origins (web pages) allowed to use the clinic's publishable keys."""
    clinic = await service.set_allowed_origins(session, principal.clinic_id, body.allowed_origins)
    await service.record_admin_event(session, principal, "origins.changed", ", ".join(clinic.allowed_origins) or "none")
    return clinic


@clinic_router.get("/keys", response_model=KeyList, responses=responses(401, 403, 503))
async def list_keys(session: Session, principal: ClinicAdmin) -> KeyList:
    """The clinic's keys, active and revoked, oldest first. Only their prefixes are shown."""
    return KeyList(items=await service.list_keys(session, principal.clinic_id))


@clinic_router.post("/keys", status_code=201, response_model=KeyCreated, responses=responses(401, 403, 413, 422, 503))
async def create_key(body: KeyIn, session: Session, principal: ClinicAdmin) -> KeyCreated:
    """Create a secret or publishable key. The whole key is in this response only."""
    created = await service.create_key(session, principal.clinic_id, body.kind)
    await service.record_admin_event(session, principal, "key.created", f"{created.kind} key {created.prefix}")
    return created


@clinic_router.delete(
    "/keys/{key_id}", status_code=204, response_class=Response, responses=responses(401, 403, 404, 422, 503)
)
async def revoke_key(key_id: uuid.UUID, session: Session, principal: ClinicAdmin) -> Response:
    """Revoke a key at once: requests made with it are refused from now on."""
    revoked = await service.revoke_key(session, principal.clinic_id, key_id)
    await service.record_admin_event(session, principal, "key.revoked", revoked)
    return Response(status_code=204)
