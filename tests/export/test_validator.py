"""Every FHIR resource Backstride serves or sends passes Medplum's FHIR validator (5 and 4, from npm).

fhir.resources (used throughout) checks types and cardinality; a real server checks more (required
elements, primitive formats, invariants) and refuses a resource it finds an error in. A Bundle
refused that way is an export that goes dead in the outbox, and a refused read is an EHR that
cannot use the answer: so what each endpoint gives is checked here by third-party code.
"""

import json
from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from services.clinics.schemas import ClinicCreated
from services.export.fhir import transaction
from services.export.fhir.identifiers import QUESTIONNAIRE_URL, QUESTIONNAIRE_VERSION
from services.export.fhir.mapping import service_request
from tests.export.test_mapping import CASES, EHR, make
from tests.factories import intake_body, login, make_user, questionnaire_response, v1_body
from tests.medplum import validate

FHIR = "application/fhir+json"
RED_FLAGS = [  # intakes with red flags (so Flags are served too), and a benign one
    intake_body(),
    intake_body(neuro={"saddle_numbness": True}, history={"fever": True}),
    intake_body(neuro={"walking_difficulty": True}, pain={"side": "left"}),
    *[body for name, body in CASES if "saddle" in name or "V2P-03" in name or "V2P-18" in name],
    CASES[-1][1],  # "everything at once": MRN, email, phone, several flags
]


def assert_valid(resources: list[dict[str, Any]]) -> None:
    """One Node run for all of them (each run costs seconds); failures named by resource."""
    assert resources, "nothing to validate"
    failures = validate(resources)
    named = [{**f, "resource": f"{resources[f['index']]['resourceType']}/{resources[f['index']].get('id')}"}
             for f in failures]  # fmt: skip
    assert failures == [], json.dumps(named, indent=1)


def with_entries(bundle: dict[str, Any]) -> list[dict[str, Any]]:
    """The Bundle, and each entry's resource on its own (a server stores them one by one)."""
    return [bundle, *(entry["resource"] for entry in bundle.get("entry", []))]


EHR_SOURCE = {"subject": {"reference": "Patient/ehr-42"}, "author": {"reference": "Practitioner/9"},
              "authored": "2026-11-21T08:00:00+01:00", "identifier": {"system": EHR, "value": "qr-1"}}  # fmt: skip
IDENTIFIED = [  # the patient known by identifiers only, some of which cannot be searched for as written
    make(intake_body(patient={"mrn": "77|A,b$c\\d"}), mrn_system=EHR),
    make(intake_body(patient={"identifiers": [{"system": EHR, "value": "B1"}]}), via="fhir"),
    make(intake_body(), via="fhir", source={"subject": {"identifier": {"system": EHR, "value": "P,9"}}}),
]


def test_every_vignettes_transaction_bundle_and_each_of_its_resources_are_valid() -> None:
    made = [*IDENTIFIED]
    for _, body in CASES:
        made += [
            make(body),
            make(body, mrn_system=EHR),
            make(body, "declined", declined=True),  # the ServiceRequest is revoked
            make(body, "closed"),  # completed
            make(body, via="fhir", source=EHR_SOURCE),  # the EHR's own Patient referred to
        ]
    # The ServiceRequest on its own too, as GET /fhir/ServiceRequest/{id} serves it.
    assert_valid(
        [r for bundle, _, referral in made for r in [*with_entries(bundle), service_request(bundle, referral)]]
    )


def test_the_parts_a_bundle_is_sent_in_are_valid_transactions() -> None:
    # A server that limits conditional transactions gets the Bundle in parts, later parts
    # referring to what earlier ones created by the location the server gave ("Patient/1").
    resources: list[dict[str, Any]] = []
    for body in RED_FLAGS:
        bundle, _, _ = make(body, mrn_system=EHR)
        located: dict[str, str] = {}
        for part in transaction.split(bundle, 3):
            resources.append(transaction.relink(part, located))
            located |= {e["fullUrl"]: f"{e['resource']['resourceType']}/{len(located) + n}"
                        for n, e in enumerate(part["entry"])}  # fmt: skip
    assert_valid(resources)


