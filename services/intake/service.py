"""Intake rules: accept a body once, triage it, open its referral, in one transaction."""

import hashlib
import json
import logging
import uuid
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from services.core.db import InsertBatch, utcnow
from services.core.errors import Conflict, Gone, NotFound, Unprocessable
from services.core.observability import INTAKES
from services.core.principal import Principal
from services.intake import repository
from services.intake.models import Intake
from services.intake.repository import IntakeRepository
from services.intake.schemas import (
    IntakeCreated,
    IntakeIn,
    IntakeRecord,
    ReferralSummary,
    ResponseSource,
    StoredIntake,
)
from services.referrals import service as referrals
from services.referrals.schemas import ReferralOut
from services.triage import service as triage
from services.triage.schemas import V2_QUESTIONS, drop_unanswered

log = logging.getLogger("backstride.intake")


class IdempotencyKeyReused(Unprocessable):
    title, slug = "Idempotency key reused", "idempotency-key-reused"


class IdempotencyKeyInFlight(Conflict):
    title, slug = "Idempotency key in flight", "idempotency-key-in-flight"


class IntakeNotFound(NotFound):
    title, slug = "Intake not found", "intake-not-found"


class IntakeErased(Gone):
    title, slug = "Intake erased", "intake-erased"


# Fields added in v2 (SPEC §4); left out of the stored body when not given.
V2_FIELDS = ("patient.identifiers", *V2_QUESTIONS)

# What an erased intake's answers become: nothing about the person is left.
ERASED_ANSWERS: dict[str, object] = {"erased": True}


