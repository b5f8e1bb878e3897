"""A clinic that announces, intakes of each urgency, and the notification outbox as rows."""

import uuid
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from services.clinics.schemas import ClinicCreated
from services.core.config import Settings
from services.intake import service as intake
from services.intake.schemas import IntakeIn
from services.notifications import service as notifications
from services.notifications.models import NotificationItem
from services.notifications.schemas import SettingsIn
from tests.factories import TEST_SETTINGS, intake_body, secret_principal

URGENCY_CHANGES: dict[str, dict[str, Any]] = {
    "emergency": {"neuro": {"saddle_numbness": True}},
    "urgent": {"history": {"fever": True}},
    "routine": {"pain": {"worsening": True}},
    "self_care": {},
}


async def announce(
    session: AsyncSession,
    clinic_id: uuid.UUID,
    emails: list[str],
    webhook_url: str | None = None,
    settings: Settings = TEST_SETTINGS,
) -> str | None:
    """Enable the clinic's notifications; returns the webhook secret when there is a webhook."""
    secret = (await notifications.rotate_secret(session, clinic_id, settings)).secret if webhook_url else None
    body = SettingsIn.model_validate({"emails": emails, "webhook_url": webhook_url, "enabled": True})
    await notifications.put_settings(session, clinic_id, body, settings)
    return secret


async def submit(session: AsyncSession, clinic: ClinicCreated, urgency: str, **changes: Any) -> uuid.UUID:
    """An intake of the given urgency (as triage decides it); returns its referral id."""
    body = IntakeIn.model_validate(intake_body(**URGENCY_CHANGES[urgency], **changes))
    created, _ = await intake.submit(session, secret_principal(clinic), body, None)
    assert created.referral.urgency == urgency
    return created.referral.id


async def items(session: AsyncSession, clinic_id: uuid.UUID) -> list[NotificationItem]:
    statement = select(NotificationItem).where(col(NotificationItem.clinic_id) == clinic_id)
    return list((await session.execute(statement.order_by(col(NotificationItem.created_at)))).scalars())


def keys(found: list[NotificationItem]) -> list[tuple[uuid.UUID, str, str, str]]:
    return sorted((i.referral_id, i.kind, i.channel, i.target) for i in found)
