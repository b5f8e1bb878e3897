"""Audit-trail entries: who did what to a referral, and when."""

import uuid
from datetime import datetime
from typing import Any

from services.core.principal import Principal
from services.referrals.models import ReferralEvent
from services.referrals.schemas import EventOut


def event(
    referral_id: uuid.UUID,
    principal: Principal,
    action: str,
    now: datetime,
    *,
    from_status: str | None = None,
    to_status: str | None = None,
    note: str | None = None,
    detail: dict[str, Any] | None = None,
) -> ReferralEvent:
    return ReferralEvent(
        clinic_id=principal.clinic_id,
        referral_id=referral_id,
        at=now,
        actor_type=principal.kind if principal.kind in ("user", "system") else "key",
        actor_id=principal.user_id or principal.key_id,
        actor_label=principal.label,
        action=action,
        from_status=from_status,
        to_status=to_status,
        note=note,
        detail=detail,
    )


def event_out(event: ReferralEvent) -> EventOut:
    return EventOut.model_validate({**event.model_dump(), "actor": event.actor_label})
