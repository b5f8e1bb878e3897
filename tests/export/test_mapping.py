"""Every Bundle the mapping makes is valid FHIR, self-contained, in reference order, and stable;
each resource says what the FHIR R4 spec and the terminologies mean it to."""

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fhir.resources.R4B.bundle import Bundle

from services.export.fhir.identity import DIGEST_SYSTEM
from services.export.fhir.mapping import build_bundle, service_request
from services.intake.schemas import IntakeIn, StoredIntake
from services.referrals.models import Referral
from services.referrals.schemas import URGENCY_RANK, ReferralOut
from services.referrals.service import to_out
from services.triage import service as triage
from services.triage.schemas import TriageResult
from tests.factories import VIGNETTES, VIGNETTES_V2, intake_body, references, vignettes

CLINIC = uuid.uuid4()
NOW = datetime(2026, 11, 22, 9, 30, tzinfo=UTC)
EHR = "urn:oid:1.2.826.0.1.3680043.2.1"  # an EHR's MRN system
CASES: list[tuple[str, dict[str, Any]]] = [
    (v.get("id", v["name"]), v["intake"]) for v in vignettes(VIGNETTES) + vignettes(VIGNETTES_V2)
] + [
    ("everything at once", intake_body(
        patient={"mrn": "MRN-7", "email": "r@example.org", "phone": "+44 20 7946 0000"},
        pain={"side": "left", "timing": ["at_night", "during_run"], "radiates_to_leg": "below_knee"},
        neuro={"numbness_or_tingling": True, "numbness_side": "both", "leg_weakness": True,
               "weakness_progressing": True},
        history={"conditions": ["osteoporosis", "cancer_history"], "recent_trauma": True, "previous_back_injury": True,
                 "previous_injury_notes": "stress fracture 2019"},
        running={"lands_harder_on": "right", "warm_up": False, "shoe_km": 1200, "known_leg_length_difference": True},
        notes="Ran a marathon last week",
    )),
]  # fmt: skip


def make(
    body: dict[str, Any],
    status: str = "new",
    *,
    via: str | None = "secret",
    source: dict[str, Any] | None = None,
    mrn_system: str | None = None,
    declined: bool = False,
) -> tuple[dict[str, Any], StoredIntake, ReferralOut]:
    intake_id = uuid.uuid5(uuid.NAMESPACE_OID, str(body))
    stored = StoredIntake.model_validate(
        {**body, "id": intake_id, "created_at": NOW, "submitted_via": via, "fhir_source": source},
        context={"stored": True},
    )
    answers = IntakeIn.model_validate(body, context={"stored": True})
    result = triage.evaluate(answers, answers.patient.birth_date, NOW.date())
    referral = Referral(
        id=uuid.uuid5(uuid.NAMESPACE_OID, f"r{body}"), clinic_id=CLINIC, intake_id=stored.id, status=status,
        urgency=result.urgency, urgency_rank=URGENCY_RANK[result.urgency], pathway=result.pathway, focus_areas=[],
        triage=result.model_dump(mode="json"), ruleset_version=result.ruleset_version,
        created_at=NOW, updated_at=NOW, due_at=NOW + timedelta(hours=result.due_within_hours),
        declined_at=NOW if declined else None,
    )  # fmt: skip
    out = to_out(referral, NOW)
    return build_bundle(stored, out, mrn_system=mrn_system), stored, out


def of_type(bundle: dict[str, Any], resource_type: str) -> list[dict[str, Any]]:
    return [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == resource_type]