def ok(response: httpx.Response, status: int = 200) -> dict[str, Any]:
    """The FHIR JSON body of an answer that must have `status`."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(FHIR), response.headers
    body: dict[str, Any] = response.json()
    return body


async def submit(client: httpx.AsyncClient, sk: dict[str, str], bodies: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Intakes made over /v1 as a clinic's system makes them; each with its referral."""
    created = []
    for body in bodies:
        response = await client.post("/v1/intakes", json=body, headers=sk)
        assert response.status_code == 201, response.text
        created.append(response.json())
    return created


async def admin_headers(client: httpx.AsyncClient, session: AsyncSession, clinic: ClinicCreated) -> dict[str, str]:
    user, password = await make_user(session, clinic.slug, "clinic_admin")
    return await login(client, user.email, password)


async def decline(client: httpx.AsyncClient, referral_id: str, headers: dict[str, str]) -> None:
    for to in ("in_review", "declined"):
        etag = (await client.get(f"/v1/referrals/{referral_id}", headers=headers)).headers["etag"]
        moved = await client.post(f"/v1/referrals/{referral_id}/transitions", json={"to": to},
                                  headers={**headers, "If-Match": etag})  # fmt: skip
        assert moved.status_code == 200, moved.text


async def test_referral_bundles_served_under_v1_are_valid(client: httpx.AsyncClient, sk: dict[str, str]) -> None:
    resources: list[dict[str, Any]] = []
    for intake in await submit(client, sk, RED_FLAGS):
        resources += with_entries(ok(await client.get(f"/v1/referrals/{intake['referral']['id']}/fhir", headers=sk)))
    assert any(r["resourceType"] == "Flag" for r in resources)
    assert_valid(resources)


async def test_service_requests_read_and_searched_are_valid(
    client: httpx.AsyncClient, sk: dict[str, str], session: AsyncSession, clinic: ClinicCreated
) -> None:
    made = await submit(client, sk, RED_FLAGS)
    await decline(client, made[0]["referral"]["id"], await admin_headers(client, session, clinic))
    reads = [ok(await client.get(f"/fhir/ServiceRequest/{i['referral']['id']}", headers=sk)) for i in made]
    assert {r["status"] for r in reads} == {"active", "revoked"}
    searches = [
        ok(await client.get("/fhir/ServiceRequest", headers=sk)),
        ok(await client.get("/fhir/ServiceRequest?status=active&_count=2", headers=sk)),  # with a next link
        ok(await client.get("/fhir/ServiceRequest?status=completed", headers=sk)),  # none found
    ]
    assert_valid(reads + [r for s in searches for r in with_entries(s)])


async def test_questionnaire_responses_created_and_read_are_valid(
    client: httpx.AsyncClient, sk: dict[str, str]
) -> None:
    ehr = {"subject": {"reference": "Patient/ehr-42", "display": "Sam Runner"},
           "author": {"reference": "Practitioner/9"}, "authored": "2026-11-20T08:15:00+01:00",
           "identifier": {"system": EHR, "value": "qr-7"}}  # fmt: skip
    by_identifier = {"subject": {"identifier": {"system": EHR, "value": "P-9"}}}
    sent = [questionnaire_response(body) for body in RED_FLAGS] + [
        questionnaire_response(v1_body(neuro={"saddle_numbness": True}), "1.0.0"),  # the older form
        {**questionnaire_response(RED_FLAGS[1]), **by_identifier},
        {**questionnaire_response(RED_FLAGS[1]), **ehr},  # sent last: sent again below
    ]
    served: list[dict[str, Any]] = []
    for resource in sent:
        created = ok(await client.post("/fhir/QuestionnaireResponse", json=resource, headers=sk), 201)
        served += [created, ok(await client.get(f"/fhir/QuestionnaireResponse/{created['id']}", headers=sk))]
        served.append(ok(await client.get(f"/fhir/QuestionnaireResponse/{created['id']}/_history/1", headers=sk)))
    again = await client.post("/fhir/QuestionnaireResponse", json=sent[-1], headers=sk)  # found: 200, as made
    served.append(ok(again))
    for intake in await submit(client, sk, RED_FLAGS[:2]):  # an intake made over /v1 reads as a response too
        served.append(ok(await client.get(f"/fhir/QuestionnaireResponse/{intake['id']}", headers=sk)))
    assert_valid(served)


