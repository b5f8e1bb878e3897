"""The referral queue API for physios and integrations."""

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Query, Response

from services.core.auth import Session, require
from services.core.errors import responses
from services.core.principal import Principal
from services.core.schemas import PageQuery
from services.intake import service as intake
from services.referrals import service
from services.referrals.schemas import (
    EventOut,
    EventPage,
    NoteIn,
    QueueQuery,
    ReferralDetail,
    ReferralOut,
    ReferralPage,
    TransitionIn,
    UrgencyIn,
)

router = APIRouter(prefix="/v1/referrals", tags=["referrals"])

Reader = Annotated[Principal, Depends(require("referrals:read"))]
IfMatch = Annotated[str | None, Header(alias="If-Match", max_length=200, description="The ETag from your last read")]
Writer = Annotated[Principal, Depends(require("referrals:write"))]


@router.get("", response_model=ReferralPage, responses=responses(401, 403, 422, 503))
async def list_referrals(session: Session, principal: Reader, query: Annotated[QueueQuery, Query()]) -> ReferralPage:
    """The clinic's referral queue: emergency first, then urgent, routine, self-care; oldest first
    within an urgency. Keyset-paginated: pass `next_cursor` as `cursor` for the next page, which stays
    correct while new referrals arrive."""
    return await service.queue(session, principal, query)


@router.post(
    "/next",
    response_model=ReferralOut,
    responses={204: {"description": "No unclaimed referral"}, **responses(401, 403, 503)},
)
async def claim_next(response: Response, session: Session, principal: Writer) -> ReferralOut | Response:
    """Claim the highest-priority unclaimed referral for the calling physio (204 when there is none).
    Concurrent callers never get the same referral."""
    claimed = await service.claim_next(session, principal)
    if claimed is None:
        return Response(status_code=204)
    response.headers["ETag"] = service.etag(claimed.version)
    return claimed


@router.get("/{referral_id}", response_model=ReferralDetail, responses=responses(401, 403, 404, 422, 503))
async def get_referral(
    referral_id: uuid.UUID, response: Response, session: Session, principal: Reader
) -> ReferralDetail:
    """A referral with the intake it came from. Sends `ETag` (use it as `If-Match` for transitions).
    Reading is recorded on the referral's audit trail. Once the patient's data is erased, `intake`
    is null, `erased_at` is set and `triage` holds only the urgency, ruleset version and rule ids."""
    referral = await service.view(session, principal, referral_id)
    answers = await intake.kept(session, principal.clinic_id, referral.intake_id)
    response.headers["ETag"] = service.etag(referral.version)
    return ReferralDetail(**referral.model_dump(), intake=answers)


@router.post("/{referral_id}/claim", response_model=ReferralOut, responses=responses(401, 403, 404, 409, 422, 503))
async def claim(referral_id: uuid.UUID, response: Response, session: Session, principal: Writer) -> ReferralOut:
    """Claim a new referral: it becomes `in_review`, assigned to the calling physio. Of several
    concurrent claims exactly one succeeds; the others get 409."""
    claimed = await service.claim(session, principal, referral_id)
    response.headers["ETag"] = service.etag(claimed.version)
    return claimed


@router.post(
    "/{referral_id}/transitions",
    response_model=ReferralOut,
    responses=responses(401, 403, 404, 409, 412, 413, 422, 428, 503),
)
async def transition(
    referral_id: uuid.UUID,
    body: TransitionIn,
    response: Response,
    session: Session,
    principal: Writer,
    if_match: IfMatch = None,
) -> ReferralOut:
    """Move a referral: new → in_review → accepted | declined; accepted → scheduled → closed;
    declined → closed. Other moves are 409; a stale `If-Match` is 412, a missing one 428.
    Accepting or declining is for the physio reviewing it (or a clinic admin)."""
    moved = await service.transition(session, principal, referral_id, body.to, body.note, if_match)
    response.headers["ETag"] = service.etag(moved.version)
    return moved


@router.post(
    "/{referral_id}/urgency",
    response_model=ReferralOut,
    responses=responses(401, 403, 404, 409, 412, 413, 422, 428, 503),
)
async def change_urgency(
    referral_id: uuid.UUID,
    body: UrgencyIn,
    response: Response,
    session: Session,
    principal: Writer,
    if_match: IfMatch = None,
) -> ReferralOut:
    """Set the urgency by a person's judgement (a physio or clinic admin; keys get 403). `pathway`
    defaults to the urgency's usual one (emergency → emergency_department, urgent → urgent_medical,
    routine → physiotherapy, self_care → self_management) and must belong to the urgency; `due_at`
    becomes now + that pathway's due time (0, 12, 24, 120, 120, 336 h). Who, from, to and `reason`
    go on the audit trail (`urgency_changed`) and into the export. Closed or declined referrals
    keep theirs (409); a stale `If-Match` is 412, a missing one 428."""
    changed = await service.change_urgency(session, principal, referral_id, body, if_match)
    response.headers["ETag"] = service.etag(changed.version)
    return changed


@router.post(
    "/{referral_id}/notes",
    status_code=201,
    response_model=EventOut,
    responses=responses(401, 403, 404, 410, 413, 422, 503),
)
async def add_note(referral_id: uuid.UUID, body: NoteIn, session: Session, principal: Writer) -> EventOut:
    """Add a note to the referral's record (410 once the patient's data is erased)."""
    return await service.add_note(session, principal, referral_id, body.text)


@router.get("/{referral_id}/events", response_model=EventPage, responses=responses(401, 403, 404, 422, 503))
async def list_events(
    referral_id: uuid.UUID, session: Session, principal: Reader, page: Annotated[PageQuery, Query()]
) -> EventPage:
    """The audit trail: who created, viewed, claimed, moved, annotated, exported or erased the
    referral, and when; re-triage under a new ruleset (`retriaged` with from/to, or
    `retriage_suggested` with the suggested result in `detail`) and urgency changes by a person
    (`urgency_changed`, with the reason in `note`)."""
    return await service.list_events(session, principal, referral_id, page)
