"""The resources of a referral's Bundle, one function each, as plain JSON-ready data.

Codes come from FHIR R4's own code systems, SNOMED CT and LOINC where one exists for what is
meant (README, "FHIR export", says why each was chosen); Backstride's own code system
(`urn:backstride:codes`) only where none does: urgency, focus areas, red flags, pain while running.
"""

from datetime import timedelta
from typing import Any

from services.export.fhir import identifiers as ids
from services.intake.schemas import StoredIntake
from services.referrals.schemas import ReferralOut
from services.triage.schemas import TriageResult


def coding(system: str, code: str, display: str | None = None) -> dict[str, str]:
    return {"system": system, "code": code, **({"display": display} if display else {})}


PHYSIOTHERAPY = (
    coding(ids.SNOMED, "306170007", "Referral to physiotherapy service"),
    coding(ids.SNOMED, "36682004", "Physiotherapist"),
)
GENERAL_PRACTICE = (
    coding(ids.SNOMED, "183561008", "Referral to general practitioner"),
    coding(ids.SNOMED, "62247001", "General practitioner"),
)
# Per pathway (SPEC §7): what is asked for (ServiceRequest.code) and of whom (performerType).
SERVICE: dict[str, tuple[dict[str, str], dict[str, str]]] = {
    "emergency_department": (
        coding(ids.SNOMED, "306104004", "Referral to accident and emergency service"),
        coding(ids.SNOMED, "309294001", "Emergency department physician"),
    ),
    "same_day_medical": GENERAL_PRACTICE,
    "urgent_medical": GENERAL_PRACTICE,
    "medical_review": GENERAL_PRACTICE,
    "physiotherapy": PHYSIOTHERAPY,
    "self_management": PHYSIOTHERAPY,
}
# SPEC §7: ServiceRequest.priority by pathway.
PRIORITY = {
    "emergency_department": "stat",
    "same_day_medical": "asap",
    "urgent_medical": "urgent",
    "medical_review": "routine",
    "physiotherapy": "routine",
    "self_management": "routine",
}
REFERRAL_CATEGORY = {"coding": [coding(ids.SNOMED, "3457005", "Patient referral")], "text": "Referral"}
SURVEY = [{"coding": [coding(ids.OBSERVATION_CATEGORY, "survey", "Survey")]}]
TRIAGE_DEVICE = "triage"  # the contained Device that proposes every referral


def patient(intake: StoredIntake, identifiers: list[dict[str, Any]]) -> dict[str, Any]:
    p = intake.patient
    telecom = [{"system": "email", "value": p.email}] if p.email else []
    telecom += [{"system": "phone", "value": p.phone}] if p.phone else []
    return {
        "resourceType": "Patient",
        "identifier": identifiers,
        "name": [{"family": p.family_name, "given": [p.given_name]}],
        "gender": p.sex,
        "birthDate": p.birth_date.isoformat(),
        **({"telecom": telecom} if telecom else {}),
    }


def _reported_pain(
    subject: str, answers: str, code: dict[str, str], text: str, when: dict[str, Any], value: int
) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "status": "final",
        "category": SURVEY,
        "code": {"coding": [code], "text": text},
        "subject": {"reference": subject},
        **when,
        "valueInteger": value,
        "derivedFrom": [{"reference": answers}],
    }


def pain_now(subject: str, answers: str, intake: StoredIntake) -> dict[str, Any]:
    code = coding(ids.LOINC, "72514-3", "Pain severity - 0-10 verbal numeric rating [Score] - Reported")
    when = {"effectiveDateTime": intake.created_at.isoformat()}
    return _reported_pain(subject, answers, code, "Pain now (0-10)", when, intake.pain.intensity_now)


def pain_while_running(subject: str, answers: str, intake: StoredIntake) -> dict[str, Any]:
    """LOINC has no code for pain during one activity: Backstride's own code, and the time it
    covers (the runs since the pain began), not the moment the form was filled in."""
    onset = intake.created_at - timedelta(weeks=intake.pain.weeks_since_onset)
    code = coding(ids.CODES, "pain-while-running", "Pain severity while running (0-10, reported)")
    when = {"effectivePeriod": {"start": onset.isoformat(), "end": intake.created_at.isoformat()}}
    return _reported_pain(subject, answers, code, "Pain while running (0-10)", when, intake.pain.intensity_running)


def condition(subject: str, answers: str, intake: StoredIntake) -> dict[str, Any]:
    onset = intake.created_at - timedelta(weeks=intake.pain.weeks_since_onset)
    return {
        "resourceType": "Condition",
        "clinicalStatus": {"coding": [coding(ids.CONDITION_CLINICAL, "active")]},
        # Reported by the runner, not yet examined by anyone.
        "verificationStatus": {"coding": [coding(ids.CONDITION_VERIFICATION, "provisional")]},
        "category": [{"coding": [coding(ids.CONDITION_CATEGORY, "problem-list-item", "Problem List Item")]}],
        "code": {"coding": [coding(ids.SNOMED, "279039007", "Low back pain")], "text": "Low back pain"},
        "subject": {"reference": subject},
        "onsetDateTime": onset.date().isoformat(),
        "recordedDate": intake.created_at.isoformat(),
        "evidence": [{"detail": [{"reference": answers}]}],
    }


