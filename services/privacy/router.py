"""Data-rights endpoints for clinic admins: a patient's data exported or erased. Both are
POSTs so that patient identifiers travel in bodies, never in URLs or access logs."""

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Response
from fastapi.responses import JSONResponse

from services.core.auth import Session, require
from services.core.errors import FHIR_JSON, responses
from services.core.principal import Principal
from services.privacy import service
from services.privacy.schemas import ErasureIn, ErasureOut, PatientExport, PatientMatch

router = APIRouter(prefix="/v1/patient-data", tags=["patient data"])
Admin = Annotated[Principal, Depends(require("clinic:admin"))]


class FhirResponse(JSONResponse):
    media_type = FHIR_JSON


FHIR_BUNDLE = {"content": {FHIR_JSON: {"schema": {"type": "object", "description": "A FHIR R4 collection Bundle"}}}}


@router.post(
    "/export",
    response_model=PatientExport,
    responses={200: FHIR_BUNDLE, **responses(401, 403, 404, 410, 413, 422, 503)},
)
async def export_patient_data(
    body: PatientMatch,
    session: Session,
    principal: Admin,
    format: Annotated[
        Literal["json", "fhir"],
        Query(description="`json`: everything held, as stored; `fhir`: an `application/fhir+json` Bundle"),
    ] = "json",
) -> PatientExport | Response:
    """Everything the clinic holds about one patient, for a subject access request.

    Name the patient exactly one way (see `PatientMatch`); only this clinic's records are
    searched, emails and names case-insensitively. With `referral_id` the patient is that
    referral's intake's, and the match extends to the clinic's other intakes with the same MRN
    if it has one, else the same given name, family name and birth date (not the same email:
    family members often share one; name the email explicitly to match on it).

    `json` gives the patient as their latest intake gave them and, for every intake, the answers
    as accepted, the referral with its triage, its whole audit trail and its deliveries to the
    clinic's FHIR server. `fhir` gives a FHIR R4 Bundle of type `collection`: one Patient and
    each referral's resources. The export is recorded on each referral's audit trail
    (`exported`). 404 when nothing matches; 410 when the named referral's data was erased.
    """
    if format == "fhir":
        return FhirResponse(await service.export_fhir(session, principal, body))
    return await service.export_json(session, principal, body)


@router.post("/erase", response_model=ErasureOut, responses=responses(401, 403, 404, 413, 422, 503))
async def erase_patient_data(body: ErasureIn, session: Session, principal: Admin) -> ErasureOut:
    """Erase one patient's data (named as for the export) in one transaction: all of it or none.

    Every intake's answers (identity, contact, answers, notes) and idempotency key are removed;
    each referral is closed, keeps only de-identified statistics (urgency, focus areas, the ids
    of the rules that set the urgency and the ruleset version) and gets `erased_at`; every note
    on its audit trail is removed and an `erased` event records who erased it and `reason`.
    Pending deliveries to the clinic's FHIR server are stopped (dead, `last_error` "erased");
    copies already delivered there are the clinic's to erase. Afterwards the referral still
    reads (`GET /v1/referrals/{id}`, intake null) while its intake, its Bundle and its FHIR
    ServiceRequest answer 410, and FHIR search leaves it out.

    Repeating it is harmless: erased records are not found again by identity (404, nothing is
    left to match), and a `referral_id` of an erased referral is reported in
    `already_erased_referral_ids`.
    """
    return await service.erase(session, principal, body)
