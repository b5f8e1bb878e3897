"""Data rights over HTTP: a clinic admin searches for a patient's intakes, chooses them, and exports
or erases them."""

import uuid
from typing import Any

import httpx
import pytest
from fhir.resources.R4B.bundle import Bundle
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from services.clinics.schemas import ClinicCreated
from services.export.models import ExportItem
from services.intake.models import Intake
from tests.factories import intake_body, login, make_clinic, make_user, references, ui_login
from tests.privacy.conftest import Staff, marker, patient, raw_rows, submit

SEARCH = "/v1/patient-data/search"
EXPORT = "/v1/patient-data/export"
ERASE = "/v1/patient-data/erase"
FHIR = "application/fhir+json"
EMERGENCY = {"neuro": {"saddle_numbness": True}}
FOCUSED = {"running": {"strength_sessions_per_week": 0, "shoe_km": 900}}  # core and footwear focus areas


def name_of(person: dict[str, Any]) -> dict[str, str]:
    return {k: person[k] for k in ("given_name", "family_name", "birth_date")}


async def candidates(client: httpx.AsyncClient, staff: Staff, match: dict[str, Any]) -> list[str]:
    """Step one: the intake ids a search lists (all of them chosen, as an admin would after checking)."""
    response = await client.post(SEARCH, json=match, headers=staff.admin_headers)
    assert response.status_code == 200, response.text
    return [c["intake_id"] for c in response.json()["items"]]


async def chosen(client: httpx.AsyncClient, staff: Staff, match: dict[str, Any]) -> dict[str, list[str]]:
    return {"intake_ids": await candidates(client, staff, match)}


async def work_on(client: httpx.AsyncClient, staff: Staff, referral_id: str, note: str) -> None:
    """A physio claims the referral, accepts it with a note, and adds another note."""
    claimed = await client.post(f"/v1/referrals/{referral_id}/claim", headers=staff.physio_headers)
    assert claimed.status_code == 200, claimed.text
    moved = await client.post(
        f"/v1/referrals/{referral_id}/transitions",
        json={"to": "accepted", "note": f"{note} accepted"},
        headers={**staff.physio_headers, "If-Match": claimed.headers["ETag"]},
    )
    assert moved.status_code == 200, moved.text
    noted = await client.post(f"/v1/referrals/{referral_id}/notes", json={"text": note}, headers=staff.physio_headers)
    assert noted.status_code == 201, noted.text


async def test_json_export_holds_every_record_with_its_trail_and_exports(
    client: httpx.AsyncClient, clinic: ClinicCreated, staff: Staff
) -> None:
    mrn = marker()
    first = await submit(client, clinic.secret_key, patient(mrn=mrn), notes="first visit")
    second = await submit(client, clinic.secret_key, patient(mrn=mrn, email="Run.Ner@Example.org"), **EMERGENCY)
    someone_else = await submit(client, clinic.secret_key, patient())
    note = marker()
    await work_on(client, staff, first["referral"]["id"], note)

    response = await client.post(EXPORT, json=await chosen(client, staff, {"mrn": mrn}), headers=staff.admin_headers)

    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    exported = response.json()
    assert [r["intake"]["id"] for r in exported["records"]] == [first["id"], second["id"]]
    assert exported["patient"]["email"] == "Run.Ner@example.org"  # the latest intake's details
    assert someone_else["id"] not in response.text
    record = exported["records"][0]
    assert record["intake"]["notes"] == "first visit" and record["intake"]["pain"]["side"] == "central"
    assert record["referral"]["id"] == first["referral"]["id"] and record["referral"]["triage"]["reasons"]
    actions = [e["action"] for e in record["events"]]
    assert actions == ["created", "claimed", "transitioned", "noted", "exported"]
    assert [e["note"] for e in record["events"] if e["note"]] == [f"{note} accepted", note]
    # With an integration, every change was queued for the clinic's FHIR server.
    assert [x["event"] for x in record["exports"]] == ["referral.created"] + ["referral.status_changed"] * 2
    assert exported["records"][1]["referral"]["urgency"] == "emergency"

    trail = await client.get(f"/v1/referrals/{second['referral']['id']}/events", headers=staff.admin_headers)
    exported_events = [e for e in trail.json()["items"] if e["action"] == "exported"]
    assert len(exported_events) == 1 and exported_events[0]["actor"] == staff.admin.email