def urgency(subject: str, answers: str, intake: StoredIntake, triage: TriageResult) -> dict[str, Any]:
    """Triage's urgency as an Observation. A RiskAssessment would fit, but validators still in use
    (Medplum's before 5) refuse a prediction without a probability (ras-2), and triage gives none:
    it is not made up to please them."""
    words = triage.urgency.replace("_", " ")
    pathway = triage.pathway.replace("_", " ")
    return {
        "resourceType": "Observation",
        "status": "final",
        "category": SURVEY,
        "code": {"coding": [coding(ids.CODES, "triage-urgency", "Triage urgency")], "text": "Triage urgency"},
        "subject": {"reference": subject},
        "effectiveDateTime": intake.created_at.isoformat(),
        "valueCodeableConcept": {
            "coding": [coding(ids.CODES, f"urgency-{triage.urgency}", words)],
            "text": f"{words}: {pathway}, within {triage.due_within_hours} hours",
        },
        "method": {"text": f"Backstride triage, ruleset {triage.ruleset_version}"},
        "derivedFrom": [{"reference": answers}],
        **({"note": [{"text": "; ".join(r.summary for r in triage.reasons)}]} if triage.reasons else {}),
    }


def flag(subject: str, intake: StoredIntake, code: str, label: str) -> dict[str, Any]:
    return {
        "resourceType": "Flag",
        "status": "active",
        "category": [{"coding": [coding(ids.FLAG_CATEGORY, "clinical", "Clinical")]}],
        "code": {"coding": [coding(ids.CODES, f"red-flag-{code}", label)], "text": label},
        "subject": {"reference": subject},
        "period": {"start": intake.created_at.isoformat()},
    }


def request_status(referral: ReferralOut) -> str:
    """Declined is revoked, and stays so once closed; closed after being seen is completed."""
    if referral.status == "declined" or referral.declined_at is not None:
        return "revoked"
    return "completed" if referral.status == "closed" else "active"


def _override_note(referral: ReferralOut) -> list[dict[str, str]]:
    """Who changed the urgency, from what, to what, and why (SPEC §5a)."""
    override = referral.urgency_override
    if override is None:
        return []
    change = f"{override.from_.urgency} ({override.from_.pathway}) to {override.to.urgency} ({override.to.pathway})"
    return [{"text": f"Urgency changed by {override.by} at {override.at.isoformat()} from {change}: {override.reason}"}]


def service_request(
    subject: str, referral: ReferralOut, condition_url: str, supporting: list[str], triage: TriageResult
) -> dict[str, Any]:
    """A proposal (intent), made by triage software (the contained Device), of the referral's own
    pathway: triage's, unless re-triage escalated it or a person changed it."""
    code, performer = SERVICE[referral.pathway]
    return {
        "resourceType": "ServiceRequest",
        "contained": [
            {
                "resourceType": "Device",
                "id": TRIAGE_DEVICE,
                "deviceName": [{"name": "Backstride triage", "type": "user-friendly-name"}],
                "version": [{"value": triage.ruleset_version}],
            }
        ],
        "extension": [{"url": ids.REFERRAL_STATUS_EXTENSION, "valueCode": referral.status}],
        "status": request_status(referral),
        "intent": "proposal",
        "category": [REFERRAL_CATEGORY],
        "priority": PRIORITY[referral.pathway],
        "code": {"coding": [code], "text": code["display"]},
        "subject": {"reference": subject},
        "occurrencePeriod": {"start": referral.created_at.isoformat(), "end": referral.due_at.isoformat()},
        "authoredOn": referral.created_at.isoformat(),
        "requester": {"reference": f"#{TRIAGE_DEVICE}", "display": "Backstride triage"},
        "performerType": {"coding": [performer], "text": performer["display"]},
        "reasonCode": [
            {"coding": [coding(ids.CODES, f"focus-{f.code}", f.label)], "text": f"{f.label}: {f.why}"}
            for f in triage.focus_areas
        ]
        or [{"text": "Low back pain in a runner"}],
        "reasonReference": [{"reference": condition_url}],
        "supportingInfo": [{"reference": r} for r in supporting],
        "note": [{"text": f"{r.rule}: {r.summary}"} for r in triage.reasons]
        + _override_note(referral)
        + [
            {
                "text": f"Due by {referral.due_at.isoformat()} ({referral.urgency.replace('_', ' ')}, "
                f"{referral.pathway.replace('_', ' ')})."
            }
        ],
    }
