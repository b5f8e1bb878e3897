"""Export endpoints under /v1: the clinic's FHIR integration, its outbox, a referral's Bundle."""

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse

from services.clinics import service as clinics
from services.core.auth import Session, require
from services.core.errors import FHIR_JSON, responses
from services.core.principal import Principal
from services.export import service
from services.export.schemas import ExportItemOut, ExportPage, ExportQuery, IntegrationIn, IntegrationOut, Jwks

router = APIRouter(prefix="/v1", tags=["exports"])
Admin = Annotated[Principal, Depends(require("exports:admin"))]


class FhirResponse(JSONResponse):
    media_type = FHIR_JSON


@router.get("/integrations/fhir", response_model=IntegrationOut, responses=responses(401, 403, 404, 503))
async def get_integration(request: Request, session: Session, principal: Admin) -> IntegrationOut:
    """The clinic's FHIR destination (the token is never shown, only whether one is set)."""
    return await service.get_integration(session, principal.clinic_id, request.app.state.settings.public_base_url)


@router.put("/integrations/fhir", response_model=IntegrationOut, responses=responses(401, 403, 422, 503))
async def put_integration(body: IntegrationIn, request: Request, session: Session, principal: Admin) -> IntegrationOut:
    """Set where the clinic's referrals go. While enabled, every new referral and every status change
    is queued in the same transaction and POSTed to `base_url` as a FHIR transaction Bundle.
    In production `base_url` (and a SMART `token_url`) must be https to a public host.

    `auth.type` `smart_backend` (SMART Backend Services) gets an access token from `token_url` with a
    client assertion signed by Backstride's key for the clinic: register `auth.jwks_url` (in the
    answer) with the EHR as the client's JWKS. `mrn_system` is the URI of the clinic's MRNs."""
    saved = await service.put_integration(session, principal.clinic_id, body, request.app.state.settings)
    await clinics.record_admin_event(session, principal, "integration.changed", service.integration_summary(saved))
    return saved


@router.get(
    "/jwks/{clinic_id}.json",
    response_model=Jwks,
    responses={200: {"description": "A JSON Web Key Set (RFC 7517)"}, **responses(404, 422, 503)},
)
async def jwks(clinic_id: uuid.UUID, session: Session) -> Any:
    """The public keys the export signs SMART client assertions with, as a JWKS (no credentials:
    the EHR's authorization server fetches it). Stable for the clinic: register it once."""
    return JSONResponse(await service.public_keys(session, clinic_id), headers={"Cache-Control": "public, max-age=300"})


@router.get("/exports", response_model=ExportPage, responses=responses(401, 403, 422, 503))
async def list_exports(session: Session, principal: Admin, query: Annotated[ExportQuery, Query()]) -> ExportPage:
    """The clinic's outbox, oldest first: pending, delivered and dead deliveries."""
    return await service.list_exports(session, principal.clinic_id, query)


@router.post(
    "/exports/{export_id}/retry", response_model=ExportItemOut, responses=responses(401, 403, 404, 409, 422, 503)
)
async def retry_export(export_id: uuid.UUID, session: Session, principal: Admin) -> ExportItemOut:
    """Send a dead export again: it is pending once more, due now, with a fresh set of attempts."""
    return await service.retry(session, principal.clinic_id, export_id)


@router.get(
    "/referrals/{referral_id}/fhir",
    response_class=FhirResponse,
    responses={
        200: {"content": {FHIR_JSON: {}}, "description": "A FHIR R4 transaction Bundle"},
        **responses(401, 403, 404, 410, 422, 503),
    },
)
async def referral_bundle(
    referral_id: uuid.UUID, session: Session, principal: Annotated[Principal, Depends(require("referrals:read"))]
) -> Any:
    """The referral as a FHIR R4 (4.0.1) transaction Bundle: Patient (unless the intake named the EHR's
    own), QuestionnaireResponse, Observations (pain now, pain while running, triage urgency), Condition,
    Flags and the ServiceRequest, with conditional creates and updates so that POSTing it twice
    creates nothing new. Reading it is recorded on the referral's audit trail. 410 once the
    patient's data is erased."""
    return FhirResponse(await service.referral_bundle(session, principal, referral_id))
