"""Data rights: what one clinic holds about one patient, found, exported or erased.

Finding a patient is a search that lists candidate intakes for a person to choose from; an
export or an erasure then names the chosen intakes. Nothing is extended from one record to
others on its own: names, emails and MRNs typed into the public form are anyone's to type.
The intake, referral and export services each do their own part; one request is one
transaction, so an erasure happens completely or not at all.
"""

import logging
import uuid
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from services.core.db import utcnow
from services.core.errors import Gone, NotFound
from services.core.principal import Principal
from services.export import service as exports
from services.intake import service as intake
from services.intake.schemas import StoredIntake
from services.privacy.schemas import (
    Candidate,
    CandidateList,
    ErasureIn,
    ErasureOut,
    PatientExport,
    PatientMatch,
    PatientRecord,
    RecordsIn,
)
from services.referrals import service as referrals
from services.referrals.schemas import ReferralOut

log = logging.getLogger("backstride.privacy")


class PatientNotFound(NotFound):
    title, slug = "Patient not found", "patient-not-found"


class PatientDataErased(Gone):
    title, slug = "Patient data erased", "patient-data-erased"


@dataclass
class Found:
    records: list[tuple[StoredIntake, ReferralOut]] = field(default_factory=list)  # oldest first
    # A referral named by id whose patient data an earlier request erased.
    erased: list[uuid.UUID] = field(default_factory=list)
    # Intake ids given that the clinic does not hold (or holds erased).
    missing: list[uuid.UUID] = field(default_factory=list)


async def search(session: AsyncSession, principal: Principal, match: PatientMatch) -> CandidateList:
    """Intakes that may be the patient's, for a person to choose from: nothing is extended from one
    match to another, and an MRN only matches intakes from the clinic's EHR or staff (the public
    form lets anyone type one). The search is on no referral's audit trail: it shows names only."""
    clinic_id = principal.clinic_id
    matched: str
    if match.referral_id is not None:
        try:
            named = await referrals.current(session, clinic_id, match.referral_id)
        except referrals.ReferralNotFound as exc:
            raise PatientNotFound("no referral of this clinic has that id") from exc
        if named.erased_at is not None:
            raise PatientDataErased("that referral's patient data was erased; only statistics are kept")
        found, matched = await intake.kept_by_ids(session, clinic_id, [named.intake_id]), "referral_id"
    elif match.mrn is not None:
        found, matched = await intake.candidates(session, clinic_id, mrn=match.mrn), "mrn"
    elif match.email is not None:
        found, matched = await intake.candidates(session, clinic_id, email=match.email), "email"
    else:
        assert match.given_name and match.family_name and match.birth_date  # PatientMatch checked it
        name = (match.given_name, match.family_name, match.birth_date)
        found, matched = await intake.candidates(session, clinic_id, name=name), "name_and_birth_date"
    by_intake = {r.intake_id: r for r in await referrals.for_intakes(session, clinic_id, [c.intake.id for c in found])}
    items = [
        Candidate(
            intake_id=c.intake.id,
            referral_id=by_intake[c.intake.id].id,
            created_at=c.intake.created_at,
            submitted_via=c.submitted_via or "unknown",
            matched=[matched],
            given_name=c.intake.patient.given_name,
            family_name=c.intake.patient.family_name,
            birth_date=c.intake.patient.birth_date,
        )
        for c in found
        if c.intake.id in by_intake
    ]
    return CandidateList(items=items)


async def find(session: AsyncSession, clinic_id: uuid.UUID, chosen: RecordsIn) -> Found:
    """The chosen records in this clinic (never another's). With `referral_id`, that referral's own
    intake only."""
    if chosen.referral_id is not None:
        try:
            named = await referrals.current(session, clinic_id, chosen.referral_id)
        except referrals.ReferralNotFound as exc:
            raise PatientNotFound("no referral of this clinic has that id") from exc
        if named.erased_at is not None:
            return Found(erased=[named.id])
        ids = [named.intake_id]
    else:
        assert chosen.intake_ids is not None  # RecordsIn checked it
        ids = chosen.intake_ids
    kept = [c.intake for c in await intake.kept_by_ids(session, clinic_id, ids)]
    by_intake = {r.intake_id: r for r in await referrals.for_intakes(session, clinic_id, [i.id for i in kept])}
    records = [(i, by_intake[i.id]) for i in kept if i.id in by_intake]
    missing = [i for i in ids if i not in {answers.id for answers, _ in records}]
    if not records and chosen.intake_ids is not None:
        raise PatientNotFound("this clinic holds none of these intakes (or their data was erased)")
    return Found(records=records, missing=missing if chosen.intake_ids is not None else [])


async def _exportable(session: AsyncSession, principal: Principal, chosen: RecordsIn) -> Found:
    found = await find(session, principal.clinic_id, chosen)
    if not found.records:
        raise PatientDataErased("that referral's patient data was erased; only statistics are kept")
    # Who took a copy of which patient's data goes on the audit trail, like every read.
    await referrals.record_exported(session, principal, [r.id for _, r in found.records], utcnow())
    return found


async def export_json(session: AsyncSession, principal: Principal, chosen: RecordsIn) -> PatientExport:
    """Everything held about the patient: each intake as accepted, its referral, the referral's
    audit trail and its deliveries to the clinic's FHIR server."""
    found = await _exportable(session, principal, chosen)
    ids = [r.id for _, r in found.records]
    trails = await referrals.trails(session, principal.clinic_id, ids)
    sent = await exports.exports_of(session, principal.clinic_id, ids)
    records = [
        PatientRecord(intake=answers, referral=referral, events=trails[referral.id], exports=sent[referral.id])
        for answers, referral in found.records
    ]
    return PatientExport(patient=found.records[-1][0].patient, records=records, exported_at=utcnow())


async def export_fhir(session: AsyncSession, principal: Principal, chosen: RecordsIn) -> dict[str, Any]:
    """The chosen referrals as one FHIR collection Bundle with a single Patient."""
    found = await _exportable(session, principal, chosen)
    return exports.patient_bundle(found.records)


async def erase(session: AsyncSession, principal: Principal, body: ErasureIn) -> ErasureOut:
    """Erase the chosen intakes' clinical content; keep de-identified triage statistics and the audit
    trail (without its notes), with the erasure itself on it. Already erased records are reported:
    by referral id in `already_erased_referral_ids`, by intake id in `not_found_intake_ids`."""
    found = await find(session, principal.clinic_id, body)
    now = utcnow()
    clinic_id = principal.clinic_id
    # Referrals first: on PostgreSQL their row locks hold off notes being added meanwhile.
    erased, notes = await referrals.erase(session, principal, [r.id for _, r in found.records], body.reason, now)
    intake_ids = [answers.id for answers, referral in found.records if referral.id in erased]
    intakes_erased = await intake.erase(session, clinic_id, intake_ids, now)
    stopped, in_flight = await exports.stop_exports(session, clinic_id, erased, now)
    # Counts only: nothing that could identify the patient goes to the logs.
    log.info("patient data erased: %d referrals, %d exports stopped", len(erased), stopped)
    already = found.erased + [r.id for _, r in found.records if r.id not in erased]
    return ErasureOut(
        erased_at=now,
        erased_referral_ids=erased,
        already_erased_referral_ids=already,
        intakes_erased=intakes_erased,
        notes_removed=notes,
        exports_stopped=stopped,
        exports_in_flight=in_flight,
        not_found_intake_ids=found.missing,
    )
