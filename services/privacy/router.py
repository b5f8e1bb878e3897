"""Data-rights endpoints for clinic admins: a patient's data exported or erased. Both are
POSTs so that patient identifiers travel in bodies, never in URLs or access logs."""

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Response
from fastapi.responses import JSONResponse

from services.core.auth import Session, require
from services.core.errors import FHIR_JSON, responses
from services.core.principal import Principal
from services.privacy import service
from services.privacy.schemas import CandidateList, ErasureIn, ErasureOut, PatientExport, PatientMatch, RecordsIn

router = APIRouter(prefix="/v1/patient-data", tags=["patient data"])
Admin = Annotated[Principal, Depends(require("clinic:admin"))]


class FhirResponse(JSONResponse):
    media_type = FHIR_JSON


FHIR_BUNDLE = {"content": {FHIR_JSON: {"schema": {"type": "object", "description": "A FHIR R4 collection Bundle"}}}}


@router.post("/search", response_model=CandidateList, responses=responses(401, 403, 404, 410, 413, 422, 503))
async def search_patient_data(body: PatientMatch, session: Session, principal: Admin) -> CandidateList:
    """Step one of a subject access or erasure request: the intakes that may be the patient's.

    Look the patient up exactly one way (see `PatientMatch`); only this clinic's intakes are
    searched, emails and names case-insensitively. Each candidate says how it was submitted
    (`publishable`: the public web form, where anyone can type any name, email or MRN;
    `secret`/`fhir`: the clinic's EHR; `unknown`: before this was recorded) and what matched.
    Nothing is extended from one match to others, and an MRN matches only intakes from the
    clinic's EHR or staff. A person decides which candidates are the patient's and exports or
    erases those by `intake_ids`. 404 for an unknown `referral_id`, 410 for an erased one.
    """
    return await service.search(session, principal, body)


@router.post(
    "/export",
    response_model=PatientExport,
    responses={200: FHIR_BUNDLE, **responses(401, 403, 404, 410, 413, 422, 503)},
)
async def export_patient_data(
    body: RecordsIn,
    session: Session,
    principal: Admin,
    format: Annotated[
        Literal["json", "fhir"],
        Query(description="`json`: everything held, as stored; `fhir`: an `application/fhir+json` Bundle"),
    ] = "json",
) -> PatientExport | Response:
    """Everything the clinic holds in the chosen intakes, for a subject access request.

    Give the `intake_ids` chosen from `POST /v1/patient-data/search`, or a `referral_id` for
    that referral's own intake only. `json` gives the patient as the latest chosen intake gave
    them and, for every intake, the answers as accepted, the referral with its triage, its
    whole audit trail and its deliveries to the clinic's FHIR server. `fhir` gives a FHIR R4
    Bundle of type `collection`: one Patient and each referral's resources. The export is
    recorded on each referral's audit trail (`exported`). 404 when the clinic holds none of the
    intakes; 410 when the named referral's data was erased.
    """
    if format == "fhir":
        return FhirResponse(await service.export_fhir(session, principal, body))
    return await service.export_json(session, principal, body)


@router.post("/erase", response_model=ErasureOut, responses=responses(401, 403, 404, 413, 422, 503))
async def erase_patient_data(body: ErasureIn, session: Session, principal: Admin) -> ErasureOut:
    """Erase the chosen intakes (as for the export) in one transaction: all of it or none.

    Every intake's answers (identity, contact, answers, notes) and idempotency key are removed;
    each referral is closed, keeps only de-identified statistics (urgency, focus areas, the ids
    of the rules that set the urgency and the ruleset version) and gets `erased_at`; every note
    on its audit trail is removed and an `erased` event records who erased it and `reason`.
    Pending deliveries to the clinic's FHIR server are stopped (dead, `last_error` "erased");
    copies already delivered there are the clinic's to erase. Afterwards the referral still
    reads (`GET /v1/referrals/{id}`, intake null) while its intake, its Bundle and its FHIR
    ServiceRequest answer 410, and FHIR search leaves it out.

    Repeating it is harmless: an erased referral named by `referral_id` is reported in
    `already_erased_referral_ids`, erased or unknown intake ids in `not_found_intake_ids`.
    """
    return await service.erase(session, principal, body)
