from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from services.clinics.schemas import ClinicCreated
from services.core.db import utcnow
from services.intake import service as intake
from services.intake.schemas import IntakeIn
from services.referrals.models import Referral
from tests.factories import intake_body, secret_principal

# SPEC §5: each pathway's due time, from created_at.
DUE = {
    "emergency_department": ({"neuro": {"saddle_numbness": True}}, "emergency", timedelta(0)),
    "same_day_medical": ({"neuro": {"walking_difficulty": True}}, "urgent", timedelta(hours=12)),
    "urgent_medical": ({"history": {"fever": True}}, "urgent", timedelta(hours=24)),
    "medical_review": ({"history": {"unexplained_weight_loss": True}}, "routine", timedelta(days=5)),
    "physiotherapy": ({"pain": {"worsening": True}}, "routine", timedelta(days=5)),
    "self_management": ({}, "self_care", timedelta(days=14)),
}


@pytest.mark.parametrize("pathway", list(DUE))
async def test_referral_due_at_follows_the_pathway(session: AsyncSession, clinic: ClinicCreated, pathway: str) -> None:
    change, urgency, after = DUE[pathway]
    created, _ = await intake.submit(
        session, secret_principal(clinic), IntakeIn.model_validate(intake_body(**change)), None
    )
    row = (await session.execute(select(Referral).where(col(Referral.id) == created.referral.id))).scalar_one()
    assert (row.urgency, row.pathway) == (urgency, pathway) and row.status == "new" and row.version == 1
    assert row.due_at - row.created_at == after
    assert row.created_at.tzinfo is not None and abs(row.created_at - utcnow()) < timedelta(minutes=1)
    assert row.ruleset_version == created.referral.triage.ruleset_version
    assert row.focus_areas == [f.code for f in created.referral.triage.focus_areas]
    assert row.triage == created.referral.triage.model_dump(mode="json")