@pytest.mark.parametrize(("name", "body"), CASES, ids=[c[0] for c in CASES])
def test_bundle_is_valid_and_every_reference_points_back_at_an_earlier_entry(name: str, body: dict[str, Any]) -> None:
    bundle, _, referral = make(body)
    Bundle.model_validate(bundle)
    assert bundle["type"] == "transaction"
    urls = [e["fullUrl"] for e in bundle["entry"]]
    assert len(urls) == len(set(urls)) and all(u.startswith("urn:uuid:") for u in urls)
    for n, entry in enumerate(bundle["entry"]):
        for reference in references(entry["resource"]):
            if reference.startswith("#"):  # a contained resource
                continue
            # Earlier entries only: a Bundle sent in parts refers to parts already sent.
            assert reference in urls[:n], f"{entry['resource']['resourceType']} -> {reference}"
    kinds = [e["resource"]["resourceType"] for e in bundle["entry"]]
    assert isinstance(referral.triage, TriageResult)
    assert kinds.count("Flag") == len(referral.triage.red_flags)
    assert kinds.count("Observation") == 3  # pain now, pain while running, triage urgency
    assert kinds[0] == "Patient" and kinds[-1] == "ServiceRequest"
    assert {"QuestionnaireResponse", "Condition"} <= set(kinds) and "RiskAssessment" not in kinds


@pytest.mark.parametrize(("name", "body"), CASES, ids=[c[0] for c in CASES])
def test_every_entry_is_conditional_on_a_clinic_scoped_identifier(name: str, body: dict[str, Any]) -> None:
    bundle, _, _ = make(body)
    for entry in bundle["entry"]:
        resource, request = entry["resource"], entry["request"]
        identifier = resource["identifier"]
        ours = identifier[-1] if resource["resourceType"] == "Patient" else identifier
        ours = ours[0] if isinstance(ours, list) else ours
        assert ours["system"].startswith(f"urn:backstride:clinic:{CLINIC}:")
        search = f"{ours['system']}|{ours['value']}"
        if resource["resourceType"] in ("ServiceRequest", "Observation") and request["method"] == "PUT":
            assert request == {"method": "PUT", "url": f"{resource['resourceType']}?identifier={search}"}
        elif resource["resourceType"] == "Patient":  # any identifier of the patient, ours last
            name, _, tokens = request["ifNoneExist"].partition("=")
            assert request["method"] == "POST" and name == "identifier" and tokens.split(",")[-1] == search
        else:
            assert request == {"method": "POST", "url": resource["resourceType"], "ifNoneExist": f"identifier={search}"}


def test_the_same_referral_gives_the_same_bundle() -> None:
    assert make(CASES[-1][1])[0] == make(CASES[-1][1])[0]


@pytest.mark.parametrize(
    ("change", "pathway", "priority", "code", "performer"),
    [
        ({"neuro": {"saddle_numbness": True}}, "emergency_department", "stat", "306104004", "309294001"),
        ({"neuro": {"walking_difficulty": True}}, "same_day_medical", "asap", "183561008", "62247001"),
        ({"history": {"fever": True}}, "urgent_medical", "urgent", "183561008", "62247001"),
        ({"history": {"bone_stress_risk": ["missed_periods"]}}, "medical_review", "routine", "183561008", "62247001"),
        ({"pain": {"side": "left"}}, "physiotherapy", "routine", "306170007", "36682004"),
        ({}, "self_management", "routine", "306170007", "36682004"),
    ],
)
def test_priority_code_and_performer_follow_the_pathway(
    change: dict[str, Any], pathway: str, priority: str, code: str, performer: str
) -> None:
    bundle, _, referral = make(intake_body(**change))
    assert referral.pathway == pathway
    [request] = of_type(bundle, "ServiceRequest")
    assert request["priority"] == priority
    assert [c["code"] for c in request["code"]["coding"]] == [code]
    assert [c["code"] for c in request["performerType"]["coding"]] == [performer]
    assert request["code"]["coding"][0]["system"] == "http://snomed.info/sct"


def test_the_request_is_a_proposal_by_triage_with_its_time_window() -> None:
    bundle, _, referral = make(intake_body(history={"fever": True}))
    [request] = of_type(bundle, "ServiceRequest")
    # An algorithm proposed it: no clinician has ordered anything yet.
    assert request["intent"] == "proposal"
    device = request["contained"][0]
    assert request["requester"]["reference"] == f"#{device['id']}" and device["resourceType"] == "Device"
    assert device["version"][0]["value"] == referral.triage.ruleset_version
    assert request["occurrencePeriod"] == {"start": NOW.isoformat(), "end": (NOW + timedelta(hours=24)).isoformat()}
    assert request["category"][0]["coding"][0]["code"] == "3457005"  # SNOMED CT: patient referral


