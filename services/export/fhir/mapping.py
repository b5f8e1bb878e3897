"""Pure functions: a referral and its intake as a FHIR R4 transaction Bundle.

Every resource is built as plain data and validated by its fhir.resources model.
Entries are conditional: POST with `ifNoneExist` on the resource's stable identifier,
except the ServiceRequest, which is a conditional PUT so status changes reach the
receiver. Sending the same referral twice therefore creates nothing new.
"""

from datetime import timedelta
from typing import Any
from urllib.parse import quote

from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.servicerequest import ServiceRequest

from services.export.fhir import identifiers as ids
from services.export.fhir.questionnaire import to_questionnaire_response
from services.intake.schemas import StoredIntake
from services.referrals.schemas import ReferralOut
from services.triage.schemas import TriageResult

# SPEC §7: ServiceRequest.priority by pathway.
PRIORITY = {
    "emergency_department": "stat",
    "same_day_medical": "asap",
    "urgent_medical": "urgent",
    "medical_review": "routine",
    "physiotherapy": "routine",
    "self_management": "routine",
}
QUALITATIVE_RISK = {"emergency": "high", "urgent": "moderate", "routine": "low", "self_care": "negligible"}
# ServiceRequest.status for each referral status; the exact one travels in an extension.
REQUEST_STATUS = {
    "new": "active",
    "in_review": "active",
    "accepted": "active",
    "scheduled": "active",
    "declined": "revoked",
    "closed": "completed",
}


class _Builder:
    """Collects a Bundle's entries, each validated and addressed by its stable identifier."""

    def __init__(self, referral: ReferralOut) -> None:
        self.clinic_id = referral.clinic_id
        self.entries: list[dict[str, Any]] = []

    def identifier(self, kind: str, value: str) -> dict[str, str]:
        return {"system": ids.system(self.clinic_id, kind), "value": value}

    def add(
        self,
        resource: dict[str, Any],
        kind: str,
        value: str,
        update: bool = False,
        identifier_type: dict[str, Any] | None = None,
    ) -> str:
        identifier: dict[str, Any] = self.identifier(kind, value) | (
            {"type": identifier_type} if identifier_type else {}
        )
        resource_type = resource["resourceType"]
        if resource_type == "QuestionnaireResponse":  # the one resource with a single identifier
            resource["identifier"] = identifier
        else:
            resource.setdefault("identifier", []).insert(0, identifier)
        url = ids.full_url(identifier["system"], value)
        search = f"identifier={_search_value(identifier['system'])}|{_search_value(value)}"
        request = (
            {"method": "PUT", "url": f"{resource_type}?{search}"}
            if update
            else {"method": "POST", "url": resource_type, "ifNoneExist": search}
        )
        self.entries.append({"fullUrl": url, "resource": resource, "request": request})
        return url


def _search_value(text: str) -> str:
    """A token for a FHIR search URL: search-escaped (\\ , | $), then percent-encoded."""
    for special in ("\\", ",", "|", "$"):
        text = text.replace(special, "\\" + special)
    return quote(text, safe=":")


def _coding(system: str, code: str, display: str | None = None) -> dict[str, str]:
    return {"system": system, "code": code, **({"display": display} if display else {})}


def _patient(intake: StoredIntake) -> dict[str, Any]:
    p = intake.patient
    telecom = [{"system": "email", "value": p.email}] if p.email else []
    telecom += [{"system": "phone", "value": p.phone}] if p.phone else []
    return {
        "resourceType": "Patient",
        "name": [{"family": p.family_name, "given": [p.given_name]}],
        "gender": p.sex,
        "birthDate": p.birth_date.isoformat(),
        **({"telecom": telecom} if telecom else {}),
    }


def _pain_observation(subject: str, intake: StoredIntake, value: int, during_running: bool) -> dict[str, Any]:
    codings = [_coding(ids.LOINC, "72514-3", "Pain severity - 0-10 verbal numeric rating [Score] - Reported")]
    if during_running:
        codings.append(_coding(ids.CODES, "pain-while-running", "Pain severity while running"))
    return {
        "resourceType": "Observation",
        "status": "final",
        "category": [{"coding": [_coding(ids.OBSERVATION_CATEGORY, "survey", "Survey")]}],
        "code": {"coding": codings, "text": "Pain while running (0-10)" if during_running else "Pain now (0-10)"},
        "subject": {"reference": subject},
        "effectiveDateTime": intake.created_at.isoformat(),
        "valueInteger": value,
    }


def _override_note(referral: ReferralOut) -> list[dict[str, str]]:
    """Who changed the urgency, from what, to what, and why (SPEC §5a)."""
    override = referral.urgency_override
    if override is None:
        return []
    change = f"{override.from_.urgency} ({override.from_.pathway}) to {override.to.urgency} ({override.to.pathway})"
    return [{"text": f"Urgency changed by {override.by} at {override.at.isoformat()} from {change}: {override.reason}"}]