def _fingerprint(answers: dict[str, object]) -> str:
    canonical = json.dumps(answers, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def _scoped(principal: Principal, key: str | None) -> str | None:
    """Idempotency keys of a publishable key (a web page) live apart from the secret key's: a page
    can neither see nor squat the keys an EHR uses. A space never occurs in a client's key."""
    if key is None or principal.kind != "publishable":
        return key
    return "public " + hashlib.sha256(key.encode()).hexdigest()


def _summary(referral: ReferralOut) -> ReferralSummary:
    # Checked here too, not only where the answers are read: an erasure may commit in between.
    if referral.erased_at is not None:
        raise IntakeErased("the patient's data was erased; only statistics are kept")
    return ReferralSummary.model_validate(referral.model_dump())


async def submit(
    session: AsyncSession,
    principal: Principal,
    body: IntakeIn,
    idempotency_key: str | None,
    intake_date: date | None = None,
    via: str | None = None,
    source: ResponseSource | None = None,
) -> tuple[IntakeCreated, bool]:
    """Store the intake and its referral; returns (result, replayed).

    An intake from a QuestionnaireResponse keeps what the response said about itself (`source`);
    one with an identifier is made once: sent again, the first one is returned as replayed.

    Triage takes the age on `intake_date` (a QuestionnaireResponse's authored date), or on
    the day the intake arrives. A retry with the same Idempotency-Key and body returns the
    original result and writes nothing; the same key with another body is refused.
    """
    repo = IntakeRepository(session, principal.clinic_id)
    # Stored as is, and hashed to recognise a retry. v2 questions not answered are left out,
    # so a v1 client's body is stored and hashed as it was before v2 (a retry across the
    # upgrade is still recognised).
    answers = drop_unanswered(body.model_dump(mode="json"), V2_FIELDS)
    request_hash = _fingerprint(answers) if idempotency_key else None
    idempotency_key = _scoped(principal, idempotency_key)
    response_key = response_identifier(source.identifier) if source and source.identifier else None
    now = utcnow()
    on = intake_date or now.date()
    result = triage.evaluate(body, body.patient.birth_date, on)
    intake_id = uuid.uuid4()
    values = {
        "id": intake_id,
        "created_at": now,
        "idempotency_key": idempotency_key,
        "request_hash": request_hash,
        "answers": answers,
        "intake_date": on,
        "submitted_via": via or principal.kind,
        "fhir_source": source.model_dump(exclude_none=True) if source else None,
        "response_identifier": response_key,
    }
    batch = InsertBatch()
    if idempotency_key is None and response_key is None:
        repo.stage(batch, values)  # cannot conflict: it goes with its referral, in one round trip
    elif not await repo.insert_once(values):
        by_identifier = await repo.by_response_identifier(response_key) if response_key else None
        if by_identifier is not None:  # the same response, sent again (concurrently)
            return await _created(session, by_identifier), True
        assert idempotency_key is not None  # rows without a key or identifier never conflict
        intake = await repo.by_idempotency_key(idempotency_key)
        # Defensive: ON CONFLICT waits for the other transaction, so it has committed by now.
        if intake is None:
            raise IdempotencyKeyInFlight("a request with this Idempotency-Key did not finish; retry")
        if intake.request_hash != request_hash:
            raise IdempotencyKeyReused("this Idempotency-Key was used with a different body")
        return await _created(session, intake), True

    opened = await referrals.open_referral(session, principal, intake_id, result, now, batch)
    INTAKES.labels(result.urgency).inc()
    summary = ReferralSummary(
        id=opened.id,
        status=opened.status,
        urgency=result.urgency,
        pathway=result.pathway,
        due_at=opened.due_at,
        triage=result,
    )
    return IntakeCreated(id=intake_id, created_at=now, referral=summary), False


def response_identifier(identifier: dict[str, str]) -> str:
    """How a QuestionnaireResponse's identifier is kept: hashed, to be looked up, not shown."""
    return hashlib.sha256(f"{identifier['system']}|{identifier['value']}".encode()).hexdigest()


async def by_response(session: AsyncSession, clinic_id: uuid.UUID, identifier: dict[str, str]) -> IntakeCreated | None:
    """The intake a QuestionnaireResponse with this identifier made, if any (a conditional create's search)."""
    intake = await IntakeRepository(session, clinic_id).by_response_identifier(response_identifier(identifier))
    return None if intake is None else await _created(session, intake)


async def _created(session: AsyncSession, intake: Intake) -> IntakeCreated:
    referral = await referrals.for_intake(session, intake.clinic_id, intake.id)
    return IntakeCreated(id=intake.id, created_at=intake.created_at, referral=_summary(referral))


async def get(session: AsyncSession, principal: Principal, intake_id: uuid.UUID) -> IntakeRecord:
    """The intake with its referral; reading it goes on the referral's audit trail."""
    answers = await stored(session, principal.clinic_id, intake_id)
    referral = await referrals.view_for_intake(session, principal, intake_id)
    return IntakeRecord.model_validate(
        {**answers.model_dump(), "referral": _summary(referral)}, context={"stored": True}
    )


async def stored(session: AsyncSession, clinic_id: uuid.UUID, intake_id: uuid.UUID) -> StoredIntake:
    """The intake's answers as accepted, without its referral."""
    return _stored(await _kept_row(session, clinic_id, intake_id))


async def _kept_row(session: AsyncSession, clinic_id: uuid.UUID, intake_id: uuid.UUID) -> Intake:
    intake = await IntakeRepository(session, clinic_id).get(intake_id)
    if intake is None:
        raise IntakeNotFound(f"no intake {intake_id}")
    if intake.erased_at is not None:
        raise IntakeErased(f"the patient data of intake {intake_id} was erased")
    return intake


@dataclass(frozen=True)
class TriageInput:
    """What triage reads of a stored intake: the answers, and the day the age is taken on."""

    intake: StoredIntake
    on: date


def _triage_input(intake_id: uuid.UUID, created_at: datetime, on: date | None, answers: dict[str, Any]) -> TriageInput:
    stored = StoredIntake.model_validate(
        {**answers, "id": intake_id, "created_at": created_at}, context={"stored": True}
    )
    return TriageInput(stored, on or created_at.date())  # intakes from before v2 have no intake date


async def triage_input(session: AsyncSession, clinic_id: uuid.UUID, intake_id: uuid.UUID) -> TriageInput | None:
    """The intake as triage reads it (to triage it again), or None once the patient's data was erased."""
    intake = await IntakeRepository(session, clinic_id).get(intake_id)
    if intake is None or intake.erased_at is not None:
        return None
    return _triage_input(intake.id, intake.created_at, intake.intake_date, intake.answers)


async def clinics_with_intakes(session: AsyncSession) -> list[uuid.UUID]:
    return await repository.clinics_with_intakes(session)


async def page_for_triage(
    session: AsyncSession, clinic_id: uuid.UUID, after: uuid.UUID | None, limit: int
) -> list[TriageInput]:
    """A page of the clinic's intakes not erased, oldest id first after `after`, as triage reads them."""
    rows = await IntakeRepository(session, clinic_id).page_kept(after, limit)
    return [_triage_input(r.id, r.created_at, r.intake_date, r.answers) for r in rows]


async def kept(session: AsyncSession, clinic_id: uuid.UUID, intake_id: uuid.UUID) -> StoredIntake | None:
    """The intake's answers as accepted, or None once the patient's data was erased."""
    try:
        return await stored(session, clinic_id, intake_id)
    except IntakeErased:
        return None


# Channels whose identifiers a clinic vouches for: its EHR (secret key, FHIR) or its own staff.
TRUSTED_CHANNELS = ("secret", "user", "fhir")


@dataclass(frozen=True)
class Candidate:
    """An intake that may be the patient's, and how it came (None: from before this was kept)."""

    intake: StoredIntake
    submitted_via: str | None


async def candidates(
    session: AsyncSession,
    clinic_id: uuid.UUID,
    *,
    mrn: str | None = None,
    email: str | None = None,
    name: tuple[str, str, date] | None = None,
) -> list[Candidate]:
    """The clinic's intakes (not erased) that match, oldest first, named one way: by MRN (exactly,
    and only where the MRN came from the clinic's EHR or staff: anyone can type one into the public
    form), by email (case-insensitive), or by given name, family name and birth date (names
    case-insensitive). These are candidates for a person to choose from, not a patient's record."""
    repo = IntakeRepository(session, clinic_id)
    if mrn is not None:
        rows = [r for r in await repo.by_patient("mrn", mrn) if r.submitted_via in TRUSTED_CHANNELS]
    elif email is not None:
        rows = await repo.by_patient("email", email, fold_case=True)
    elif name is not None:
        given, family, birth = name
        # Names are compared here, not in SQL: SQLite's lower() folds ASCII letters only.
        rows = [
            row
            for row in await repo.by_patient("birth_date", birth.isoformat())
            if row.answers["patient"]["given_name"].casefold() == given.casefold()
            and row.answers["patient"]["family_name"].casefold() == family.casefold()
        ]
    else:
        raise ValueError("name the patient one way")
    return [Candidate(_stored(row), row.submitted_via) for row in rows]


async def kept_by_ids(session: AsyncSession, clinic_id: uuid.UUID, intake_ids: list[uuid.UUID]) -> list[Candidate]:
    """These intakes of the clinic, not erased, oldest first (another clinic's ids are not found)."""
    rows = await IntakeRepository(session, clinic_id).kept_by_ids(intake_ids)
    return [Candidate(_stored(row), row.submitted_via) for row in rows]


@dataclass(frozen=True)
class Unreadable:
    """A stored intake the code cannot read any more (a bug, a hand edit, a model made stricter)."""

    intake_id: uuid.UUID


def _readable(row: Intake) -> StoredIntake | Unreadable:
    try:
        return _stored(row)
    except ValidationError as exc:  # ids and counts only: the errors quote the answers
        log.error("stored intake %s cannot be read (%d validation errors)", row.id, exc.error_count())
        return Unreadable(row.id)


async def shown_by_ids(
    session: AsyncSession, clinic_id: uuid.UUID, intake_ids: list[uuid.UUID]
) -> dict[uuid.UUID, StoredIntake | Unreadable]:
    """Pages that list intakes: one the code cannot read is marked, so it cannot hide the others
    (a queue that fails as a whole hides its emergencies too). Erased ones are left out."""
    rows = await IntakeRepository(session, clinic_id).kept_by_ids(intake_ids)
    return {row.id: _readable(row) for row in rows}


async def shown(session: AsyncSession, clinic_id: uuid.UUID, intake_id: uuid.UUID) -> StoredIntake | Unreadable:
    """One intake for a page (as `stored`), marked if the code cannot read it."""
    return _readable(await _kept_row(session, clinic_id, intake_id))


def _stored(row: Intake) -> StoredIntake:
    extra = {"id": row.id, "created_at": row.created_at, "submitted_via": row.submitted_via}
    return StoredIntake.model_validate(
        {**row.answers, **extra, "fhir_source": row.fhir_source}, context={"stored": True}
    )


async def erase(session: AsyncSession, clinic_id: uuid.UUID, intake_ids: list[uuid.UUID], now: datetime) -> int:
    """Remove everything the intakes said (identity, contact, answers, notes) and their idempotency
    keys; only the id and time of arrival stay. Returns how many were erased."""
    return await IntakeRepository(session, clinic_id).erase(intake_ids, ERASED_ANSWERS, now)
