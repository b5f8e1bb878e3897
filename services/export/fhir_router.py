"""The FHIR R4 API under /fhir. Errors here are OperationOutcomes (see core/errors.py)."""

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Query, Request, Response
from pydantic import StringConstraints

from services.core.auth import Session, require
from services.core.errors import FHIR_JSON, ServiceError, responses
from services.core.principal import Principal
from services.export import fhir_service as service
from services.export.router import FhirResponse

router = APIRouter(prefix="/fhir", tags=["fhir"], default_response_class=FhirResponse)
FHIR_BODY = {"content": {FHIR_JSON: {"schema": {"type": "object"}}}, "description": "A FHIR resource"}


@router.get("/metadata", responses={200: FHIR_BODY})
async def metadata(request: Request) -> Response:
    """The CapabilityStatement: what this FHIR endpoint supports."""
    base = request.app.state.settings.public_base_url + "/fhir"  # never the request's Host header
    return FhirResponse(service.capability(base, request.app.version))


@router.get("/Questionnaire/backstride-intake", responses={200: FHIR_BODY})
async def intake_questionnaire() -> Response:
    """The intake form as a FHIR Questionnaire (linkIds are the dotted field names of the intake)."""
    return FhirResponse(service.questionnaire())


# A canonical URL is a URI (optionally |version); a version is dotted numbers.
CanonicalUrl = Annotated[
    str, StringConstraints(max_length=300, pattern=r"^[A-Za-z][A-Za-z0-9+.-]*:[^\s|]+(\|[0-9A-Za-z.-]{1,20})?$")
]
Version = Annotated[str, StringConstraints(max_length=20, pattern=r"^[0-9]+(\.[0-9]+){0,2}$")]


@router.get("/Questionnaire", responses={200: FHIR_BODY, **responses(400, 422)})
async def search_questionnaires(
    request: Request,
    url: Annotated[list[CanonicalUrl] | None, Query(description="The canonical URL, a URI (may end |version)")] = None,
    version: Annotated[list[Version] | None, Query()] = None,
) -> Response:
    """Search Questionnaires by canonical `url` and `version`: a searchset Bundle holding the intake
    Questionnaire when it matches, else empty."""
    service.refuse_unknown_parameters(request.query_params.keys(), service.QUESTIONNAIRE_PARAMETERS)
    base = request.app.state.settings.public_base_url + "/fhir"
    return FhirResponse(service.questionnaire_search(base, url or [], version or []))


@router.post(
    "/QuestionnaireResponse",
    status_code=201,
    responses={
        201: {**FHIR_BODY, "description": "Created: an intake, triaged"},
        200: {**FHIR_BODY, "description": "Found: a response with this identifier was sent before"},
        **responses(400, 401, 403, 409, 413, 422, 503),
    },
    openapi_extra={"requestBody": {"required": True, **FHIR_BODY}},
)
async def create_questionnaire_response(
    request: Request,
    session: Session,
    principal: Annotated[Principal, Depends(require("intake:write"))],
    idempotency_key: Annotated[
        str | None, Header(alias="Idempotency-Key", max_length=200, pattern=r"^[\x21-\x7e]+$")
    ] = None,
    if_none_exist: Annotated[
        str | None,
        Header(alias="If-None-Exist", max_length=600, description="identifier=system|value: create only if new"),
    ] = None,
) -> Response:
    """Submit an intake as a QuestionnaireResponse to backstride-intake (1.0.0 or 2.0.0). It is validated
    and triaged exactly like `POST /v1/intakes`; the answer is the stored response, with the referral's
    id and urgency in extensions, and its address in `Location`.

    Conditional create: with `If-None-Exist: identifier=system|value`, or an `identifier` on the resource,
    a response already made with that identifier is answered (200) instead of making another intake.
    `subject` (the EHR's `Patient/{id}`, or an identifier), `author` and `authored` are kept: the export
    refers to the EHR's own Patient. A `modifierExtension` (none is understood here) is refused."""
    body = await _json(request)
    submitted = await service.submit_response(session, principal, body, idempotency_key, if_none_exist)
    base = request.app.state.settings.public_base_url + "/fhir"
    location = f"{base}/QuestionnaireResponse/{submitted.resource['id']}/_history/1"
    headers = {"Location": location, "ETag": 'W/"1"'}
    return FhirResponse(submitted.resource, status_code=submitted.status, headers=headers)


@router.get("/QuestionnaireResponse/{response_id}", responses={200: FHIR_BODY, **responses(401, 403, 404, 410, 503)})
async def read_questionnaire_response(
    response_id: str, session: Session, principal: Annotated[Principal, Depends(require("intake:read"))]
) -> Response:
    """An intake as a QuestionnaireResponse, however it came (reading it goes on the referral's audit
    trail); 410 once the patient's data is erased."""
    resource = await service.read_response(session, principal, response_id)
    return FhirResponse(resource, headers={"ETag": 'W/"1"'})


@router.get(
    "/QuestionnaireResponse/{response_id}/_history/{version_id}",
    responses={200: FHIR_BODY, **responses(401, 403, 404, 410, 503)},
)
async def read_questionnaire_response_version(
    response_id: str,
    version_id: str,
    session: Session,
    principal: Annotated[Principal, Depends(require("intake:read"))],
) -> Response:
    """A version of a QuestionnaireResponse (each has one: 1)."""
    resource = await service.read_response(session, principal, response_id, version_id)
    return FhirResponse(resource, headers={"ETag": 'W/"1"'})


@router.get("/ServiceRequest/{referral_id}", responses={200: FHIR_BODY, **responses(401, 403, 404, 410, 503)})
async def read_service_request(
    referral_id: str, session: Session, principal: Annotated[Principal, Depends(require("referrals:read"))]
) -> Response:
    """A referral as a ServiceRequest (read is recorded on the referral's audit trail); 410 once the
    patient's data is erased. Search leaves erased referrals out."""
    return FhirResponse(await service.read_service_request(session, principal, referral_id))


@router.get("/ServiceRequest", responses={200: FHIR_BODY, **responses(400, 401, 403, 422, 503)})
async def search_service_requests(
    request: Request,
    session: Session,
    principal: Annotated[Principal, Depends(require("referrals:read"))],
    status: Annotated[list[str] | None, Query(description="active, revoked or completed (comma or repeat)")] = None,
    last_updated: Annotated[
        list[str] | None, Query(alias="_lastUpdated", description="e.g. ge2026-11-01 (eq, gt, ge, lt, le)")
    ] = None,
    count: Annotated[int, Query(alias="_count", ge=1, le=100)] = 50,
    cursor: Annotated[str | None, Query(alias="_cursor", max_length=500)] = None,
) -> Response:
    """Search the clinic's referrals by FHIR status and time of last change; a searchset Bundle,
    oldest change first, with a `next` link while there are more."""
    service.refuse_unknown_parameters(request.query_params.keys())
    base = request.app.state.settings.public_base_url + "/fhir"
    bundle = await service.search(session, principal, base, status or [], last_updated or [], count, cursor)
    return FhirResponse(bundle)


async def _json(request: Request) -> Any:
    try:
        return await request.json()
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise ServiceError("the body is not JSON (or is nested too deeply)") from exc