@pytest.mark.parametrize("way", ["email", "name"])
async def test_a_search_lists_the_candidates_whatever_their_case(
    client: httpx.AsyncClient, clinic: ClinicCreated, staff: Staff, way: str
) -> None:
    person = patient(email=f"{marker()}@Example.org")
    first = await submit(client, clinic.secret_key, person)
    again = {**person, "given_name": person["given_name"].upper(), "family_name": person["family_name"].lower()}
    second = await submit(client, clinic.publishable_key, again)
    await submit(client, clinic.secret_key, {**person, "birth_date": "1991-03-04", "email": "other@example.org"})
    match = {
        "email": {"email": person["email"].swapcase()},
        "name": {**name_of(person), "given_name": person["given_name"].swapcase()},
    }[way]
    response = await client.post(SEARCH, json=match, headers=staff.admin_headers)
    assert response.status_code == 200, response.text
    items = response.json()["items"]
    assert [c["intake_id"] for c in items] == [first["id"], second["id"]]
    # How each came, so a person can weigh a match on what anyone could type into the form.
    assert [c["submitted_via"] for c in items] == ["secret", "publishable"]
    assert {tuple(c["matched"]) for c in items} == {("email",) if way == "email" else ("name_and_birth_date",)}
    assert items[0]["referral_id"] == first["referral"]["id"] and items[0]["given_name"] == person["given_name"]
    # The search reads no referral's data: nothing goes on an audit trail.
    trail = await client.get(f"/v1/referrals/{first['referral']['id']}/events", headers=staff.admin_headers)
    assert "exported" not in [e["action"] for e in trail.json()["items"]]


async def test_a_referral_id_is_its_own_intake_only(
    client: httpx.AsyncClient, clinic: ClinicCreated, staff: Staff
) -> None:
    person = patient(mrn=marker())
    first = await submit(client, clinic.secret_key, person)
    await submit(client, clinic.secret_key, person)  # the same person again: not reached from the first
    assert await candidates(client, staff, {"referral_id": first["referral"]["id"]}) == [first["id"]]
    response = await client.post(EXPORT, json={"referral_id": first["referral"]["id"]}, headers=staff.admin_headers)
    assert [r["intake"]["id"] for r in response.json()["records"]] == [first["id"]]


async def test_fhir_export_is_a_valid_collection_with_one_patient(
    client: httpx.AsyncClient, clinic: ClinicCreated, staff: Staff
) -> None:
    person = patient(email=f"{marker()}@example.org")  # no MRN: each intake made a Patient of its own
    first = await submit(client, clinic.secret_key, person, **EMERGENCY)
    second = await submit(client, clinic.secret_key, {**person, "phone": "+44 20 7946 0000"})

    picked = await chosen(client, staff, {"email": person["email"]})
    response = await client.post(f"{EXPORT}?format=fhir", json=picked, headers=staff.admin_headers)

    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith(FHIR)
    bundle = response.json()
    Bundle.model_validate(bundle)
    assert bundle["type"] == "collection"
    kinds = [e["resource"]["resourceType"] for e in bundle["entry"]]
    assert kinds.count("Patient") == 1 and kinds.count("ServiceRequest") == 2
    assert kinds.count("Flag") >= 1  # the emergency's red flag
    assert all("request" not in e for e in bundle["entry"])
    urls = [e["fullUrl"] for e in bundle["entry"]]
    assert len(urls) == len(set(urls))
    for entry in bundle["entry"]:  # "#triage": the contained Device that proposed the referral
        assert {r for r in references(entry["resource"]) if not r.startswith("#")} <= set(urls)
    [person_entry] = [e for e in bundle["entry"] if e["resource"]["resourceType"] == "Patient"]
    values = {i["value"] for i in person_entry["resource"]["identifier"]}
    assert values == {first["id"], second["id"]}  # both intakes' Patient identifiers, one person
    assert {"system": "phone", "value": "+44 20 7946 0000"} in person_entry["resource"]["telecom"]  # the latest
    trail = await client.get(f"/v1/referrals/{first['referral']['id']}/events", headers=staff.admin_headers)
    assert trail.json()["items"][-1]["action"] == "exported"


