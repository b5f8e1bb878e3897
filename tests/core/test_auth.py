"""Credentials (SPEC §2): secret and publishable keys, scopes, origins, revocation."""

import asyncio
from datetime import UTC, datetime

import httpx
import pytest
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from services.clinics import service
from services.clinics.models import ApiKey
from services.clinics.repository import ClinicRepository
from services.clinics.schemas import ClinicCreated
from services.core.auth import authenticate
from services.core.config import Settings
from services.core.errors import Unauthorized
from tests.factories import intake_body


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


async def test_missing_credentials_are_401_with_challenge(client: httpx.AsyncClient) -> None:
    response = await client.post("/v1/intakes", json=intake_body())
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert response.headers["content-type"] == "application/problem+json"


async def test_unknown_key_and_wrong_scheme_are_401(client: httpx.AsyncClient, clinic: ClinicCreated) -> None:
    for headers in (bearer("sk_not-a-real-key"), bearer("garbage"), {"Authorization": f"Basic {clinic.secret_key}"}):
        response = await client.get("/v1/triage/ruleset", headers=headers)
        assert response.status_code == 401, headers
        assert response.headers["www-authenticate"] == "Bearer"


async def test_revoked_key_is_401(client: httpx.AsyncClient, session: AsyncSession, clinic: ClinicCreated) -> None:
    principal = await authenticate(session, Settings(), clinic.secret_key)
    assert principal.key_id is not None
    await service.revoke_key(session, clinic.clinic_id, principal.key_id)
    assert (await client.get("/v1/triage/ruleset", headers=bearer(clinic.secret_key))).status_code == 401


async def test_publishable_key_submits_intakes_and_dry_runs(client: httpx.AsyncClient, clinic: ClinicCreated) -> None:
    pk = bearer(clinic.publishable_key)
    assert (await client.post("/v1/intakes", json=intake_body(), headers=pk)).status_code == 201
    assert (await client.post("/v1/triage/evaluate", json=intake_body(), headers=pk)).status_code == 200


async def test_publishable_key_cannot_read(client: httpx.AsyncClient, clinic: ClinicCreated) -> None:
    pk = bearer(clinic.publishable_key)
    created = await client.post("/v1/intakes", json=intake_body(), headers=pk)
    assert (await client.get(f"/v1/intakes/{created.json()['id']}", headers=pk)).status_code == 403
    assert (await client.get("/v1/triage/ruleset", headers=pk)).status_code == 403


async def test_publishable_key_origin_must_be_allowed(client: httpx.AsyncClient, clinic: ClinicCreated) -> None:
    pk = bearer(clinic.publishable_key)
    allowed = await client.post("/v1/intakes", json=intake_body(), headers={**pk, "Origin": "https://clinic.example"})
    assert allowed.status_code == 201
    refused = await client.post("/v1/intakes", json=intake_body(), headers={**pk, "Origin": "https://evil.example"})
    assert refused.status_code == 403
    assert refused.json()["type"] == "/problems/forbidden"


async def test_keys_are_stored_only_as_hashes(session: AsyncSession, clinic: ClinicCreated) -> None:
    from sqlalchemy import select
    from sqlmodel import col

    from services.clinics.models import ApiKey

    rows = (await session.execute(select(ApiKey).where(col(ApiKey.clinic_id) == clinic.clinic_id))).scalars().all()
    assert {r.kind for r in rows} == {"secret", "publishable"}
    stored = " ".join(f"{r.key_hash} {r.prefix}" for r in rows)
    assert clinic.secret_key not in stored and clinic.publishable_key not in stored
    assert service.hash_key(clinic.secret_key) in {r.key_hash for r in rows}


async def _revoke_elsewhere(session: AsyncSession, clinic: ClinicCreated) -> None:
    """Revoke the clinic's keys as another API process would: in the database, not through this process."""
    await session.execute(
        update(ApiKey).where(col(ApiKey.clinic_id) == clinic.clinic_id).values(revoked_at=datetime.now(UTC))
    )


async def test_a_key_revoked_by_another_process_stops_working_within_the_cache_time(
    session: AsyncSession, clinic: ClinicCreated
) -> None:
    settings = Settings(key_cache_seconds=0.3)
    await authenticate(session, settings, clinic.secret_key)
    await _revoke_elsewhere(session, clinic)
    # Trusted from the cache for up to KEY_CACHE_SECONDS (the price of one round trip less per request) ...
    assert (await authenticate(session, settings, clinic.secret_key)).clinic_id == clinic.clinic_id
    await asyncio.sleep(0.4)
    # ... and refused after.
    with pytest.raises(Unauthorized):
        await authenticate(session, settings, clinic.secret_key)


async def test_without_the_cache_a_revocation_elsewhere_is_seen_at_once(
    session: AsyncSession, clinic: ClinicCreated
) -> None:
    settings = Settings(key_cache_seconds=0)
    await authenticate(session, settings, clinic.secret_key)
    await _revoke_elsewhere(session, clinic)
    with pytest.raises(Unauthorized):
        await authenticate(session, settings, clinic.secret_key)


async def test_unknown_keys_are_not_cached(session: AsyncSession, clinic: ClinicCreated) -> None:
    settings = Settings(key_cache_seconds=60)
    token, row = service._new_key(clinic.clinic_id, "secret")
    with pytest.raises(Unauthorized):
        await authenticate(session, settings, token)
    session.add(row)
    await session.flush()
    assert (await authenticate(session, settings, token)).clinic_id == clinic.clinic_id


async def test_a_key_cached_before_its_revocation_committed_is_forgotten_at_commit(
    session: AsyncSession, clinic: ClinicCreated
) -> None:
    settings = Settings(key_cache_seconds=60)
    key_hash = service.hash_key(clinic.secret_key)
    before = await ClinicRepository(session).find_active_key(key_hash)
    assert before is not None
    await service.revoke_key(session, clinic.clinic_id, before.id)
    # Another request, between the revocation and its commit, still reads the key as active and caches it.
    service._key_cache(settings.key_cache_seconds)[key_hash] = before
    await session.commit()
    with pytest.raises(Unauthorized):
        await authenticate(session, settings, clinic.secret_key)
