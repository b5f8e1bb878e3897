"""A clinic with an admin, a physio and a FHIR integration, and patients with marked details."""

import uuid
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from services.accounts import service as accounts
from services.accounts.models import User
from services.clinics.schemas import ClinicCreated
from services.core.principal import Principal
from tests.factories import intake_body, login, make_user

# Every table that holds something about a patient.
TABLES = ("intakes", "referrals", "referral_events", "export_items")


@dataclass
class Staff:
    admin: User
    admin_headers: dict[str, str]
    physio_headers: dict[str, str]

    @property
    def admin_principal(self) -> Principal:
        return Principal(
            clinic_id=self.admin.clinic_id,
            kind="user",
            scopes=frozenset(accounts.ROLE_SCOPES["clinic_admin"]),
            user_id=self.admin.id,
            label=self.admin.email,
        )


@pytest.fixture
async def staff(client: httpx.AsyncClient, session: AsyncSession, clinic: ClinicCreated) -> Staff:
    admin, admin_pw = await make_user(session, clinic.slug, "clinic_admin")
    physio, physio_pw = await make_user(session, clinic.slug, "physio")
    admin_headers = await login(client, admin.email, admin_pw)
    integration = {"base_url": "https://ehr.example/fhir", "auth": {"type": "none"}, "enabled": True}
    response = await client.put("/v1/integrations/fhir", json=integration, headers=admin_headers)
    assert response.status_code == 200, response.text
    return Staff(admin, admin_headers, await login(client, physio.email, physio_pw))


def marker() -> str:
    """A value found nowhere else, to look for in the raw rows."""
    return f"Mk{uuid.uuid4().hex[:12]}"


def patient(**fields: Any) -> dict[str, Any]:
    return {"given_name": marker(), "family_name": marker(), "birth_date": "1990-03-04", "sex": "female", **fields}


async def submit(client: httpx.AsyncClient, key: str, person: dict[str, Any], **changes: Any) -> dict[str, Any]:
    """An intake for `person`; returns the created intake (with its referral)."""
    body = intake_body(patient=person, **changes)
    response = await client.post("/v1/intakes", json=body, headers={"Authorization": f"Bearer {key}"})
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


async def raw_rows(session: AsyncSession) -> str:
    """Every row of the patient tables as text, straight from the database."""
    dumped = []
    for table in TABLES:
        rows = await session.execute(text(f"SELECT * FROM {table}"))
        dumped += [repr(tuple(row)) for row in rows]
    return "\n".join(dumped)