async def test_another_clinics_patient_is_never_matched_nor_erased(
    client: httpx.AsyncClient, session: AsyncSession, clinic: ClinicCreated, staff: Staff
) -> None:
    other = await make_clinic(session)
    person = patient(mrn="MRN-1", email=f"{marker()}@example.org")
    mine = await submit(client, clinic.secret_key, person)
    theirs = await submit(client, other.secret_key, person)
    for body in ({"mrn": "MRN-1"}, {"email": person["email"]}, name_of(person)):
        assert await candidates(client, staff, body) == [mine["id"]]
    for path, body in ((SEARCH, {}), (EXPORT, {}), (ERASE, {"reason": "r"})):
        not_found = await client.post(
            path, json={"referral_id": theirs["referral"]["id"], **body}, headers=staff.admin_headers
        )
        assert not_found.status_code == 404 and theirs["id"] not in not_found.text
    theirs_by_id = await client.post(EXPORT, json={"intake_ids": [theirs["id"]]}, headers=staff.admin_headers)
    assert theirs_by_id.status_code == 404 and theirs["id"] not in theirs_by_id.text

    both = {"intake_ids": [mine["id"], theirs["id"]], "reason": "request 7"}
    erased = await client.post(ERASE, json=both, headers=staff.admin_headers)
    assert erased.json()["erased_referral_ids"] == [mine["referral"]["id"]]
    assert erased.json()["not_found_intake_ids"] == [theirs["id"]]
    kept = await client.get(f"/v1/intakes/{theirs['id']}", headers={"Authorization": f"Bearer {other.secret_key}"})
    assert kept.status_code == 200 and kept.json()["patient"]["given_name"] == person["given_name"]


@pytest.mark.parametrize("path", [SEARCH, EXPORT, ERASE])
async def test_only_clinic_admins(
    client: httpx.AsyncClient, session: AsyncSession, clinic: ClinicCreated, staff: Staff, path: str
) -> None:
    created = await submit(client, clinic.secret_key, patient())
    body = {"referral_id": created["referral"]["id"], **({"reason": "request 1"} if path == ERASE else {})}
    physio = await client.post(path, json=body, headers=staff.physio_headers)
    assert physio.status_code == 403 and physio.headers["content-type"] == "application/problem+json"
    key = await client.post(path, json=body, headers={"Authorization": f"Bearer {clinic.secret_key}"})
    assert key.status_code == 403
    assert (await client.post(path, json=body)).status_code == 401
    other = await make_clinic(session)
    other_admin, password = await make_user(session, other.slug, "clinic_admin")
    elsewhere = await client.post(path, json=body, headers=await login(client, other_admin.email, password))
    assert elsewhere.status_code == 404
    intake = await client.get(f"/v1/intakes/{created['id']}", headers={"Authorization": f"Bearer {clinic.secret_key}"})
    assert intake.status_code == 200  # nothing was erased by any of them


