"""The /fhir API: metadata, the Questionnaire, QuestionnaireResponse intake, ServiceRequest read and search."""

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.capabilitystatement import CapabilityStatement
from fhir.resources.R4B.questionnaire import Questionnaire
from sqlalchemy.ext.asyncio import AsyncSession

from services.clinics.schemas import ClinicCreated
from services.export.fhir.identifiers import QUESTIONNAIRE_URL
from tests.factories import born, intake_body, make_clinic, questionnaire_response, v1_body

FHIR = "application/fhir+json"


def response_for(body: dict[str, Any]) -> dict[str, Any]:
    return questionnaire_response(body)


async def test_metadata_tells_what_is_supported(client: httpx.AsyncClient) -> None:
    response = await client.get("/fhir/metadata")
    assert response.status_code == 200 and response.headers["content-type"].startswith(FHIR)
    statement = response.json()
    CapabilityStatement.model_validate(statement)
    assert statement["fhirVersion"] == "4.0.1"
    supported = {r["type"]: [i["code"] for i in r["interaction"]] for r in statement["rest"][0]["resource"]}
    assert supported == {
        "Questionnaire": ["read", "search-type"],
        "QuestionnaireResponse": ["create", "read", "vread"],
        "ServiceRequest": ["read", "search-type"],
    }


def _link_ids(section: str, names: str) -> set[str]:
    return {f"{section}.{name}" for name in names.split()}


# SPEC §4: the intake body's fields (v1, then the v2 additions), as dotted linkIds by section;
# `notes` is an item of its own, outside any group.
INTAKE_LINK_IDS = {
    "patient": _link_ids("patient", "given_name family_name birth_date sex email phone mrn identifiers"),
    "consent": _link_ids("consent", "data_processing contact_ok"),
    "pain": _link_ids(
        "pain",
        "side weeks_since_onset intensity_now intensity_running timing persistent_despite_rest worsening"
        " radiates_to_leg leg_pain_side night_pain morning_stiffness_minutes eases_with_exercise"
        " worse_bending_backwards hurts_to_hop_or_bear_weight",
    ),
    "neuro": _link_ids(
        "neuro",
        "numbness_or_tingling numbness_side leg_weakness weakness_progressing saddle_numbness"
        " bladder_or_bowel_change sexual_function_change walking_difficulty",
    ),
    "function": _link_ids("function", "daily_activity_difficulty"),
    "history": _link_ids(
        "history",
        "previous_back_injury previous_injury_notes conditions recent_trauma fever_or_unwell"
        " unexplained_weight_loss long_term_steroids fever recent_trauma_kind iv_drug_use"
        " recent_infection_or_procedure abdominal_pain_or_faintness bone_stress_risk",
    ),
    "running": _link_ids(
        "running",
        "weekly_km mileage_increase_pct surface shoe_km warm_up stretching_per_week strength_sessions_per_week"
        " lands_harder_on known_leg_length_difference",
    ),
    "self_report": _link_ids("self_report", "tight_hip_flexors tight_hamstrings weak_core"),
    "notes": set(),
}


async def test_questionnaire_covers_every_intake_field(client: httpx.AsyncClient) -> None:
    response = await client.get("/fhir/Questionnaire/backstride-intake")
    questionnaire = response.json()
    Questionnaire.model_validate(questionnaire)
    assert questionnaire["url"] and questionnaire["version"]
    groups = {group["linkId"]: {item["linkId"] for item in group.get("item", [])} for group in questionnaire["item"]}
    assert groups == INTAKE_LINK_IDS
    leaves = {item["linkId"]: item for group in questionnaire["item"] for item in group.get("item", [group])}
    assert all(item["text"].strip() for item in leaves.values()), "every question has words"
    assert leaves["pain.side"]["type"] == "choice" and leaves["pain.side"]["required"] is True
    assert [o["valueCoding"]["code"] for o in leaves["pain.side"]["answerOption"]] == [
        "left",
        "right",
        "both",
        "central",
    ]
    assert leaves["pain.timing"]["repeats"] is True
    assert leaves["neuro.numbness_side"]["enableWhen"] == [
        {"question": "neuro.numbness_or_tingling", "operator": "=", "answerBoolean": True}
    ]
    assert leaves["running.weekly_km"]["type"] == "decimal" and leaves["patient.birth_date"]["type"] == "date"


