from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from services.core.db import utcnow
from services.core.schemas import ClinicCreated
from services.intake import service as intake
from services.intake.schemas import IntakeIn
from services.referrals.models import Referral
from tests.factories import intake_body, secret_principal

DUE = {
    "emergency": ({"neuro": {"saddle_numbness": True}}, timedelta(0)),
    "urgent": ({"history": {"fever_or_unwell": True}}, timedelta(hours=24)),
    "routine": ({"pain": {"worsening": True}}, timedelta(days=5)),
    "self_care": ({}, timedelta(days=14)),
}


@pytest.mark.parametrize("urgency", list(DUE))
async def test_referral_due_at_follows_urgency(session: AsyncSession, clinic: ClinicCreated, urgency: str) -> None:
    change, after = DUE[urgency]
    created, _ = await intake.submit(
        session, secret_principal(clinic), IntakeIn.model_validate(intake_body(**change)), None
    )
    row = (await session.execute(select(Referral).where(col(Referral.id) == created.referral.id))).scalar_one()
    assert row.urgency == urgency and row.status == "new" and row.version == 1
    assert row.due_at - row.created_at == after
    assert row.created_at.tzinfo is not None and abs(row.created_at - utcnow()) < timedelta(minutes=1)
    assert row.ruleset_version == created.referral.triage.ruleset_version
    assert row.focus_areas == [f.code for f in created.referral.triage.focus_areas]
    assert row.triage == created.referral.triage.model_dump(mode="json")
