"""Intake endpoints: parse, call the service, respond."""

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Request, Response

from services.core.auth import Session, client_address, require
from services.core.errors import responses
from services.core.principal import Principal
from services.intake import service
from services.intake.schemas import IntakeCreated, IntakeIn, IntakeRecord

router = APIRouter(prefix="/v1/intakes", tags=["intakes"])

IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=200,
        pattern=r"^[\x21-\x7e]+$",
        description="Printable ASCII, at most 200 characters. A retry with the same key and body "
        "returns the original response and creates nothing; the same key with another body is a 422.",
    ),
]


@router.post(
    "",
    status_code=201,
    response_model=IntakeCreated,
    responses=responses(400, 401, 403, 409, 413, 422, 429, 503),
)
async def create_intake(
    body: IntakeIn,
    request: Request,
    response: Response,
    session: Session,
    principal: Annotated[Principal, Depends(require("intake:write"))],
    idempotency_key: IdempotencyKey = None,
) -> IntakeCreated:
    """Submit a runner's intake.

    Triage runs at once and a referral (status `new`) is opened in the same
    transaction. Works with the clinic's secret key or, from an embedded form,
    its publishable key (the request's `Origin` must then be one of the
    clinic's allowed origins; submissions per key and address are rate-limited, 429).
    A replayed response carries `Idempotent-Replayed: true`.
    """
    if principal.kind == "publishable":  # web forms: per key and address; EHRs with secret keys are not limited
        client = client_address(request)
        request.app.state.limiter.hit(
            "intake", f"{principal.key_id}|{client}", request.app.state.settings.rate_limit_intakes_per_minute
        )
    created, replayed = await service.submit(session, principal, body, idempotency_key)
    if replayed:
        response.headers["Idempotent-Replayed"] = "true"
    return created


@router.get("/{intake_id}", response_model=IntakeRecord, responses=responses(401, 403, 404, 410, 422, 503))
async def get_intake(
    intake_id: uuid.UUID,
    session: Session,
    principal: Annotated[Principal, Depends(require("intake:read"))],
) -> IntakeRecord:
    """The stored intake, as accepted, with its referral's status and triage result.
    The read is recorded on the referral's audit trail. 410 once the patient's data is erased."""
    return await service.get(session, principal, intake_id)