async def test_questionnaire_response_is_an_intake(client: httpx.AsyncClient, sk: dict[str, str]) -> None:
    body = intake_body(neuro={"saddle_numbness": True}, pain={"timing": ["at_night"]})
    response = await client.post(
        "/fhir/QuestionnaireResponse", json=response_for(body), headers={**sk, "Content-Type": FHIR}
    )
    assert response.status_code == 201, response.text
    created = response.json()
    urgency = {e["url"].rsplit("/", 1)[1]: e for e in created["extension"]}
    assert urgency["triage-urgency"]["valueCode"] == "emergency"
    stored = await client.get(f"/v1/intakes/{created['id']}", headers=sk)
    assert stored.json()["neuro"]["saddle_numbness"] is True
    assert stored.json()["referral"]["id"] == urgency["referral"]["valueReference"]["reference"].split("/")[1]


@pytest.mark.parametrize(
    ("change", "status"),
    [
        (lambda r: {**r, "resourceType": "Patient"}, 400),
        (lambda r: {**r, "questionnaire": "http://other.example/Questionnaire/x"}, 422),
        (lambda r: {**r, "status": "in-progress"}, 422),
        (lambda r: {**r, "item": [{"linkId": "pain.colour", "answer": [{"valueString": "red"}]}]}, 422),
        (lambda r: {**r, "item": r["item"][1:]}, 422),  # no patient
        (lambda r: {**r, "authored": "yesterday"}, 422),
    ],
)
async def test_bad_responses_get_an_operation_outcome(
    client: httpx.AsyncClient, sk: dict[str, str], change: Any, status: int
) -> None:
    response = await client.post("/fhir/QuestionnaireResponse", json=change(response_for(intake_body())), headers=sk)
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(FHIR)
    outcome = response.json()
    assert outcome["resourceType"] == "OperationOutcome" and outcome["issue"][0]["severity"] == "error"


async def test_field_errors_point_at_link_ids(client: httpx.AsyncClient, sk: dict[str, str]) -> None:
    resource = response_for(intake_body())
    pain = next(g for g in resource["item"] if g["linkId"] == "pain")
    next(i for i in pain["item"] if i["linkId"] == "pain.intensity_now")["answer"] = [{"valueInteger": 14}]
    outcome = (await client.post("/fhir/QuestionnaireResponse", json=resource, headers=sk)).json()
    assert [i["expression"] for i in outcome["issue"]] == [["pain.intensity_now"]]


async def test_fhir_errors_are_operation_outcomes(client: httpx.AsyncClient) -> None:
    for response in (await client.get("/fhir/ServiceRequest"), await client.get("/fhir/Nothing")):
        assert response.headers["content-type"].startswith(FHIR)
        assert response.json()["resourceType"] == "OperationOutcome"


async def test_service_request_read_and_isolation(
    client: httpx.AsyncClient, sk: dict[str, str], session: AsyncSession
) -> None:
    referral = (await client.post("/v1/intakes", json=intake_body(), headers=sk)).json()["referral"]
    response = await client.get(f"/fhir/ServiceRequest/{referral['id']}", headers=sk)
    assert response.status_code == 200
    resource = response.json()
    assert resource["resourceType"] == "ServiceRequest" and resource["id"] == referral["id"]
    other = await make_clinic(session)
    theirs = {"Authorization": f"Bearer {other.secret_key}"}
    hidden = await client.get(f"/fhir/ServiceRequest/{referral['id']}", headers=theirs)
    assert hidden.status_code == 404 and hidden.json()["resourceType"] == "OperationOutcome"
    assert (await client.get("/fhir/ServiceRequest/not-an-id", headers=sk)).status_code == 404
    listed = await client.get("/fhir/ServiceRequest", headers=theirs)
    assert listed.status_code == 200, listed.text
    assert listed.json()["entry"] == []


async def test_search_by_status_and_last_updated(
    client: httpx.AsyncClient, sk: dict[str, str], clinic: ClinicCreated
) -> None:
    made = [
        (await client.post("/v1/intakes", json=intake_body(), headers=sk)).json()["referral"]["id"] for _ in range(3)
    ]
    found = await client.get("/fhir/ServiceRequest?status=active&_count=2", headers=sk)
    page = found.json()
    Bundle.model_validate(page)
    assert page["type"] == "searchset" and len(page["entry"]) == 2
    following = next(link["url"] for link in page["link"] if link["relation"] == "next")
    rest = (await client.get(following.replace("http://testserver", ""), headers=sk)).json()
    ids = [e["resource"]["id"] for e in page["entry"] + rest["entry"]]
    assert ids == made
    assert (await client.get("/fhir/ServiceRequest?status=completed", headers=sk)).json()["entry"] == []
    tomorrow = (datetime.now(UTC) + timedelta(days=1)).date().isoformat()
    assert (await client.get(f"/fhir/ServiceRequest?_lastUpdated=ge{tomorrow}", headers=sk)).json()["entry"] == []
    assert len((await client.get(f"/fhir/ServiceRequest?_lastUpdated=lt{tomorrow}", headers=sk)).json()["entry"]) == 3
    for bad in ("status=open", "_lastUpdated=gtyesterday", "colour=red", "_count=0"):
        response = await client.get(f"/fhir/ServiceRequest?{bad}", headers=sk)
        assert response.status_code in (400, 422) and response.json()["resourceType"] == "OperationOutcome"