def test_observations_have_distinct_codes_and_times() -> None:
    bundle, stored, _ = make(intake_body(neuro={"saddle_numbness": True}, pain={"intensity_now": 7}))
    observations = {o["code"]["coding"][0]["code"]: o for o in of_type(bundle, "Observation")}
    assert set(observations) == {"72514-3", "pain-while-running", "triage-urgency"}
    now, running = observations["72514-3"], observations["pain-while-running"]
    assert now["code"]["coding"][0]["system"] == "http://loinc.org" and now["valueInteger"] == 7
    assert now["effectiveDateTime"] == NOW.isoformat()
    onset = NOW - timedelta(weeks=stored.pain.weeks_since_onset)
    assert running["effectivePeriod"] == {"start": onset.isoformat(), "end": NOW.isoformat()}
    assert running["valueInteger"] == stored.pain.intensity_running
    urgency = observations["triage-urgency"]
    assert urgency["valueCodeableConcept"]["coding"][0]["code"] == "urgency-emergency"
    assert all(o["category"][0]["coding"][0]["code"] == "survey" for o in observations.values())


def test_condition_is_a_provisional_problem_list_item() -> None:
    bundle, stored, _ = make(intake_body())
    [condition] = of_type(bundle, "Condition")
    assert condition["code"]["coding"][0]["code"] == "279039007"
    assert condition["category"][0]["coding"][0] == {
        "system": "http://terminology.hl7.org/CodeSystem/condition-category",
        "code": "problem-list-item",
        "display": "Problem List Item",
    }
    assert condition["verificationStatus"]["coding"][0]["code"] == "provisional"
    assert of_type(bundle, "Patient")[0]["birthDate"] == stored.patient.birth_date.isoformat()


@pytest.mark.parametrize(
    ("status", "declined", "fhir_status"),
    [
        ("new", False, "active"),
        ("in_review", False, "active"),
        ("accepted", False, "active"),
        ("scheduled", False, "active"),
        ("declined", True, "revoked"),
        ("closed", True, "revoked"),  # declined, then closed: it was never done
        ("closed", False, "completed"),  # seen, then closed
    ],
)
def test_service_request_status_follows_the_referral(status: str, declined: bool, fhir_status: str) -> None:
    bundle, _, referral = make(intake_body(), status=status, declined=declined)
    standalone = service_request(bundle, referral)
    assert standalone["status"] == fhir_status
    assert standalone["extension"][0]["valueCode"] == status
    assert standalone["id"] == str(referral.id)
    assert not [r for r in references(standalone) if not r.startswith("#")], "served: by identifier, not urn:uuid"


def patient_of(bundle: dict[str, Any]) -> tuple[dict[str, Any], str]:
    [entry] = [e for e in bundle["entry"] if e["resource"]["resourceType"] == "Patient"]
    return entry["resource"], entry["request"]["ifNoneExist"]


def test_an_ehr_mrn_goes_out_under_the_clinic_mrn_system_and_finds_the_patient() -> None:
    bundle, stored, _ = make(intake_body(patient={"mrn": "A-77"}), mrn_system=EHR)
    patient, search = patient_of(bundle)
    assert patient["identifier"][0]["system"] == EHR and patient["identifier"][0]["value"] == "A-77"
    assert patient["identifier"][0]["type"]["coding"][0]["code"] == "MR"
    assert search == f"identifier={EHR}|A-77,urn:backstride:clinic:{CLINIC}:patient|{stored.id}"


