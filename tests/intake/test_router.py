import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.clinics.schemas import ClinicCreated
from services.intake.models import Intake
from services.referrals.models import Referral
from tests.factories import intake_body, make_clinic


async def count(session: AsyncSession, model: Any, clinic_id: uuid.UUID) -> int:
    return int(
        (
            await session.execute(select(func.count()).select_from(model).where(model.clinic_id == clinic_id))
        ).scalar_one()
    )


async def test_create_returns_referral_and_read_back(client: httpx.AsyncClient, sk: dict[str, str]) -> None:
    body = intake_body(pain={"side": "left"}, notes="  ran a hilly half marathon  ")
    response = await client.post("/v1/intakes", json=body, headers=sk)
    assert response.status_code == 201, response.text
    created = response.json()
    assert set(created) == {"id", "created_at", "referral"}
    referral = created["referral"]
    assert referral["status"] == "new"
    assert referral["urgency"] == referral["triage"]["urgency"] == "routine"
    assert created["created_at"].endswith(("+00:00", "Z"))

    stored = await client.get(f"/v1/intakes/{created['id']}", headers=sk)
    assert stored.status_code == 200
    record = stored.json()
    assert record["id"] == created["id"]
    assert record["patient"] == {**body["patient"], "email": None, "phone": None, "mrn": None, "identifiers": None}
    assert record["pain"]["side"] == "left"
    assert record["notes"] == "ran a hilly half marathon"
    assert record["referral"] == referral


async def test_every_intake_opens_one_referral(
    client: httpx.AsyncClient, sk: dict[str, str], session: AsyncSession, clinic: ClinicCreated
) -> None:
    for _ in range(3):
        assert (await client.post("/v1/intakes", json=intake_body(), headers=sk)).status_code == 201
    assert await count(session, Intake, clinic.clinic_id) == 3
    assert await count(session, Referral, clinic.clinic_id) == 3


async def test_idempotent_retry_returns_original_and_creates_nothing(
    client: httpx.AsyncClient, sk: dict[str, str], session: AsyncSession, clinic: ClinicCreated
) -> None:
    headers = {**sk, "Idempotency-Key": "form-submit-1"}
    first = await client.post("/v1/intakes", json=intake_body(), headers=headers)
    again = await client.post("/v1/intakes", json=intake_body(), headers=headers)
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert again.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.headers
    assert await count(session, Intake, clinic.clinic_id) == 1


async def test_same_key_with_another_body_is_422(
    client: httpx.AsyncClient, sk: dict[str, str], session: AsyncSession, clinic: ClinicCreated
) -> None:
    headers = {**sk, "Idempotency-Key": "k-2"}
    assert (await client.post("/v1/intakes", json=intake_body(), headers=headers)).status_code == 201
    other = await client.post("/v1/intakes", json=intake_body(pain={"intensity_now": 7}), headers=headers)
    assert other.status_code == 422
    assert other.json()["type"] == "/problems/idempotency-key-reused"
    assert await count(session, Intake, clinic.clinic_id) == 1


async def test_idempotency_keys_are_per_clinic(
    client: httpx.AsyncClient, sk: dict[str, str], session: AsyncSession
) -> None:
    other = await make_clinic(session)
    key = {"Idempotency-Key": "shared-key"}
    mine = await client.post("/v1/intakes", json=intake_body(), headers={**sk, **key})
    theirs = await client.post(
        "/v1/intakes", json=intake_body(), headers={"Authorization": f"Bearer {other.secret_key}", **key}
    )
    assert mine.status_code == theirs.status_code == 201
    assert mine.json()["id"] != theirs.json()["id"]


@pytest.mark.parametrize("key", ["", "x" * 201, "has space", "caf\u00e9"])
async def test_malformed_idempotency_key_is_422(client: httpx.AsyncClient, sk: dict[str, str], key: str) -> None:
    response = await client.post(
        "/v1/intakes",
        json=intake_body(),
        headers=[*((k.encode(), v.encode()) for k, v in sk.items()), (b"Idempotency-Key", key.encode("utf-8"))],
    )
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"


async def test_another_clinics_intake_is_not_found(
    client: httpx.AsyncClient, sk: dict[str, str], session: AsyncSession
) -> None:
    other = await make_clinic(session)
    theirs = await client.post(
        "/v1/intakes", json=intake_body(), headers={"Authorization": f"Bearer {other.secret_key}"}
    )
    response = await client.get(f"/v1/intakes/{theirs.json()['id']}", headers=sk)
    assert response.status_code == 404
    assert response.json()["type"] == "/problems/intake-not-found"
    assert "Sam" not in response.text


async def test_unknown_intake_is_404(client: httpx.AsyncClient, sk: dict[str, str]) -> None:
    response = await client.get(f"/v1/intakes/{uuid.uuid4()}", headers=sk)
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"


async def test_malformed_intake_id_is_422(client: httpx.AsyncClient, sk: dict[str, str]) -> None:
    assert (await client.get("/v1/intakes/not-a-uuid", headers=sk)).status_code == 422
