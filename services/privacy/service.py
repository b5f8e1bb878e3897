"""Data rights: everything one clinic holds about one patient, exported or erased.

The intake, referral and export services each do their own part; this one finds the
patient's records and decides what happens to them. One request is one transaction,
so an erasure happens completely or not at all.
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
from services.privacy.schemas import ErasureIn, ErasureOut, PatientExport, PatientMatch, PatientRecord
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


async def _named_by_referral(session: AsyncSession, clinic_id: uuid.UUID, referral_id: uuid.UUID) -> Found | None:
    """With a referral id, the patient is that referral's intake's: the match extends to the clinic's
    other intakes with the same MRN if it has one, else the same name and birth date (never by
    email alone: family members share one). None: no such referral."""
    try:
        named = await referrals.current(session, clinic_id, referral_id)
    except referrals.ReferralNotFound:
        return None
    if named.erased_at is not None:
        return Found(erased=[named.id])
    anchor = await intake.stored(session, clinic_id, named.intake_id)
    patient = anchor.patient
    # Not by email: family members often share one (a runner may be 12), and an erasure is final.
    if patient.mrn:
        found = await intake.same_patient(session, clinic_id, mrn=patient.mrn)
    else:
        found = await intake.same_patient(
            session, clinic_id, name=(patient.given_name, patient.family_name, patient.birth_date)
        )
    if anchor.id not in {i.id for i in found}:  # defensive: it always matches itself
        found = sorted([*found, anchor], key=lambda i: (i.created_at, i.id))
    return await _with_referrals(session, clinic_id, found)


async def _with_referrals(session: AsyncSession, clinic_id: uuid.UUID, found: list[StoredIntake]) -> Found:
    by_intake = {r.intake_id: r for r in await referrals.for_intakes(session, clinic_id, [i.id for i in found])}
    return Found(records=[(i, by_intake[i.id]) for i in found if i.id in by_intake])


async def find(session: AsyncSession, clinic_id: uuid.UUID, match: PatientMatch) -> Found:
    """The patient's records in this clinic (never another's); PatientNotFound when there are none."""
    if match.referral_id is not None:
        named = await _named_by_referral(session, clinic_id, match.referral_id)
        if named is None:
            raise PatientNotFound("no referral of this clinic has that id")
        return named
    if match.mrn is not None:
        found = await intake.same_patient(session, clinic_id, mrn=match.mrn)
    elif match.email is not None:
        found = await intake.same_patient(session, clinic_id, email=match.email)
    else:
        assert match.given_name and match.family_name and match.birth_date  # PatientMatch checked it
        found = await intake.same_patient(
            session, clinic_id, name=(match.given_name, match.family_name, match.birth_date)
        )
    if not found:
        raise PatientNotFound("no patient of this clinic matches")
    return await _with_referrals(session, clinic_id, found)


async def _exportable(session: AsyncSession, principal: Principal, match: PatientMatch) -> Found:
    found = await find(session, principal.clinic_id, match)
    if not found.records:
        raise PatientDataErased("that referral's patient data was erased; only statistics are kept")
    # Who took a copy of which patient's data goes on the audit trail, like every read.
    await referrals.record_exported(session, principal, [r.id for _, r in found.records], utcnow())
    return found


async def export_json(session: AsyncSession, principal: Principal, match: PatientMatch) -> PatientExport:
    """Everything held about the patient: each intake as accepted, its referral, the referral's
    audit trail and its deliveries to the clinic's FHIR server."""
    found = await _exportable(session, principal, match)
    ids = [r.id for _, r in found.records]
    trails = await referrals.trails(session, principal.clinic_id, ids)
    sent = await exports.exports_of(session, principal.clinic_id, ids)
    records = [
        PatientRecord(intake=answers, referral=referral, events=trails[referral.id], exports=sent[referral.id])
        for answers, referral in found.records
    ]
    return PatientExport(patient=found.records[-1][0].patient, records=records, exported_at=utcnow())


async def export_fhir(session: AsyncSession, principal: Principal, match: PatientMatch) -> dict[str, Any]:
    """The patient's referrals as one FHIR collection Bundle with a single Patient."""
    found = await _exportable(session, principal, match)
    return exports.patient_bundle(found.records)


async def erase(session: AsyncSession, principal: Principal, body: ErasureIn) -> ErasureOut:
    """Erase the patient's clinical content; keep de-identified triage statistics and the audit
    trail (without its notes), with the erasure itself on it. Already erased records are not
    matched again by identity (none is left) and are reported when named by referral id."""
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
    )
