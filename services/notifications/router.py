"""Where a clinic's emergency and urgent referrals are announced: settings, secret, outbox."""

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request

from services.core.auth import Session, require
from services.core.errors import responses
from services.core.principal import Principal
from services.notifications import service
from services.notifications.schemas import ItemOut, ItemPage, ItemQuery, SettingsIn, SettingsOut, WebhookSecretOut

router = APIRouter(prefix="/v1", tags=["notifications"])
Admin = Annotated[Principal, Depends(require("exports:admin"))]


@router.get("/notifications/settings", response_model=SettingsOut, responses=responses(401, 403, 503))
async def get_settings(session: Session, principal: Admin) -> SettingsOut:
    """Where the clinic's emergency and urgent referrals are announced (the webhook secret is never
    shown here, only whether one is set). Nothing is announced until settings are saved enabled."""
    return await service.get_settings(session, principal.clinic_id)


@router.put("/notifications/settings", response_model=SettingsOut, responses=responses(401, 403, 409, 422, 503))
async def put_settings(body: SettingsIn, request: Request, session: Session, principal: Admin) -> SettingsOut:
    """Set the destinations. While enabled, every referral made emergency or urgent (at intake, by
    re-triage or by a person) is announced once to each e-mail address and to the webhook, and
    again once if it is still open past its due time. A message carries the urgency, the due time
    and a link to the referral page: never patient details. In production `webhook_url` must be
    https to a public host. A webhook needs its secret first (409 otherwise)."""
    return await service.put_settings(session, principal.clinic_id, body, request.app.state.settings)


@router.post("/notifications/webhook-secret", response_model=WebhookSecretOut, responses=responses(401, 403, 503))
async def rotate_webhook_secret(request: Request, session: Session, principal: Admin) -> WebhookSecretOut:
    """A new secret for the webhook's signatures (`X-Backstride-Signature: v1=<hex HMAC-SHA256 of
    "{X-Backstride-Timestamp}.{body}">`). This answer is the only one that shows it; the previous
    secret stops being used at once."""
    return await service.rotate_secret(session, principal.clinic_id, request.app.state.settings)


@router.get("/notifications/items", response_model=ItemPage, responses=responses(401, 403, 422, 503))
async def list_items(session: Session, principal: Admin, query: Annotated[ItemQuery, Query()]) -> ItemPage:
    """The clinic's notification outbox, oldest first: pending, delivered and dead messages."""
    return await service.list_items(session, principal.clinic_id, query)


@router.post(
    "/notifications/items/{item_id}/retry",
    response_model=ItemOut,
    responses=responses(401, 403, 404, 409, 422, 503),
)
async def retry_item(item_id: uuid.UUID, session: Session, principal: Admin) -> ItemOut:
    """Send a dead notification again: pending once more, due now, with a fresh set of attempts."""
    return await service.retry(session, principal.clinic_id, item_id)
