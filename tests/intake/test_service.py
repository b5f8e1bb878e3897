import asyncio
import uuid
from collections.abc import AsyncIterator

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from services.app import create_app
from services.clinics.schemas import ClinicCreated
from services.core.config import Settings
from services.core.db import Database
from services.intake import service
from services.intake.models import Intake
from services.intake.schemas import IntakeIn
from services.referrals.models import Referral
from tests.factories import committed_clinic as committed
from tests.factories import intake_body, secret_principal


async def test_submit_stores_body_as_accepted(session: AsyncSession, clinic: ClinicCreated) -> None:
    body = IntakeIn.model_validate(intake_body(patient={"given_name": "  Ana "}))
    created, replayed = await service.submit(session, secret_principal(clinic), body, None)
    assert not replayed
    row = (await session.execute(select(Intake).where(col(Intake.id) == created.id))).scalar_one()
    assert row.answers["patient"]["given_name"] == "Ana"
    assert row.idempotency_key is None and row.request_hash is None
    record = await service.get(session, secret_principal(clinic), created.id)
    assert record.referral == created.referral


async def test_retry_is_recognised_whatever_the_key_order(session: AsyncSession, clinic: ClinicCreated) -> None:
    raw = intake_body()
    reordered = {k: raw[k] for k in reversed(list(raw))}
    first, _ = await service.submit(session, secret_principal(clinic), IntakeIn.model_validate(raw), "k")
    again, replayed = await service.submit(session, secret_principal(clinic), IntakeIn.model_validate(reordered), "k")
    assert replayed and again == first


@pytest.fixture
async def committed_clinic(database: Database) -> AsyncIterator[ClinicCreated]:
    """A clinic outside the per-test transaction, for tests that need real concurrent commits."""
    async with committed(database) as clinic:
        yield clinic


async def test_concurrent_retries_with_one_key_create_one_intake(
    settings: Settings, database: Database, committed_clinic: ClinicCreated
) -> None:
    """Twelve simultaneous submissions with the same key, each on its own connection."""
    app = create_app(settings, database=database)  # the real unit of work: every request commits
    headers = {"Authorization": f"Bearer {committed_clinic.secret_key}", "Idempotency-Key": f"dbl-{uuid.uuid4()}"}
    body = intake_body()
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as http:
        responses = await asyncio.gather(*(http.post("/v1/intakes", json=body, headers=headers) for _ in range(12)))
    assert [r.status_code for r in responses] == [201] * 12
    assert len({r.json()["id"] for r in responses}) == 1
    async with database.sessionmaker() as session:
        for model in (Intake, Referral):
            total = await session.execute(
                select(func.count()).select_from(model).where(col(model.clinic_id) == committed_clinic.clinic_id)
            )
            assert total.scalar_one() == 1