async def test_the_questionnaire_read_and_searched_is_valid(client: httpx.AsyncClient) -> None:
    read = ok(await client.get("/fhir/Questionnaire/backstride-intake"))
    searches = [
        ok(await client.get("/fhir/Questionnaire", params={"url": QUESTIONNAIRE_URL})),
        ok(await client.get("/fhir/Questionnaire", params={"url": f"{QUESTIONNAIRE_URL}|{QUESTIONNAIRE_VERSION}"})),
        ok(await client.get("/fhir/Questionnaire", params={"url": "http://other.example/Questionnaire/x"})),
    ]
    assert searches[0]["total"] == 1 and searches[-1]["total"] == 0
    assert_valid([read, *(r for s in searches for r in with_entries(s))])


async def test_the_capability_statement_is_valid(client: httpx.AsyncClient) -> None:
    assert_valid([ok(await client.get("/fhir/metadata"))])


async def test_the_patient_data_export_collection_is_valid(
    client: httpx.AsyncClient, sk: dict[str, str], session: AsyncSession, clinic: ClinicCreated
) -> None:
    person = {"given_name": "Alex", "family_name": "Strider", "birth_date": "1990-03-04", "sex": "female"}
    made = await submit(client, sk, [{**body, "patient": {**body["patient"], **person}} for body in RED_FLAGS])
    admin = await admin_headers(client, session, clinic)
    exports = [
        ok(await client.post("/v1/patient-data/export?format=fhir", headers=admin, json=records))
        for records in ({"intake_ids": [i["id"] for i in made]}, {"referral_id": made[0]["referral"]["id"]})
    ]
    assert all(e["type"] == "collection" for e in exports)
    assert_valid([r for e in exports for r in with_entries(e)])


async def test_operation_outcomes_for_refused_fhir_requests_are_valid(
    client: httpx.AsyncClient, sk: dict[str, str], session: AsyncSession, clinic: ClinicCreated
) -> None:
    post_json = {**sk, "Content-Type": FHIR}
    [erased] = await submit(client, sk, [intake_body()])
    admin = await admin_headers(client, session, clinic)
    gone = {"referral_id": erased["referral"]["id"], "reason": "request 1"}
    assert (await client.post("/v1/patient-data/erase", json=gone, headers=admin)).status_code == 200
    pain = questionnaire_response(intake_body())
    answer = next(
        i for g in pain["item"] if g["linkId"] == "pain" for i in g["item"] if i["linkId"] == "pain.intensity_now"
    )
    answer["answer"] = [{"valueInteger": 14}]  # out of range: the issue points at the linkId
    refused = [
        (await client.post("/fhir/QuestionnaireResponse", json=pain, headers=post_json), 422),
        (await client.post("/fhir/QuestionnaireResponse", json={"resourceType": "Patient"}, headers=post_json), 400),
        (await client.post("/fhir/QuestionnaireResponse", content=b"{not json", headers=post_json), 400),
        (await client.post("/fhir/QuestionnaireResponse", json=questionnaire_response(intake_body())), 401),
        (await client.get("/fhir/ServiceRequest/not-an-id", headers=sk), 404),
        (await client.get("/fhir/QuestionnaireResponse/00000000-0000-0000-0000-000000000000", headers=sk), 404),
        (await client.get("/fhir/ServiceRequest?name=x", headers=sk), 400),
        (await client.get("/fhir/Questionnaire", params={"name": "x"}), 400),
        (await client.get("/fhir/Nothing"), 404),
        (await client.get(f"/fhir/ServiceRequest/{erased['referral']['id']}", headers=sk), 410),
        (await client.get(f"/fhir/QuestionnaireResponse/{erased['id']}", headers=sk), 410),
    ]
    outcomes = [ok(response, status) for response, status in refused]
    assert all(o["resourceType"] == "OperationOutcome" for o in outcomes)
    assert_valid(outcomes)
