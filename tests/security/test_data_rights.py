"""Attack 2: an intake sent with only the clinic's publishable key, carrying a victim's name,
birth date and MRN, gave a referral id whose export returned the victim's record and whose
erasure erased it."""

import httpx

from tests.factories import intake_body
from tests.security.conftest import Tenant, token


async def test_identifiers_typed_into_the_public_form_never_reach_the_victim(
    server: str, tenants: tuple[Tenant, Tenant]
) -> None:
    clinic, _ = tenants
    victim = {"given_name": "Vera", "family_name": "Victim", "birth_date": "1980-02-03", "sex": "female",
              "mrn": "MRN-VICTIM-1", "email": "vera.secret@example.org", "phone": "+44 20 7946 0999"}  # fmt: skip
    attacker = {**{k: victim[k] for k in ("given_name", "family_name", "birth_date", "sex", "mrn")}}
    admin = {"Authorization": f"Bearer {await token(server, clinic.admin, clinic.admin_password)}"}
    async with httpx.AsyncClient(base_url=server) as http:
        real = await http.post("/v1/intakes", json=intake_body(patient=victim, notes="private"), headers=clinic.sk)
        assert real.status_code == 201
        forged = await http.post(
            "/v1/intakes", json=intake_body(patient=attacker), headers={**clinic.pk, "Origin": "https://clinic.example"}
        )
        assert forged.status_code == 201
        referral_id = forged.json()["referral"]["id"]
        # The clinic admin is asked about the attacker's referral: only the attacker's intake is in reach.
        search = await http.post("/v1/patient-data/search", json={"referral_id": referral_id}, headers=admin)
        assert [c["intake_id"] for c in search.json()["items"]] == [forged.json()["id"]]
        exported = await http.post("/v1/patient-data/export", json={"referral_id": referral_id}, headers=admin)
        assert exported.status_code == 200
        for secret in ("vera.secret@example.org", "+44 20 7946 0999", "private", real.json()["id"]):
            assert secret not in exported.text
        # The MRN the form carried matches nobody: a search by MRN finds the EHR's intake only.
        by_mrn = await http.post("/v1/patient-data/search", json={"mrn": "MRN-VICTIM-1"}, headers=admin)
        assert [c["intake_id"] for c in by_mrn.json()["items"]] == [real.json()["id"]]
        erased = await http.post(
            "/v1/patient-data/erase", json={"referral_id": referral_id, "reason": "request 1"}, headers=admin
        )
        assert erased.json()["intakes_erased"] == 1
        kept = await http.get(f"/v1/intakes/{real.json()['id']}", headers=clinic.sk)
        assert kept.status_code == 200 and kept.json()["patient"]["email"] == "vera.secret@example.org"