def build_bundle(intake: StoredIntake, referral: ReferralOut, *, validate: bool = True) -> dict[str, Any]:
    """The referral as a FHIR R4 transaction Bundle (as JSON-ready data), validated by
    fhir.resources unless the caller opts out (the export worker, see delivery_bundle)."""
    if not isinstance(referral.triage, TriageResult):  # callers refuse erased referrals first
        raise ValueError("an erased referral has nothing to export")
    b = _Builder(referral)
    intake_id, triage = str(intake.id), referral.triage
    authored = intake.created_at.isoformat()

    if intake.patient.mrn:  # the clinic's own patient id: one Patient across all their intakes
        mrn_type = {"coding": [_coding(ids.IDENTIFIER_TYPE, "MR", "Medical record number")]}
        patient = b.add(_patient(intake), "mrn", intake.patient.mrn, identifier_type=mrn_type)
    else:
        patient = b.add(_patient(intake), "patient", intake_id)
    subject = {"reference": patient}

    answers = b.add(to_questionnaire_response(intake, patient), "intake", intake_id)
    pain_now = b.add(
        _pain_observation(patient, intake, intake.pain.intensity_now, False),
        "observation",
        f"{intake_id}-pain-now",
    )
    pain_running = b.add(
        _pain_observation(patient, intake, intake.pain.intensity_running, True),
        "observation",
        f"{intake_id}-pain-running",
    )
    condition = b.add(
        {
            "resourceType": "Condition",
            "clinicalStatus": {"coding": [_coding(ids.CONDITION_CLINICAL, "active")]},
            "verificationStatus": {"coding": [_coding(ids.CONDITION_VERIFICATION, "provisional")]},
            "code": {"coding": [_coding(ids.SNOMED, "279039007", "Low back pain")], "text": "Low back pain"},
            "subject": subject,
            "onsetDateTime": (intake.created_at - timedelta(weeks=intake.pain.weeks_since_onset)).date().isoformat(),
            "recordedDate": authored,
            "evidence": [{"detail": [{"reference": answers}]}],
        },
        "condition",
        intake_id,
    )
    risk = b.add(
        {
            "resourceType": "RiskAssessment",
            "status": "final",
            "subject": subject,
            "occurrenceDateTime": authored,
            "method": {"text": f"Backstride triage, ruleset {triage.ruleset_version}"},
            "basis": [{"reference": answers}],
            "prediction": [
                {
                    "outcome": {"text": "Needs clinical assessment"},
                    "qualitativeRisk": {
                        "coding": [
                            _coding(ids.RISK_PROBABILITY, QUALITATIVE_RISK[triage.urgency]),
                            _coding(ids.CODES, f"urgency-{triage.urgency}", triage.urgency.replace("_", " ")),
                        ]
                    },
                    "rationale": "; ".join(r.summary for r in triage.reasons),
                }
            ],
        },
        "riskassessment",
        intake_id,
    )
    flags = [
        b.add(
            {
                "resourceType": "Flag",
                "status": "active",
                "category": [{"coding": [_coding(ids.FLAG_CATEGORY, "clinical", "Clinical")]}],
                "code": {"coding": [_coding(ids.CODES, f"red-flag-{flag.code}", flag.label)], "text": flag.label},
                "subject": subject,
                "period": {"start": authored},
            },
            "flag",
            f"{intake_id}-{flag.code}",
        )
        for flag in triage.red_flags
    ]
    b.add(
        {
            "resourceType": "ServiceRequest",
            "extension": [{"url": ids.REFERRAL_STATUS_EXTENSION, "valueCode": referral.status}],
            "status": REQUEST_STATUS[referral.status],
            "intent": "order",
            # The referral's own pathway: triage's, unless re-triage escalated it or a person changed it.
            "priority": PRIORITY[referral.pathway],
            "code": {"coding": [_coding(ids.SNOMED, "306170007", "Referral to physiotherapy service")]},
            "subject": subject,
            "authoredOn": referral.created_at.isoformat(),
            "reasonCode": [
                {"coding": [_coding(ids.CODES, f"focus-{f.code}", f.label)], "text": f"{f.label}: {f.why}"}
                for f in triage.focus_areas
            ]
            or [{"text": "Low back pain in a runner"}],
            "reasonReference": [{"reference": condition}],
            "supportingInfo": [{"reference": r} for r in (answers, pain_now, pain_running, risk, *flags)],
            "note": [{"text": f"{r.rule}: {r.summary}"} for r in triage.reasons]
            + _override_note(referral)
            + [
                {
                    "text": f"Due by {referral.due_at.isoformat()} ({referral.urgency.replace('_', ' ')}, "
                    f"{referral.pathway.replace('_', ' ')})."
                }
            ],
        },
        "servicerequest",
        str(referral.id),
        update=True,
    )
    bundle = {"resourceType": "Bundle", "type": "transaction", "entry": b.entries}
    # Validated once, as a whole, and returned as built: validating each resource and then the
    # Bundle, and re-serialising both times, was four fifths of the export worker's CPU (bench/).
    if validate:
        Bundle.model_validate(bundle)
    return bundle


def service_request(bundle: dict[str, Any], referral: ReferralOut) -> dict[str, Any]:
    """The Bundle's ServiceRequest as a resource this API serves on its own
    (`GET /fhir/ServiceRequest/{id}`): its id, and references made logical
    (by identifier), since the Bundle's urn:uuid addresses mean nothing outside it."""
    by_url = {e["fullUrl"]: e["resource"] for e in bundle["entry"]}

    def logical(reference: dict[str, Any]) -> dict[str, Any]:
        target = by_url[reference["reference"]]
        identifier = target["identifier"]
        return {
            "type": target["resourceType"],
            "identifier": identifier[0] if isinstance(identifier, list) else identifier,
        }

    resource = dict(next(r for r in by_url.values() if r["resourceType"] == "ServiceRequest"))
    resource["id"] = str(referral.id)
    resource["meta"] = {"lastUpdated": referral.updated_at.isoformat()}
    resource["subject"] = logical(resource["subject"])
    resource["reasonReference"] = [logical(r) for r in resource.get("reasonReference", [])]
    resource["supportingInfo"] = [logical(r) for r in resource.get("supportingInfo", [])]
    return ServiceRequest.model_validate(resource).model_dump(mode="json")
