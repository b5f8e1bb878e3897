"""Pure functions: a referral and its intake as a FHIR R4 transaction Bundle.

Every entry is conditional on a stable identifier, so sending the same referral twice creates
nothing new: a POST with `ifNoneExist` for what does not change after the intake, a conditional
PUT for what does (the ServiceRequest's status and pathway, the urgency after re-triage). Entries
come in reference order (a resource refers only to entries before it), so a Bundle can be sent
in parts (see transaction.py). The Patient is whoever identity.py says it is.
"""

import uuid
from typing import Any

from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.servicerequest import ServiceRequest

from services.export.fhir import identifiers as ids
from services.export.fhir import resources
from services.export.fhir.identity import SEARCH_SPECIAL, identity, token
from services.export.fhir.questionnaire import to_questionnaire_response
from services.intake.schemas import StoredIntake
from services.referrals.schemas import ReferralOut
from services.triage.schemas import TriageResult


class _Builder:
    """Collects a Bundle's entries, each addressed by its stable identifier."""

    def __init__(self, clinic_id: uuid.UUID) -> None:
        self.clinic_id = clinic_id
        self.entries: list[dict[str, Any]] = []

    def add(self, resource: dict[str, Any], kind: str, value: str, update: bool = False) -> str:
        """An entry conditional on Backstride's identifier of `kind` (the resource's first)."""
        identifier = {"system": ids.system(self.clinic_id, kind), "value": value}
        if resource["resourceType"] == "QuestionnaireResponse":  # the one resource with a single identifier
            identifier = resource.setdefault("identifier", identifier)
        else:
            resource.setdefault("identifier", []).insert(0, identifier)
        search = "identifier=" + token(identifier["system"], identifier["value"])
        return self.entry(resource, ids.full_url(identifier["system"], identifier["value"]), search, update)

    def entry(self, resource: dict[str, Any], url: str, search: str, update: bool = False) -> str:
        rtype = resource["resourceType"]
        request = (
            {"method": "PUT", "url": f"{rtype}?{search}"}
            if update
            else {"method": "POST", "url": rtype, "ifNoneExist": search}
        )
        self.entries.append({"fullUrl": url, "resource": resource, "request": request})
        return url


def _answers(intake: StoredIntake, subject: str) -> dict[str, Any]:
    """The QuestionnaireResponse, with what the EHR's own response said: its identifier (so the
    EHR's copy is the one found, unless searching for it is unsafe), author and authored."""
    response = to_questionnaire_response(intake, subject)
    source = intake.fhir_source
    if source is None:
        return response
    theirs = source.identifier
    if theirs and not SEARCH_SPECIAL & set(theirs["system"] + theirs["value"]):
        response["identifier"] = dict(theirs)
    if source.author:
        response["author"] = source.author
    if source.authored:
        response["authored"] = source.authored
    return response


def build_bundle(
    intake: StoredIntake,
    referral: ReferralOut,
    *,
    mrn_system: str | None = None,
    validate: bool = True,
    with_patient: bool = False,
) -> dict[str, Any]:
    """The referral as a FHIR R4 transaction Bundle (as JSON-ready data), validated by
    fhir.resources unless the caller opts out (the export worker, see delivery_bundle).
    `mrn_system` is the clinic's (its integration's); `with_patient` keeps a Patient entry
    even when the EHR's own Patient is referred to (a patient's copy of their data needs one)."""
    if not isinstance(referral.triage, TriageResult):  # callers refuse erased referrals first
        raise ValueError("an erased referral has nothing to export")
    b = _Builder(referral.clinic_id)
    intake_id, triage = str(intake.id), referral.triage
    who = identity(intake, referral.clinic_id, mrn_system)
    if who.reference and not with_patient:
        patient = who.reference
    else:
        own = who.search[-1]
        patient = b.entry(
            resources.patient(intake, who.identifiers), ids.full_url(own["system"], own["value"]), who.if_none_exist()
        )

    answers = b.add(_answers(intake, patient), "intake", intake_id)
    pain_now = b.add(resources.pain_now(patient, answers, intake), "observation", f"{intake_id}-pain-now")
    pain_running = b.add(
        resources.pain_while_running(patient, answers, intake), "observation", f"{intake_id}-pain-running"
    )
    condition = b.add(resources.condition(patient, answers, intake), "condition", intake_id)
    urgency = b.add(resources.urgency(patient, answers, intake, triage), "urgency", intake_id, update=True)
    flags = [
        b.add(resources.flag(patient, intake, f.code, f.label), "flag", f"{intake_id}-{f.code}")
        for f in triage.red_flags
    ]
    supporting = [answers, pain_now, pain_running, urgency, *flags]
    request = resources.service_request(patient, referral, condition, supporting, triage)
    b.add(request, "servicerequest", str(referral.id), update=True)
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
        target = by_url.get(reference["reference"])
        if target is None:  # not an entry: the EHR's own Patient, already a reference it knows
            return reference
        return {"type": target["resourceType"], "identifier": _first(target["identifier"])}

    resource = dict(next(r for r in by_url.values() if r["resourceType"] == "ServiceRequest"))
    resource["id"] = str(referral.id)
    resource["meta"] = {"lastUpdated": referral.updated_at.isoformat()}
    resource["subject"] = logical(resource["subject"])
    resource["reasonReference"] = [logical(r) for r in resource.get("reasonReference", [])]
    resource["supportingInfo"] = [logical(r) for r in resource.get("supportingInfo", [])]
    return ServiceRequest.model_validate(resource).model_dump(mode="json")


def _first(identifier: Any) -> Any:
    return identifier[0] if isinstance(identifier, list) else identifier