def test_without_mrn_system_the_mrn_goes_out_under_backstrides_system_for_the_clinic() -> None:
    bundle, _, _ = make(intake_body(patient={"mrn": "A-77"}))
    patient, search = patient_of(bundle)
    assert patient["identifier"][0]["system"] == f"urn:backstride:clinic:{CLINIC}:mrn"
    assert search.startswith(f"identifier=urn:backstride:clinic:{CLINIC}:mrn|A-77,")


def test_every_ehr_identifier_may_find_the_patient() -> None:
    ehr = [{"system": "https://fhir.nhs.uk/Id/nhs-number", "value": "9434765919"}, {"system": EHR, "value": "B1"}]
    bundle, _, _ = make(intake_body(patient={"identifiers": ehr}), via="fhir")
    patient, search = patient_of(bundle)
    assert [i["value"] for i in patient["identifier"][:2]] == ["9434765919", "B1"]
    assert search.startswith(f"identifier=https://fhir.nhs.uk/Id/nhs-number|9434765919,{EHR}|B1,")


@pytest.mark.parametrize("via", ["publishable", None])
def test_identifiers_typed_into_a_public_form_find_no_ehr_patient(via: str | None) -> None:
    ehr = [{"system": EHR, "value": "B1"}]
    bundle, stored, _ = make(intake_body(patient={"mrn": "A-77", "identifiers": ehr}), via=via, mrn_system=EHR)
    patient, search = patient_of(bundle)
    assert EHR not in search and "B1" not in search
    assert not [i for i in patient["identifier"] if i["system"] == EHR]
    if via is None:  # from before the channel was kept: found as it was then, under Backstride's system only
        assert (
            search
            == f"identifier=urn:backstride:clinic:{CLINIC}:mrn|A-77,urn:backstride:clinic:{CLINIC}:patient|{stored.id}"
        )
    else:
        assert search == f"identifier=urn:backstride:clinic:{CLINIC}:patient|{stored.id}"


@pytest.mark.parametrize("mrn", ["77|A,b$c\\d", "a,b", "x$y", "back\\slash"])
def test_an_identifier_search_servers_may_misread_is_found_by_its_digest(mrn: str) -> None:
    bundle, _, _ = make(intake_body(patient={"mrn": mrn}), mrn_system=EHR)
    patient, search = patient_of(bundle)
    assert patient["identifier"][0]["value"] == mrn  # kept as it is on the Patient
    digest = patient["identifier"][1]
    assert digest["system"] == DIGEST_SYSTEM and len(digest["value"]) == 64
    # Never searched for as written: a server that mishandles the escapes would find another patient.
    assert search.startswith(f"identifier={DIGEST_SYSTEM}|{digest['value']},") and EHR not in search


def test_the_digest_is_the_same_for_the_same_identifier() -> None:
    first, _, _ = make(intake_body(patient={"mrn": "77|A"}), mrn_system=EHR)
    second, _, _ = make(intake_body(patient={"mrn": "77|A", "given_name": "Other"}), mrn_system=EHR)
    assert patient_of(first)[0]["identifier"][1] == patient_of(second)[0]["identifier"][1]


def test_a_response_about_the_ehrs_own_patient_refers_to_it() -> None:
    source = {"subject": {"reference": "Patient/ehr-42"}, "author": {"reference": "Practitioner/9"},
              "authored": "2026-11-21T08:00:00+01:00", "identifier": {"system": EHR, "value": "qr-1"}}  # fmt: skip
    bundle, _, referral = make(intake_body(), via="fhir", source=source)
    assert not of_type(bundle, "Patient")
    subjects = {r["subject"]["reference"] for r in (e["resource"] for e in bundle["entry"]) if "subject" in r}
    assert subjects == {"Patient/ehr-42"}
    [response] = of_type(bundle, "QuestionnaireResponse")
    assert response["identifier"] == {"system": EHR, "value": "qr-1"}  # the EHR's copy is the one found
    assert (response["author"], response["authored"]) == ({"reference": "Practitioner/9"}, "2026-11-21T08:00:00+01:00")
    assert service_request(bundle, referral)["subject"] == {"reference": "Patient/ehr-42"}
