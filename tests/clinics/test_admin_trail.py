"""Admin changes made through the API go on the clinic's admin trail too (the console's own are
checked in tests/web/test_admin_access.py): who, what, on what; never a key or a token."""

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from services.clinics import service
from services.clinics.schemas import ClinicCreated
from tests.factories import login, make_clinic, make_user


async def test_keys_origins_and_integration_changes_are_recorded_with_their_actor(
    client: httpx.AsyncClient, session: AsyncSession, clinic: ClinicCreated, sk: dict[str, str]
) -> None:
    admin, password = await make_user(session, clinic.slug, "clinic_admin")
    headers = await login(client, admin.email, password)
    created = (await client.post("/v1/clinic/keys", json={"kind": "secret"}, headers=headers)).json()
    assert (await client.delete(f"/v1/clinic/keys/{created['id']}", headers=headers)).status_code == 204
    origins = {"allowed_origins": ["https://www.clinic.example"]}
    assert (await client.put("/v1/clinic/allowed-origins", json=origins, headers=headers)).status_code == 200
    integration = {"base_url": "https://ehr.example/fhir", "auth": {"type": "bearer", "token": "tok-123"},
                   "enabled": True}  # fmt: skip
    assert (await client.put("/v1/integrations/fhir", json=integration, headers=sk)).status_code == 200
    trail = await service.admin_events(session, clinic.clinic_id)
    said = [(e.actor, e.action, e.target) for e in reversed(trail)]
    assert said == [
        (admin.email, "key.created", f"secret key {created['prefix']}"),
        (admin.email, "key.revoked", f"secret key {created['prefix']}"),
        (admin.email, "origins.changed", "https://www.clinic.example"),
        (clinic.secret_key[:11], "integration.changed", "https://ehr.example/fhir (bearer, enabled)"),
    ]
    assert not any(created["key"] in t or "tok-123" in t for _, _, t in said)
    other = await make_clinic(session)
    assert await service.admin_events(session, other.clinic_id) == []
