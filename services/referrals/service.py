"""Referral rules: creation with its due date; the queue comes later."""

import uuid
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from services.referrals.repository import ReferralRepository
from services.referrals.schemas import DUE_AFTER, URGENCY_RANK
from services.triage.schemas import TriageResult


async def open_referral(
    session: AsyncSession, clinic_id: uuid.UUID, intake_id: uuid.UUID, triage: TriageResult, now: datetime
) -> dict[str, object]:
    """Create the `new` referral for an intake; returns the stored values."""
    values: dict[str, object] = {
        "id": uuid.uuid4(),
        "intake_id": intake_id,
        "urgency": triage.urgency,
        "urgency_rank": URGENCY_RANK[triage.urgency],
        "status": "new",
        "focus_areas": [f.code for f in triage.focus_areas],
        "triage": triage.model_dump(mode="json"),
        "ruleset_version": triage.ruleset_version,
        "created_at": now,
        "updated_at": now,
        "due_at": now + DUE_AFTER[triage.urgency],
        "version": 1,
    }
    await ReferralRepository(session, clinic_id).insert(values)
    return values
