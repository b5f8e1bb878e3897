"""Attacks 7 and 9: a publishable key that could see and squat the EHR's idempotency keys, and
what the server gave away: public metrics, docs from a CDN, cacheable patient data, the Host
header echoed into /fhir/metadata, any text in the UI's message box."""

import httpx

from tests.factories import intake_body
from tests.security.conftest import METRICS_TOKEN, PUBLIC_BASE_URL, Tenant, token

FROM_THE_FORM = {"Origin": "https://clinic.example"}


async def test_a_publishable_key_cannot_observe_or_squat_the_ehrs_idempotency_keys(
    server: str, tenants: tuple[Tenant, Tenant]
) -> None:
    clinic, _ = tenants
    squatted, used = {"Idempotency-Key": "ehr-visit-42"}, {"Idempotency-Key": "ehr-visit-43"}
    body = intake_body(notes="from the EHR")
    async with httpx.AsyncClient(base_url=server) as http:
        # Squatting: the page takes a key first, with another body; the EHR's intake still goes in.
        squat = await http.post("/v1/intakes", json=intake_body(), headers={**clinic.pk, **FROM_THE_FORM, **squatted})
        assert squat.status_code == 201
        ehr = await http.post("/v1/intakes", json=body, headers={**clinic.sk, **squatted})
        assert ehr.status_code == 201 and ehr.json()["id"] != squat.json()["id"]
        # Observing: a key the EHR used tells the page nothing. The same body is not the EHR's replay,
        # another body is not a 422 saying the key was taken.
        first = await http.post("/v1/intakes", json=body, headers={**clinic.sk, **used})
        same = await http.post("/v1/intakes", json=body, headers={**clinic.pk, **FROM_THE_FORM, **used})
        assert same.status_code == 201 and same.json()["id"] != first.json()["id"]
        other = await http.post(
            "/v1/intakes", json=intake_body(), headers={**clinic.pk, **FROM_THE_FORM, "Idempotency-Key": "ehr-visit-44"}
        )
        assert other.status_code == 201
        # The EHR's own retry still replays its intake.
        again = await http.post("/v1/intakes", json=body, headers={**clinic.sk, **squatted})
        assert again.json()["id"] == ehr.json()["id"]


async def test_metrics_need_the_token_and_docs_are_off_in_production(server: str) -> None:
    async with httpx.AsyncClient(base_url=server) as http:
        assert (await http.get("/metrics")).status_code == 404
        assert (await http.get("/metrics", headers={"Authorization": "Bearer wrong"})).status_code == 404
        metrics = await http.get("/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"})
        assert metrics.status_code == 200 and "backstride" in metrics.text
        assert (await http.get("/docs")).status_code == 404
        assert (await http.get("/redoc")).status_code == 404


async def test_responses_with_patient_data_are_never_stored(server: str, tenants: tuple[Tenant, Tenant]) -> None:
    clinic, _ = tenants
    access = {"Authorization": f"Bearer {await token(server, clinic.physio, clinic.physio_password)}"}
    async with httpx.AsyncClient(base_url=server) as http:
        created = await http.post("/v1/intakes", json=intake_body(), headers=clinic.sk)
        referral_id = created.json()["referral"]["id"]
        for response in (
            created,
            await http.get(f"/v1/intakes/{created.json()['id']}", headers=clinic.sk),
            await http.get(f"/v1/referrals/{referral_id}", headers=access),
            await http.get(f"/fhir/ServiceRequest/{referral_id}", headers=clinic.sk),
            await http.get("/ui/login"),
        ):
            assert response.headers["cache-control"] == "no-store", response.url
        assert "no-store" not in (await http.get("/static/form.js")).headers.get("cache-control", "")


async def test_fhir_metadata_names_the_configured_address_not_the_host_header(server: str) -> None:
    async with httpx.AsyncClient(base_url=server) as http:
        statement = (await http.get("/fhir/metadata", headers={"Host": "evil.example"})).json()
    assert statement["implementation"]["url"] == f"{PUBLIC_BASE_URL}/fhir"


async def test_the_ui_message_box_shows_only_its_own_messages(server: str, tenants: tuple[Tenant, Tenant]) -> None:
    async with httpx.AsyncClient(base_url=server) as http:
        page = await http.get("/ui/login", params={"msg": "Your account is locked: call 555-0100"})
        assert "555-0100" not in page.text
        logged_out = await http.get("/ui/login", params={"msg": "logged-out"})
        assert "You are logged out." in logged_out.text