async def test_publishable_keys_cannot_post_fhir(client: httpx.AsyncClient, clinic: ClinicCreated) -> None:
    pk = {"Authorization": f"Bearer {clinic.publishable_key}"}
    response = await client.post("/fhir/QuestionnaireResponse", json=response_for(intake_body()), headers=pk)
    assert response.status_code == 403 and response.json()["resourceType"] == "OperationOutcome"


async def test_deeply_nested_resources_are_400(client: httpx.AsyncClient, sk: dict[str, str]) -> None:
    depth = 1500  # about 40 KiB: under the body limit, over any sane nesting
    items = '{"linkId":"x","item":[' * depth + '{"linkId":"x"}' + "]}" * depth
    resource = json.dumps(response_for(intake_body())).replace('"item": [', f'"item": [{items}, ', 1)
    response = await client.post("/fhir/QuestionnaireResponse", content=resource, headers={**sk, "Content-Type": FHIR})
    assert response.status_code in (400, 422) and response.json()["resourceType"] == "OperationOutcome"


@pytest.mark.parametrize("value", ["9999-12-31", "gt9999-12-31", "0001-01-01T00:00:00+01:00", "2026-01-01T10:00"])
async def test_odd_last_updated_values_are_refused(client: httpx.AsyncClient, sk: dict[str, str], value: str) -> None:
    response = await client.get(f"/fhir/ServiceRequest?_lastUpdated={value}", headers=sk)
    assert response.status_code == 422 and response.json()["resourceType"] == "OperationOutcome"


async def test_search_results_are_on_the_audit_trail(client: httpx.AsyncClient, sk: dict[str, str]) -> None:
    referral = (await client.post("/v1/intakes", json=intake_body(), headers=sk)).json()["referral"]
    await client.get("/fhir/ServiceRequest", headers=sk)
    events = (await client.get(f"/v1/referrals/{referral['id']}/events", headers=sk)).json()["items"]
    assert [e["action"] for e in events] == ["created", "viewed"]


async def test_blank_notes_still_export(client: httpx.AsyncClient, sk: dict[str, str]) -> None:
    body = intake_body(notes="   ", history={"previous_injury_notes": " "})
    referral = (await client.post("/v1/intakes", json=body, headers=sk)).json()["referral"]
    assert (await client.get(f"/v1/referrals/{referral['id']}/fhir", headers=sk)).status_code == 200


# --- Questionnaire 2.0.0 (SPEC §4 v2) -----------------------------------------------------------


async def test_questionnaire_2_asks_every_v2_question(client: httpx.AsyncClient) -> None:
    questionnaire = (await client.get("/fhir/Questionnaire/backstride-intake")).json()
    assert questionnaire["version"] == "2.0.0"
    leaves = {item["linkId"]: item for group in questionnaire["item"] for item in group.get("item", [group])}
    asked = [
        "pain.night_pain", "pain.morning_stiffness_minutes", "pain.eases_with_exercise", "pain.worse_bending_backwards",
        "pain.hurts_to_hop_or_bear_weight", "neuro.sexual_function_change", "neuro.walking_difficulty",
        "history.fever", "history.iv_drug_use", "history.recent_infection_or_procedure",
        "history.abdominal_pain_or_faintness",
    ]  # fmt: skip
    for link_id in asked:
        assert leaves[link_id]["required"] is True, link_id
    follow_ups = {
        "pain.leg_pain_side": {
            "question": "pain.radiates_to_leg",
            "operator": "!=",
            "answerCoding": {"system": "urn:backstride:codes", "code": "none"},
        },
        "history.recent_trauma_kind": {"question": "history.recent_trauma", "operator": "=", "answerBoolean": True},
        "neuro.numbness_side": {"question": "neuro.numbness_or_tingling", "operator": "=", "answerBoolean": True},
    }
    for link_id, condition in follow_ups.items():
        assert leaves[link_id]["enableWhen"] == [condition] and leaves[link_id]["required"] is True
    assert leaves["history.bone_stress_risk"]["repeats"] is True
    assert [o["valueCoding"]["code"] for o in leaves["history.bone_stress_risk"]["answerOption"]] == [
        "missed_periods",
        "previous_stress_fracture",
        "restricted_eating",
    ]
    identifiers = leaves["patient.identifiers"]
    assert identifiers["type"] == "group" and identifiers["repeats"] is True and identifiers["required"] is False
    assert [i["linkId"] for i in identifiers["item"]] == ["patient.identifiers.system", "patient.identifiers.value"]