async def test_erasure_removes_the_patient_everywhere_and_keeps_statistics(
    client: httpx.AsyncClient, session: AsyncSession, clinic: ClinicCreated, staff: Staff
) -> None:
    email = f"{marker()}@example.org".lower()
    person = patient(mrn=marker(), email=email, phone="+44 20 7946 0001")
    injury, notes, note = marker(), marker(), marker()
    first = await submit(
        client, clinic.secret_key, person, notes=notes, **FOCUSED,
        history={"previous_back_injury": True, "previous_injury_notes": injury},
    )  # fmt: skip
    second = await submit(client, clinic.secret_key, person, **EMERGENCY)
    await work_on(client, staff, first["referral"]["id"], note)
    bystander = patient()
    other = await submit(client, clinic.secret_key, bystander)
    secrets = [person["given_name"], person["family_name"], person["mrn"], email, injury, notes, note]
    before = await raw_rows(session)
    assert all(s in before for s in secrets)
    # One export already went out; it stays delivered (the clinic's server holds that copy).
    await session.execute(
        update(ExportItem)
        .where(col(ExportItem.referral_id) == uuid.UUID(first["referral"]["id"]))
        .where(col(ExportItem.event) == "referral.created")
        .values(status="delivered")
    )

    picked = await chosen(client, staff, {"email": email})
    response = await client.post(ERASE, json={**picked, "reason": "GDPR request 42"}, headers=staff.admin_headers)

    assert response.status_code == 200, response.text
    result = response.json()
    referral_ids = [first["referral"]["id"], second["referral"]["id"]]
    assert sorted(result["erased_referral_ids"]) == sorted(referral_ids)
    assert result["already_erased_referral_ids"] == [] and result["not_found_intake_ids"] == []
    assert result["intakes_erased"] == 2 and result["notes_removed"] == 2
    assert result["exports_stopped"] == 3  # second's created; first's claim and acceptance
    after = await raw_rows(session)
    assert not [s for s in secrets if s in after], "the patient's details are still stored"
    assert bystander["given_name"] in after  # other patients untouched

    first_now = (await client.get(f"/v1/referrals/{first['referral']['id']}", headers=staff.admin_headers)).json()
    assert first_now["erased_at"] == result["erased_at"] and first_now["intake"] is None
    assert first_now["status"] == "closed" and first_now["urgency"] == first["referral"]["urgency"]
    assert first_now["focus_areas"] == [f["code"] for f in first["referral"]["triage"]["focus_areas"]]
    assert set(first_now["focus_areas"]) >= {"core_stability", "footwear_and_surface"}
    assert first_now["triage"] == {
        "erased": True,
        "ruleset_version": first["referral"]["triage"]["ruleset_version"],
        "urgency": first["referral"]["urgency"],
        "rules": [r["rule"] for r in first["referral"]["triage"]["reasons"]],
    }
    second_now = (await client.get(f"/v1/referrals/{second['referral']['id']}", headers=staff.admin_headers)).json()
    assert second_now["urgency"] == "emergency" and "RF-SADDLE-NUMBNESS" in second_now["triage"]["rules"]

    trail = (await client.get(f"/v1/referrals/{first['referral']['id']}/events", headers=staff.admin_headers)).json()
    assert [e["note"] for e in trail["items"] if e["note"]] == ["GDPR request 42"]
    erased = trail["items"][-2]  # then the read above
    assert erased["action"] == "erased" and erased["actor"] == staff.admin.email
    assert (erased["from_status"], erased["to_status"]) == ("accepted", "closed")

    exports = (await client.get("/v1/exports", headers=staff.admin_headers)).json()["items"]
    mine = [x for x in exports if x["referral_id"] in referral_ids]
    assert sorted(x["status"] for x in mine) == ["dead", "dead", "dead", "delivered"]
    assert {x["last_error"] for x in mine if x["status"] == "dead"} == {"erased"}
    theirs = [x for x in exports if x["referral_id"] == other["referral"]["id"]]
    assert [x["status"] for x in theirs] == ["pending"]

    sk = {"Authorization": f"Bearer {clinic.secret_key}"}
    assert (await client.get(f"/v1/intakes/{first['id']}", headers=sk)).status_code == 410
    assert (await client.get(f"/v1/referrals/{first['referral']['id']}/fhir", headers=sk)).status_code == 410
    gone = await client.get(f"/fhir/ServiceRequest/{first['referral']['id']}", headers=sk)
    assert gone.status_code == 410 and gone.json()["issue"][0]["code"] == "deleted"
    search = (await client.get("/fhir/ServiceRequest", headers=sk)).json()
    assert {e["resource"]["id"] for e in search["entry"]} == {other["referral"]["id"]}
    late_note = await client.post(
        f"/v1/referrals/{first['referral']['id']}/notes", json={"text": "again"}, headers=staff.physio_headers
    )
    assert late_note.status_code == 410
    assert (await client.get(f"/v1/intakes/{other['id']}", headers=sk)).status_code == 200


