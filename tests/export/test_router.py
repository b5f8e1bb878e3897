"""/v1 export endpoints: the integration, the outbox, a referral's Bundle."""

import uuid

import httpx
from fhir.resources.R4B.bundle import Bundle
from sqlalchemy.ext.asyncio import AsyncSession

from services.clinics.schemas import ClinicCreated
from tests.factories import intake_body, login, make_clinic, make_user

INTEGRATION = {"base_url": "https://ehr.example/fhir/", "auth": {"type": "bearer", "token": "s3cret"}, "enabled": True}


async def test_integration_is_set_and_its_token_never_shown(client: httpx.AsyncClient, sk: dict[str, str]) -> None:
    assert (await client.get("/v1/integrations/fhir", headers=sk)).status_code == 404
    put = await client.put("/v1/integrations/fhir", json=INTEGRATION, headers=sk)
    assert put.status_code == 200
    shown = (await client.get("/v1/integrations/fhir", headers=sk)).json()
    assert shown["base_url"] == "https://ehr.example/fhir" and shown["mrn_system"] is None
    assert {k: v for k, v in shown["auth"].items() if v is not None} == {"type": "bearer", "token_set": True}
    assert "s3cret" not in put.text + str(shown)


async def test_smart_backend_integration_gets_keys_served_as_a_jwks(
    client: httpx.AsyncClient, sk: dict[str, str], clinic: ClinicCreated
) -> None:
    smart = {"type": "smart_backend", "token_url": "https://ehr.example/token", "client_id": "backstride",
             "scope": "system/ServiceRequest.write system/Patient.read"}  # fmt: skip
    body = {**INTEGRATION, "auth": smart, "mrn_system": "urn:oid:1.2.3.4"}
    shown = (await client.put("/v1/integrations/fhir", json=body, headers=sk)).json()
    assert shown["mrn_system"] == "urn:oid:1.2.3.4"
    assert shown["auth"]["algorithm"] == "RS384" and shown["auth"]["client_id"] == "backstride"
    jwks_url = shown["auth"]["jwks_url"]
    assert jwks_url == f"http://127.0.0.1:8000/v1/jwks/{clinic.clinic_id}.json"
    keys = (await client.get(jwks_url.removeprefix("http://127.0.0.1:8000"))).json()["keys"]  # no credentials
    assert sorted(k["alg"] for k in keys) == ["ES384", "RS384"]
    assert all("d" not in k for k in keys), "only public halves"
    # PUT again (another algorithm): the same keys, already registered with the EHR, are kept.
    again = {**body, "auth": {**smart, "algorithm": "ES384"}}
    assert (await client.put("/v1/integrations/fhir", json=again, headers=sk)).json()["auth"]["algorithm"] == "ES384"
    assert (await client.get(jwks_url.removeprefix("http://127.0.0.1:8000"))).json()["keys"] == keys
    assert (await client.get(f"/v1/jwks/{uuid.uuid4()}.json")).status_code == 404


async def test_bad_integrations_are_422(client: httpx.AsyncClient, sk: dict[str, str]) -> None:
    for body in (
        {**INTEGRATION, "base_url": "ftp://ehr.example"},
        {**INTEGRATION, "auth": {"type": "bearer"}},
        {**INTEGRATION, "auth": {"type": "none", "token": "x"}},
        {**INTEGRATION, "enabled": "yes"},
        {**INTEGRATION, "auth": {"type": "smart_backend", "token_url": "https://e.example/t", "client_id": "c"}},
        {**INTEGRATION, "auth": {"type": "bearer", "token": "x", "client_id": "c"}},
        {**INTEGRATION, "mrn_system": "not a uri"},
        {**INTEGRATION, "mrn_system": "urn:oid:1.2|3"},  # a search-special character
    ):
        assert (await client.put("/v1/integrations/fhir", json=body, headers=sk)).status_code == 422