async def triaged(client: httpx.AsyncClient, sk: dict[str, str], resource: dict[str, Any]) -> dict[str, Any]:
    response = await client.post("/fhir/QuestionnaireResponse", json=resource, headers={**sk, "Content-Type": FHIR})
    assert response.status_code == 201, response.text
    stored = await client.get(f"/v1/intakes/{response.json()['id']}", headers=sk)
    record: dict[str, Any] = stored.json()
    return record


async def test_a_response_to_1_0_0_is_triaged_with_the_v2_questions_not_asked(
    client: httpx.AsyncClient, sk: dict[str, str]
) -> None:
    record = await triaged(client, sk, questionnaire_response(v1_body(), version="1.0.0"))
    assert record["pain"]["night_pain"] is None
    assert [c["code"] for c in record["referral"]["triage"]["clinician_review"]] == ["screening_incomplete"]


async def test_a_response_to_2_0_0_that_leaves_a_question_out_is_not_asked_not_no(
    client: httpx.AsyncClient, sk: dict[str, str]
) -> None:
    resource = questionnaire_response(intake_body(neuro={"walking_difficulty": None}))
    record = await triaged(client, sk, resource)
    review = record["referral"]["triage"]["clinician_review"]
    assert review[0]["code"] == "screening_incomplete" and "neuro.walking_difficulty" in review[0]["label"]


async def test_an_unversioned_questionnaire_is_the_current_one(client: httpx.AsyncClient, sk: dict[str, str]) -> None:
    resource = {**questionnaire_response(intake_body()), "questionnaire": QUESTIONNAIRE_URL}
    record = await triaged(client, sk, resource)
    assert record["referral"]["triage"]["urgency"] == "self_care"


@pytest.mark.parametrize(
    ("version", "body", "message"),
    [
        ("1.0.0", intake_body(), "unknown question"),  # 1.0.0 has no v2 questions
        ("3.0.0", intake_body(), "not accepted"),
        ("2.0", intake_body(), "not accepted"),
    ],
)
async def test_other_versions_and_their_questions_are_refused(
    client: httpx.AsyncClient, sk: dict[str, str], version: str, body: dict[str, Any], message: str
) -> None:
    response = await client.post("/fhir/QuestionnaireResponse", json=questionnaire_response(body, version), headers=sk)
    assert response.status_code == 422
    assert response.json()["resourceType"] == "OperationOutcome" and message in response.text


async def test_the_authored_date_is_the_intake_date(client: httpx.AsyncClient, sk: dict[str, str]) -> None:
    """60 today, but 59 when the response was authored a year ago: the age rules read 59."""
    today = datetime.now(UTC)
    a_year_ago = today - timedelta(days=366)
    body = intake_body(patient={"birth_date": born(60, today.date())}, history={"abdominal_pain_or_faintness": True})
    then = await triaged(client, sk, questionnaire_response(body, authored=a_year_ago))
    assert (then["referral"]["urgency"], then["referral"]["pathway"]) == ("urgent", "urgent_medical")
    now = await triaged(client, sk, questionnaire_response(body, authored=today))
    assert (now["referral"]["urgency"], now["referral"]["pathway"]) == ("emergency", "emergency_department")


async def test_an_authored_date_in_the_future_is_refused(client: httpx.AsyncClient, sk: dict[str, str]) -> None:
    resource = questionnaire_response(intake_body(), authored=datetime.now(UTC) + timedelta(days=3))
    response = await client.post("/fhir/QuestionnaireResponse", json=resource, headers=sk)
    assert response.status_code == 422 and "future" in response.text


async def test_identifiers_arrive_as_a_repeating_group(client: httpx.AsyncClient, sk: dict[str, str]) -> None:
    identifiers = [
        {"system": "https://fhir.nhs.uk/Id/nhs-number", "value": "9434765919"},
        {"system": "urn:oid:1.2.36.146.595.217.0.1", "value": "77|A,b$c\\d"},
    ]
    resource = questionnaire_response(intake_body(patient={"identifiers": identifiers}))
    patient = next(g for g in resource["item"] if g["linkId"] == "patient")
    assert [i["linkId"] for i in patient["item"]].count("patient.identifiers") == 2
    record = await triaged(client, sk, resource)
    assert record["patient"]["identifiers"] == identifiers
