"""Fixtures for the queue: a clinic with a physio, an admin and a few referrals."""

from dataclasses import dataclass

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from services.accounts.models import User
from services.clinics.schemas import ClinicCreated
from tests.factories import intake_body, login, make_user


@dataclass
class Staff:
    physio: User
    physio_headers: dict[str, str]
    other_physio: User
    other_headers: dict[str, str]
    admin: User
    admin_headers: dict[str, str]


@pytest.fixture
async def staff(client: httpx.AsyncClient, session: AsyncSession, clinic: ClinicCreated) -> Staff:
    physio, physio_pw = await make_user(session, clinic.slug, "physio")
    other, other_pw = await make_user(session, clinic.slug, "physio")
    admin, admin_pw = await make_user(session, clinic.slug, "clinic_admin")
    return Staff(
        physio=physio,
        physio_headers=await login(client, physio.email, physio_pw),
        other_physio=other,
        other_headers=await login(client, other.email, other_pw),
        admin=admin,
        admin_headers=await login(client, admin.email, admin_pw),
    )


URGENCY_CHANGES = {
    "emergency": {"neuro": {"saddle_numbness": True}},
    "urgent": {"history": {"fever": True}},
    "routine": {"pain": {"worsening": True}},
    "self_care": {},
}


async def submit(client: httpx.AsyncClient, sk: dict[str, str], urgency: str = "routine") -> dict[str, str]:
    """Submit an intake of the given urgency; returns its referral summary."""
    response = await client.post("/v1/intakes", json=intake_body(**URGENCY_CHANGES[urgency]), headers=sk)
    assert response.status_code == 201, response.text
    referral: dict[str, str] = response.json()["referral"]
    assert referral["urgency"] == urgency
    return referral
