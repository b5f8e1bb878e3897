"""Clinic admins manage their clinic's keys and allowed origins; nobody else can."""

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from services.clinics.schemas import ClinicCreated
from tests.factories import intake_body, login, make_clinic, make_user


async def admin_headers(client: httpx.AsyncClient, session: AsyncSession, slug: str) -> dict[str, str]:
    admin, password = await make_user(session, slug, "clinic_admin")
    return await login(client, admin.email, password)


async def test_list_create_and_revoke_keys(
    client: httpx.AsyncClient, session: AsyncSession, clinic: ClinicCreated
) -> None:
    admin = await admin_headers(client, session, clinic.slug)
    listed = (await client.get("/v1/clinic/keys", headers=admin)).json()["items"]
    assert {k["kind"] for k in listed} == {"secret", "publishable"}
    assert all("key" not in k and len(k["prefix"]) == 11 for k in listed)

    created = await client.post("/v1/clinic/keys", json={"kind": "secret"}, headers=admin)
    assert created.status_code == 201
    new_key = created.json()
    assert new_key["key"].startswith("sk_") and new_key["key"].startswith(new_key["prefix"])
    bearer = {"Authorization": f"Bearer {new_key['key']}"}
    assert (await client.post("/v1/intakes", json=intake_body(), headers=bearer)).status_code == 201
    assert all("key" not in k for k in (await client.get("/v1/clinic/keys", headers=admin)).json()["items"])

    assert (await client.delete(f"/v1/clinic/keys/{new_key['id']}", headers=admin)).status_code == 204
    assert (await client.post("/v1/intakes", json=intake_body(), headers=bearer)).status_code == 401
    again = await client.delete(f"/v1/clinic/keys/{new_key['id']}", headers=admin)
    assert again.status_code == 404
    revoked = [
        k for k in (await client.get("/v1/clinic/keys", headers=admin)).json()["items"] if k["id"] == new_key["id"]
    ]
    assert revoked[0]["revoked_at"] is not None


async def test_set_allowed_origins(client: httpx.AsyncClient, session: AsyncSession, clinic: ClinicCreated) -> None:
    admin = await admin_headers(client, session, clinic.slug)
    response = await client.put(
        "/v1/clinic/allowed-origins",
        json={"allowed_origins": ["https://New.example/", "https://new.example:443", "http://localhost:3000"]},
        headers=admin,
    )
    assert response.status_code == 200
    assert response.json()["allowed_origins"] == ["https://new.example", "http://localhost:3000"]
    pk = {"Authorization": f"Bearer {clinic.publishable_key}"}
    ok = await client.post("/v1/intakes", json=intake_body(), headers={**pk, "Origin": "https://new.example"})
    old = await client.post("/v1/intakes", json=intake_body(), headers={**pk, "Origin": "https://clinic.example"})
    assert (ok.status_code, old.status_code) == (201, 403)
    bad = await client.put(
        "/v1/clinic/allowed-origins", json={"allowed_origins": ["javascript:alert(1)"]}, headers=admin
    )
    assert bad.status_code == 422


async def test_only_clinic_admins_manage_keys(
    client: httpx.AsyncClient, session: AsyncSession, clinic: ClinicCreated, sk: dict[str, str]
) -> None:
    physio, password = await make_user(session, clinic.slug, "physio")
    physio_headers = await login(client, physio.email, password)
    pk = {"Authorization": f"Bearer {clinic.publishable_key}"}
    for headers in (physio_headers, sk, pk):
        assert (await client.get("/v1/clinic/keys", headers=headers)).status_code == 403
        assert (await client.post("/v1/clinic/keys", json={"kind": "secret"}, headers=headers)).status_code == 403
        assert (await client.get("/v1/clinic", headers=headers)).status_code == 403


async def test_admins_see_and_revoke_only_their_own_clinics_keys(
    client: httpx.AsyncClient, session: AsyncSession, clinic: ClinicCreated
) -> None:
    other = await make_clinic(session)
    theirs = await admin_headers(client, session, other.slug)
    mine = await admin_headers(client, session, clinic.slug)
    my_keys = (await client.get("/v1/clinic/keys", headers=mine)).json()["items"]
    their_keys = (await client.get("/v1/clinic/keys", headers=theirs)).json()["items"]
    assert not {k["id"] for k in my_keys} & {k["id"] for k in their_keys}
    assert (await client.delete(f"/v1/clinic/keys/{my_keys[0]['id']}", headers=theirs)).status_code == 404
    assert (await client.get("/v1/clinic", headers=theirs)).json()["slug"] == other.slug
    assert (
        await client.post("/v1/intakes", json=intake_body(), headers={"Authorization": f"Bearer {clinic.secret_key}"})
    ).status_code == 201