async def test_erasing_again_is_harmless(client: httpx.AsyncClient, clinic: ClinicCreated, staff: Staff) -> None:
    person = patient()
    created = await submit(client, clinic.secret_key, person)
    referral_id = created["referral"]["id"]
    first = await client.post(ERASE, json={"referral_id": referral_id, "reason": "r1"}, headers=staff.admin_headers)
    assert first.json()["erased_referral_ids"] == [referral_id]

    again = await client.post(ERASE, json={"referral_id": referral_id, "reason": "r2"}, headers=staff.admin_headers)
    assert again.status_code == 200
    assert again.json()["erased_referral_ids"] == [] and again.json()["already_erased_referral_ids"] == [referral_id]
    assert again.json()["intakes_erased"] == 0
    assert await candidates(client, staff, name_of(person)) == []  # nothing identifying is left to match
    by_id = await client.post(ERASE, json={"intake_ids": [created["id"]], "reason": "r3"}, headers=staff.admin_headers)
    assert by_id.status_code == 404
    trail = (await client.get(f"/v1/referrals/{referral_id}/events", headers=staff.admin_headers)).json()
    assert [e["action"] for e in trail["items"]].count("erased") == 1
    exported = await client.post(EXPORT, json={"referral_id": referral_id}, headers=staff.admin_headers)
    assert exported.status_code == 410 and exported.json()["type"] == "/problems/patient-data-erased"


@pytest.mark.parametrize(
    "body", [{"mrn": "nobody"}, {"email": "nobody@example.org"},
             {"given_name": "No", "family_name": "Body", "birth_date": "1990-01-01"}],
)  # fmt: skip
async def test_a_search_that_finds_nobody_lists_nothing(
    client: httpx.AsyncClient, staff: Staff, body: dict[str, str]
) -> None:
    assert await candidates(client, staff, body) == []


@pytest.mark.parametrize("body", [{"referral_id": str(uuid.uuid4())}, {"intake_ids": [str(uuid.uuid4())]}])
async def test_unknown_records_are_404(client: httpx.AsyncClient, staff: Staff, body: dict[str, Any]) -> None:
    paths = [EXPORT, ERASE] + ([SEARCH] if "referral_id" in body else [])
    for path in paths:
        response = await client.post(
            path, json={**body, "reason": "r"} if path == ERASE else body, headers=staff.admin_headers
        )
        assert response.status_code == 404, response.text
        assert response.json()["type"] == "/problems/patient-not-found"


BAD_MATCHES: list[dict[str, Any]] = [
    {},
    {"mrn": "A", "email": "a@example.org"},
    {"given_name": "Sam", "family_name": "Runner"},
    {"mrn": "A", "given_name": "Sam"},
    {"mrn": None},
    {"referral_id": None, "mrn": "A"},
    {"mrn": "A", "ssn": "123"},
    {"mrn": ""},
    {"email": "not an email"},
    {"referral_id": "not-a-uuid"},
    {"given_name": "Sam", "family_name": "Runner", "birth_date": "14/05/1992"},
    {"given_name": "Sam", "family_name": "Runner", "birth_date": "1992-05-14T00:00:00"},
]


@pytest.mark.parametrize("body", BAD_MATCHES, ids=[str(b) for b in BAD_MATCHES])
async def test_bad_search_bodies_are_422(client: httpx.AsyncClient, staff: Staff, body: dict[str, Any]) -> None:
    response = await client.post(SEARCH, json=body, headers=staff.admin_headers)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"


BAD_CHOICES: list[dict[str, Any]] = [
    {},
    {"intake_ids": []},
    {"intake_ids": ["not-a-uuid"]},
    {"intake_ids": [str(uuid.UUID(int=1))] * 2},
    {"intake_ids": [str(uuid.UUID(int=n)) for n in range(101)]},
    {"intake_ids": [str(uuid.UUID(int=1))], "referral_id": str(uuid.UUID(int=2))},
    {"intake_ids": None},
    {"mrn": "A"},  # naming a patient is the search's job
    {"email": "a@example.org"},
]


