"""Every Bundle the mapping makes is valid FHIR, self-contained, and stable."""

import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from fhir.resources.R4B.bundle import Bundle

from services.export.fhir.mapping import build_bundle, service_request
from services.intake.schemas import IntakeIn, StoredIntake
from services.referrals.models import Referral
from services.referrals.schemas import URGENCY_RANK
from services.referrals.service import to_out
from services.triage import service as triage
from tests.factories import VIGNETTES, VIGNETTES_V2, intake_body, references, vignettes

CLINIC = uuid.uuid4()
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


def make(body: dict[str, Any], status: str = "new") -> tuple[dict[str, Any], StoredIntake, Any]:
    now = datetime(2026, 11, 22, 9, 30, tzinfo=UTC)
    stored = StoredIntake.model_validate({**body, "id": uuid.uuid5(uuid.NAMESPACE_OID, str(body)), "created_at": now})
    answers = IntakeIn.model_validate(body, context={"stored": True})
    result = triage.evaluate(answers, answers.patient.birth_date, now.date())
    referral = Referral(
        id=uuid.uuid5(uuid.NAMESPACE_OID, f"r{body}"), clinic_id=CLINIC, intake_id=stored.id, status=status,
        urgency=result.urgency, urgency_rank=URGENCY_RANK[result.urgency], pathway=result.pathway, focus_areas=[],
        triage=result.model_dump(mode="json"), ruleset_version=result.ruleset_version,
        created_at=now, updated_at=now, due_at=now,
    )  # fmt: skip
    out = to_out(referral, now)
    return build_bundle(stored, out), stored, out


@pytest.mark.parametrize(("name", "body"), CASES, ids=[c[0] for c in CASES])
def test_bundle_is_valid_and_every_reference_resolves_inside_it(name: str, body: dict[str, Any]) -> None:
    bundle, _, referral = make(body)
    Bundle.model_validate(bundle)
    assert bundle["type"] == "transaction"
    urls = [e["fullUrl"] for e in bundle["entry"]]
    assert len(urls) == len(set(urls)) and all(u.startswith("urn:uuid:") for u in urls)
    for entry in bundle["entry"]:
        for reference in references(entry["resource"]):
            assert reference in urls, f"{entry['resource']['resourceType']} -> {reference}"
    kinds = [e["resource"]["resourceType"] for e in bundle["entry"]]
    assert kinds.count("Flag") == len(referral.triage.red_flags)
    assert {"Patient", "QuestionnaireResponse", "Observation", "Condition", "RiskAssessment", "ServiceRequest"} <= set(
        kinds
    )


@pytest.mark.parametrize(("name", "body"), CASES, ids=[c[0] for c in CASES])
def test_every_entry_is_conditional_on_a_clinic_scoped_identifier(name: str, body: dict[str, Any]) -> None:
    bundle, _, _ = make(body)
    for entry in bundle["entry"]:
        resource, request = entry["resource"], entry["request"]
        identifier = resource["identifier"]
        first = identifier if isinstance(identifier, dict) else identifier[0]
        assert first["system"].startswith(f"urn:backstride:clinic:{CLINIC}:")
        search = f"identifier={first['system']}|{first['value']}"
        if resource["resourceType"] == "ServiceRequest":
            assert request == {"method": "PUT", "url": f"ServiceRequest?{search}"}
        else:
            assert request == {"method": "POST", "url": resource["resourceType"], "ifNoneExist": search}


def test_the_same_referral_gives_the_same_bundle() -> None:
    assert make(CASES[-1][1])[0] == make(CASES[-1][1])[0]


@pytest.mark.parametrize(
    ("change", "pathway", "priority"),
    [
        ({"neuro": {"saddle_numbness": True}}, "emergency_department", "stat"),
        ({"neuro": {"walking_difficulty": True}}, "same_day_medical", "asap"),
        ({"history": {"fever": True}}, "urgent_medical", "urgent"),
        ({"history": {"bone_stress_risk": ["missed_periods"]}}, "medical_review", "routine"),
        ({"pain": {"side": "left"}}, "physiotherapy", "routine"),
        ({}, "self_management", "routine"),
    ],
)
def test_priority_follows_the_pathway(change: dict[str, Any], pathway: str, priority: str) -> None:
    bundle, _, referral = make(intake_body(**change))
    assert referral.pathway == pathway
    [request] = [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "ServiceRequest"]
    assert request["priority"] == priority


def test_codes() -> None:
    bundle, stored, _ = make(intake_body(neuro={"saddle_numbness": True}, pain={"intensity_now": 7}))
    by_type: dict[str, list[dict[str, Any]]] = {}
    for entry in bundle["entry"]:
        by_type.setdefault(entry["resource"]["resourceType"], []).append(entry["resource"])
    [request] = by_type["ServiceRequest"]
    assert request["code"]["coding"][0] == {
        "system": "http://snomed.info/sct",
        "code": "306170007",
        "display": "Referral to physiotherapy service",
    }
    assert by_type["Condition"][0]["code"]["coding"][0]["code"] == "279039007"
    pain_now = next(o for o in by_type["Observation"] if o["code"]["text"].startswith("Pain now"))
    assert pain_now["code"]["coding"][0]["code"] == "72514-3" and pain_now["valueInteger"] == 7
    risk = by_type["RiskAssessment"][0]["prediction"][0]["qualitativeRisk"]["coding"]
    assert risk[0]["code"] == "high" and risk[1]["code"] == "urgency-emergency"
    assert by_type["Patient"][0]["birthDate"] == stored.patient.birth_date.isoformat()


def test_mrn_makes_one_patient_across_intakes() -> None:
    first, _, _ = make(intake_body(patient={"mrn": "MRN-1"}))
    second, _, _ = make(intake_body(patient={"mrn": "MRN-1", "given_name": "Sam J"}))
    patient_urls = [
        [e["fullUrl"] for e in b["entry"] if e["resource"]["resourceType"] == "Patient"] for b in (first, second)
    ]
    assert patient_urls[0] == patient_urls[1]


@pytest.mark.parametrize(
    ("status", "fhir_status"), [("new", "active"), ("declined", "revoked"), ("closed", "completed")]
)
def test_service_request_status_follows_the_referral(status: str, fhir_status: str) -> None:
    bundle, _, referral = make(intake_body(), status=status)
    standalone = service_request(bundle, referral)
    assert standalone["status"] == fhir_status
    assert standalone["extension"][0]["valueCode"] == status
    assert standalone["id"] == str(referral.id)
    assert not references(standalone), "a served ServiceRequest refers by identifier, not urn:uuid"