async def test_outbox_is_written_with_the_referral_and_each_status_change(
    client: httpx.AsyncClient, sk: dict[str, str], session: AsyncSession, clinic: ClinicCreated
) -> None:
    await client.post("/v1/intakes", json=intake_body(), headers=sk)  # before the integration: not queued
    await client.put("/v1/integrations/fhir", json=INTEGRATION, headers=sk)
    referral = (await client.post("/v1/intakes", json=intake_body(), headers=sk)).json()["referral"]
    physio, password = await make_user(session, clinic.slug)
    await client.post(f"/v1/referrals/{referral['id']}/claim", headers=await login(client, physio.email, password))
    items = (await client.get("/v1/exports", headers=sk)).json()["items"]
    assert [(i["event"], i["status"], i["referral_id"]) for i in items] == [
        ("referral.created", "pending", referral["id"]),
        ("referral.status_changed", "pending", referral["id"]),
    ]
    assert (await client.get("/v1/exports?status=delivered", headers=sk)).json()["items"] == []


async def test_a_failed_intake_queues_nothing(client: httpx.AsyncClient, sk: dict[str, str]) -> None:
    await client.put("/v1/integrations/fhir", json=INTEGRATION, headers=sk)
    await client.post("/v1/intakes", json=intake_body(pain={"side": "nowhere"}), headers=sk)
    assert (await client.get("/v1/exports", headers=sk)).json()["items"] == []


async def test_retry_needs_a_dead_export_of_ones_own(
    client: httpx.AsyncClient, sk: dict[str, str], session: AsyncSession
) -> None:
    await client.put("/v1/integrations/fhir", json=INTEGRATION, headers=sk)
    await client.post("/v1/intakes", json=intake_body(), headers=sk)
    [item] = (await client.get("/v1/exports", headers=sk)).json()["items"]
    assert (await client.post(f"/v1/exports/{item['id']}/retry", headers=sk)).status_code == 409  # still pending
    assert (await client.post(f"/v1/exports/{uuid.uuid4()}/retry", headers=sk)).status_code == 404
    other = await make_clinic(session)
    theirs = {"Authorization": f"Bearer {other.secret_key}"}
    assert (await client.post(f"/v1/exports/{item['id']}/retry", headers=theirs)).status_code == 404
    assert (await client.get("/v1/exports", headers=theirs)).json()["items"] == []


async def test_referral_bundle_endpoint(client: httpx.AsyncClient, sk: dict[str, str], session: AsyncSession) -> None:
    referral = (await client.post("/v1/intakes", json=intake_body(), headers=sk)).json()["referral"]
    response = await client.get(f"/v1/referrals/{referral['id']}/fhir", headers=sk)
    assert response.status_code == 200 and response.headers["content-type"].startswith("application/fhir+json")
    Bundle.model_validate(response.json())
    other = await make_clinic(session)
    hidden = await client.get(
        f"/v1/referrals/{referral['id']}/fhir", headers={"Authorization": f"Bearer {other.secret_key}"}
    )
    assert hidden.status_code == 404


async def test_physios_cannot_administer_exports(
    client: httpx.AsyncClient, session: AsyncSession, clinic: ClinicCreated
) -> None:
    physio, password = await make_user(session, clinic.slug)
    headers = await login(client, physio.email, password)
    assert (await client.get("/v1/exports", headers=headers)).status_code == 403
    assert (await client.put("/v1/integrations/fhir", json=INTEGRATION, headers=headers)).status_code == 403
    pk = {"Authorization": f"Bearer {clinic.publishable_key}"}
    assert (await client.get("/v1/exports", headers=pk)).status_code == 403


async def test_production_destinations_must_be_public_https() -> None:
    import pytest

    from services.core.outbound import UnsafeDestination
    from services.export.service import check_destination

    # A public address is accepted, and so is a private one the deployment allows.
    await check_destination("https://8.8.8.8/fhir")
    await check_destination("https://10.0.0.5/fhir", allowed_networks="10.0.0.0/8")
    for url in ("http://8.8.8.8/fhir", "https://localhost/fhir", "https://127.0.0.1/fhir",
                "https://169.254.169.254/latest", "https://10.0.0.5/fhir", "https://ehr.internal/fhir",
                "https://ehr.example.org/fhir"):  # fmt: skip  # the last does not resolve here
        with pytest.raises(UnsafeDestination):
            await check_destination(url)
