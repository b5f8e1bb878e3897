"""Referrals as an older ruleset left them, in a clinic outside the per-test transaction (re-triage
and the impact report commit, or read, in sessions of their own)."""

import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select, update
from sqlmodel import col

from services.clinics.schemas import ClinicCreated
from services.core.db import Database
from services.export.models import ExportItem
from services.intake import service as intake
from services.intake.schemas import IntakeIn
from services.referrals.models import Referral, ReferralEvent
from tests.factories import committed_clinic, intake_body, secret_principal

OLD_VERSION = "2026.01.0"
INTEGRATION = {"base_url": "http://127.0.0.1:9/fhir", "auth": {"type": "none"}, "enabled": True}
RANK = {"emergency": 0, "urgent": 1, "routine": 2, "self_care": 3}


@pytest.fixture
async def old_clinic(database: Database) -> AsyncIterator[ClinicCreated]:
    async with committed_clinic(database, integration=INTEGRATION) as clinic:
        yield clinic


async def made_under_old_rules(
    database: Database,
    clinic: ClinicCreated,
    body: dict[str, Any],
    *,
    urgency: str,
    pathway: str,
    due_hours: int,
    status: str = "new",
) -> uuid.UUID:
    """An intake triaged (and its referral set) as an older ruleset did; returns the referral id."""
    async with database.sessionmaker() as session, session.begin():
        created, _ = await intake.submit(session, secret_principal(clinic), IntakeIn.model_validate(body), None)
        referral_id = created.referral.id
        row = (await session.execute(select(Referral).where(col(Referral.id) == referral_id))).scalar_one()
        old_triage = {**row.triage, "ruleset_version": OLD_VERSION, "urgency": urgency, "pathway": pathway,
                      "due_within_hours": due_hours}  # fmt: skip
        await session.execute(
            update(Referral)
            .where(col(Referral.id) == referral_id)
            .values(
                urgency=urgency,
                urgency_rank=RANK[urgency],
                pathway=pathway,
                status=status,
                due_at=row.created_at + timedelta(hours=due_hours),
                ruleset_version=OLD_VERSION,
                triage=old_triage,
            )
        )
    return referral_id


async def referral(database: Database, referral_id: uuid.UUID) -> Referral:
    async with database.sessionmaker() as session:
        return (await session.execute(select(Referral).where(col(Referral.id) == referral_id))).scalar_one()


async def events(database: Database, referral_id: uuid.UUID) -> list[ReferralEvent]:
    async with database.sessionmaker() as session:
        statement = select(ReferralEvent).where(col(ReferralEvent.referral_id) == referral_id)
        return list((await session.execute(statement.order_by(col(ReferralEvent.at)))).scalars())


async def exports(database: Database, referral_id: uuid.UUID) -> list[str]:
    async with database.sessionmaker() as session:
        statement = select(col(ExportItem.event)).where(col(ExportItem.referral_id) == referral_id)
        return list((await session.execute(statement.order_by(col(ExportItem.created_at)))).scalars())


async def count(database: Database, model: Any) -> int:
    async with database.sessionmaker() as session:
        return int((await session.execute(select(func.count()).select_from(model))).scalar_one())


__all__ = ["OLD_VERSION", "count", "events", "exports", "intake_body", "made_under_old_rules", "referral"]
