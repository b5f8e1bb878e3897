"""Referral rules: creation with its due date; the queue comes later."""

import uuid
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from services.referrals.models import Referral
from services.referrals.repository import ReferralRepository
from services.referrals.schemas import DUE_AFTER, URGENCY_RANK
from services.triage.schemas import TriageResult


async def open_referral(
    session: AsyncSession, clinic_id: uuid.UUID, intake_id: uuid.UUID, triage: TriageResult, now: datetime
) -> Referral:
    """Create the `new` referral for an intake, due per its urgency (SPEC §6)."""
    referral = Referral(
        clinic_id=clinic_id,
        intake_id=intake_id,
        urgency=triage.urgency,
        urgency_rank=URGENCY_RANK[triage.urgency],
        focus_areas=[f.code for f in triage.focus_areas],
        triage=triage.model_dump(mode="json"),
        ruleset_version=triage.ruleset_version,
        created_at=now,
        updated_at=now,
        due_at=now + DUE_AFTER[triage.urgency],
    )
    await ReferralRepository(session, clinic_id).insert(referral)
    return referral