@pytest.mark.parametrize("body", BAD_CHOICES, ids=[str(b)[:60] for b in BAD_CHOICES])
async def test_bad_export_and_erasure_bodies_are_422(
    client: httpx.AsyncClient, staff: Staff, body: dict[str, Any]
) -> None:
    for path, sent in ((EXPORT, body), (ERASE, {**body, "reason": "r"})):
        response = await client.post(path, json=sent, headers=staff.admin_headers)
        assert response.status_code == 422, (path, response.text)
        assert response.headers["content-type"] == "application/problem+json"


@pytest.mark.parametrize("reason", [None, "", "   ", "x" * 201])
async def test_erasure_needs_a_short_reason(
    client: httpx.AsyncClient, clinic: ClinicCreated, staff: Staff, reason: str | None
) -> None:
    created = await submit(client, clinic.secret_key, patient())
    body: dict[str, Any] = {"referral_id": created["referral"]["id"]}
    if reason is not None:
        body["reason"] = reason
    assert (await client.post(ERASE, json=body, headers=staff.admin_headers)).status_code == 422
    kept = await client.get(f"/v1/intakes/{created['id']}", headers={"Authorization": f"Bearer {clinic.secret_key}"})
    assert kept.status_code == 200


async def test_unknown_format_is_422(client: httpx.AsyncClient, clinic: ClinicCreated, staff: Staff) -> None:
    created = await submit(client, clinic.secret_key, patient())
    body = {"referral_id": created["referral"]["id"]}
    assert (await client.post(f"{EXPORT}?format=xml", json=body, headers=staff.admin_headers)).status_code == 422


async def test_identifiers_stay_out_of_urls_and_logs(
    client: httpx.AsyncClient, clinic: ClinicCreated, staff: Staff, caplog: pytest.LogCaptureFixture
) -> None:
    person = patient(email=f"{marker()}@example.org")
    await submit(client, clinic.secret_key, person)
    caplog.set_level("DEBUG")
    picked = await chosen(client, staff, {"email": person["email"]})
    await client.post(EXPORT, json=picked, headers=staff.admin_headers)
    await client.post(ERASE, json={**picked, "reason": "r"}, headers=staff.admin_headers)
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert person["email"] not in logged and person["given_name"] not in logged
    assert "patient data erased: 1 referrals" in logged


async def test_an_erased_intake_keeps_a_marker_only_and_forgets_its_idempotency_key(
    client: httpx.AsyncClient, session: AsyncSession, clinic: ClinicCreated, staff: Staff
) -> None:
    body = intake_body(patient=patient())
    headers = {"Authorization": f"Bearer {clinic.secret_key}", "Idempotency-Key": "retry-me"}
    created = (await client.post("/v1/intakes", json=body, headers=headers)).json()
    erase = {"referral_id": created["referral"]["id"], "reason": "r"}
    assert (await client.post(ERASE, json=erase, headers=staff.admin_headers)).status_code == 200
    statement = select(Intake).where(col(Intake.id) == uuid.UUID(created["id"]))
    row = (await session.execute(statement.execution_options(populate_existing=True))).scalar_one()
    assert row.answers == {"erased": True} and row.erased_at is not None
    assert row.idempotency_key is None and row.request_hash is None
    # The key now makes a new intake: the erased one is not there to be replayed.
    again = await client.post("/v1/intakes", json=body, headers=headers)
    assert again.status_code == 201 and again.json()["id"] != created["id"]


async def test_the_physio_ui_shows_an_erased_referral_without_patient_data(
    client: httpx.AsyncClient, session: AsyncSession, clinic: ClinicCreated, staff: Staff
) -> None:
    person = patient()
    created = await submit(client, clinic.secret_key, person)
    erase = {"referral_id": created["referral"]["id"], "reason": "request 9"}
    assert (await client.post(ERASE, json=erase, headers=staff.admin_headers)).status_code == 200
    physio, password = await make_user(session, clinic.slug)
    await ui_login(client, physio.email, password)
    page = await client.get(f"/ui/referrals/{created['referral']['id']}")
    assert page.status_code == 410
    assert "was erased" in page.text and "request 9" in page.text
    assert person["given_name"] not in page.text
