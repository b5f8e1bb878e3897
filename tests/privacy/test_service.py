"""Data-rights rules without HTTP: matching, all-or-nothing erasure, the worker and erased referrals."""

import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from services.accounts import service as accounts
from services.clinics.schemas import ClinicCreated
from services.core.config import Settings
from services.core.db import Database, unit_of_work, utcnow
from services.core.principal import Principal
from services.export import service as exports
from services.export.models import ExportItem
from services.export.repository import OutboxRepository
from services.export.worker import Worker
from services.intake import service as intake
from services.intake.schemas import IntakeCreated, IntakeIn
from services.privacy import service as privacy
from services.privacy.schemas import ErasureIn, PatientMatch, RecordsIn
from services.referrals.patient_data import erased_triage
from tests.factories import committed_clinic as committed
from tests.factories import intake_body, make_clinic, make_user, secret_principal
from tests.privacy.conftest import patient


async def submit(session: AsyncSession, clinic: ClinicCreated, person: dict[str, Any], **changes: Any) -> IntakeCreated:
    body = IntakeIn.model_validate(intake_body(patient=person, **changes))
    created, _ = await intake.submit(session, secret_principal(clinic), body, None)
    return created


async def admin_of(session: AsyncSession, clinic: ClinicCreated) -> Principal:
    admin, _ = await make_user(session, clinic.slug, "clinic_admin")
    scopes = frozenset(accounts.ROLE_SCOPES["clinic_admin"])
    return Principal(clinic_id=clinic.clinic_id, kind="user", scopes=scopes, user_id=admin.id, label=admin.email)


async def test_names_match_whatever_their_case_beyond_ascii(session: AsyncSession, clinic: ClinicCreated) -> None:
    person = patient(given_name="Zoë", family_name="Ørsted-Ünal")
    created = await submit(session, clinic, person)
    admin = await admin_of(session, clinic)
    match = PatientMatch(given_name="ZOË", family_name="ørsted-ünal", birth_date=person["birth_date"])
    found = await privacy.search(session, admin, match)
    assert [(c.intake_id, c.matched) for c in found.items] == [(created.id, ["name_and_birth_date"])]


async def test_a_search_lists_candidates_one_way_at_a_time_and_never_extends(
    session: AsyncSession, clinic: ClinicCreated
) -> None:
    person = patient(mrn="M-9", email="sam@example.org")
    first = await submit(session, clinic, person)
    second = await submit(session, clinic, {**person, "email": "new@example.org"})  # same MRN, new email
    admin = await admin_of(session, clinic)
    by_referral = await privacy.search(session, admin, PatientMatch(referral_id=second.referral.id))
    by_mrn = await privacy.search(session, admin, PatientMatch(mrn="M-9"))
    by_email = await privacy.search(session, admin, PatientMatch(email="SAM@example.org"))
    assert [c.intake_id for c in by_referral.items] == [second.id]  # its own intake, nothing else
    assert [c.intake_id for c in by_mrn.items] == [first.id, second.id]
    assert [c.intake_id for c in by_email.items] == [first.id]  # no chaining from the email to the MRN
    assert {c.submitted_via for c in by_mrn.items} == {"secret"}


async def test_an_mrn_typed_into_the_public_form_matches_nobody(session: AsyncSession, clinic: ClinicCreated) -> None:
    public = Principal(clinic_id=clinic.clinic_id, kind="publishable", scopes=frozenset({"intake:write"}), label="pk")
    typed, _ = await intake.submit(
        session, public, IntakeIn.model_validate(intake_body(patient=patient(mrn="M-5"))), None
    )
    from_ehr = await submit(session, clinic, patient(mrn="M-5"))
    admin = await admin_of(session, clinic)
    found = await privacy.search(session, admin, PatientMatch(mrn="M-5"))
    assert [c.intake_id for c in found.items] == [from_ehr.id]
    by_referral = await privacy.search(session, admin, PatientMatch(referral_id=typed.referral.id))
    assert [(c.intake_id, c.submitted_via) for c in by_referral.items] == [(typed.id, "publishable")]


async def test_erasure_is_all_or_nothing(
    session: AsyncSession, clinic: ClinicCreated, monkeypatch: pytest.MonkeyPatch
) -> None:
    person = patient(mrn="M-1")
    created = await submit(session, clinic, person, notes="kept if anything fails")
    admin = await admin_of(session, clinic)
    await session.commit()  # the setup stays; the erasure below gets a transaction of its own

    async def fails(*_: Any) -> int:
        raise RuntimeError("the database went away")

    monkeypatch.setattr(exports, "stop_exports", fails)  # the erasure's last step
    with pytest.raises(RuntimeError):
        async with unit_of_work(session):
            await privacy.erase(session, admin, ErasureIn(intake_ids=[created.id], reason="request 1"))

    answers = await intake.stored(session, clinic.clinic_id, created.id)
    assert answers.patient.given_name == person["given_name"] and answers.notes == "kept if anything fails"
    referral = (
        await session.execute(
            text("SELECT status, erased_at FROM referrals WHERE id = :id"), {"id": _db_id(session, created.referral.id)}
        )
    ).one()
    assert tuple(referral) == ("new", None)
    events = await session.execute(text("SELECT action FROM referral_events"))
    assert "erased" not in {row[0] for row in events}


def _db_id(session: AsyncSession, value: uuid.UUID) -> Any:
    # sa.Uuid is a native uuid on PostgreSQL and 32 hex characters on SQLite.
    return value if session.get_bind().dialect.name == "postgresql" else value.hex


def test_erased_triage_keeps_statistics_only() -> None:
    triage = {
        "ruleset_version": "7",
        "urgency": "urgent",
        "seek_professional_help": True,
        "red_flags": [{"code": "fever", "label": "Fever", "emergency": False}],
        "reasons": [{"rule": "RF-FEVER", "summary": "Fever with back pain", "sources": []}],
        "focus_areas": [{"code": "core_stability", "label": "Core", "why": "no strength work", "sources": []}],
        "advice": ["See a doctor today"],
        "disclaimer": "Not a diagnosis",
    }
    assert erased_triage(triage) == {"erased": True, "ruleset_version": "7", "urgency": "urgent", "rules": ["RF-FEVER"]}


@pytest.fixture
async def committed_clinic(database: Database) -> AsyncIterator[ClinicCreated]:
    """A committed clinic exporting to an address nothing listens on; deleted afterwards."""
    nowhere = {"base_url": "http://127.0.0.1:9/fhir", "auth": {"type": "none"}, "enabled": True}
    async with committed(database, nowhere) as clinic:
        yield clinic


async def test_the_worker_sends_nothing_of_an_erased_referral(
    database: Database, settings: Settings, committed_clinic: ClinicCreated
) -> None:
    async with database.sessionmaker() as session, session.begin():
        created = await submit(session, committed_clinic, patient())
        admin = await admin_of(session, committed_clinic)
        result = await privacy.erase(session, admin, ErasureIn(referral_id=created.referral.id, reason="r"))
        assert result.exports_stopped == 1
        assert await exports.delivery_bundle(session, committed_clinic.clinic_id, created.referral.id, None) is None
        # Someone retries the stopped export (or a worker had it in hand): it must still not go out.
        mine = select(col(ExportItem.id)).where(col(ExportItem.clinic_id) == committed_clinic.clinic_id)
        item_id = (await session.execute(mine)).scalar_one()
    async with database.sessionmaker() as session, session.begin():
        revived = await exports.retry(session, committed_clinic.clinic_id, item_id)
        assert revived.status == "pending"

    assert await Worker(database, settings).run(drain=True) >= 1

    async with database.sessionmaker() as session:
        item = (await session.execute(select(ExportItem).where(col(ExportItem.id) == item_id))).scalar_one()
    # Dead at once, not retried: nothing was sent (the address would have refused the connection).
    assert (item.status, item.last_error, item.attempts) == ("dead", "erased", 1)


async def test_an_export_a_worker_is_sending_is_left_to_it_and_reported(
    database: Database, settings: Settings, committed_clinic: ClinicCreated
) -> None:
    async with database.sessionmaker() as session, session.begin():
        created = await submit(session, committed_clinic, patient())
    async with database.sessionmaker() as session, session.begin():
        # A worker has the export in hand (leased) as the erasure happens: it may be on the wire.
        leased = await OutboxRepository(session).claim("busy-worker", utcnow(), timedelta(seconds=60), 10)
        assert [item.referral_id for item in leased] == [created.referral.id]
    async with database.sessionmaker() as session, session.begin():
        admin = await admin_of(session, committed_clinic)
        result = await privacy.erase(session, admin, ErasureIn(referral_id=created.referral.id, reason="r"))
    assert (result.exports_stopped, result.exports_in_flight) == (0, 1)
    async with database.sessionmaker() as session:
        item = (await session.execute(select(ExportItem).where(col(ExportItem.id) == leased[0].id))).scalar_one()
    # Still the worker's, so whatever it reports (delivered, or dead as erased on a later try) is the truth.
    assert (item.status, item.lease_owner) == ("pending", "busy-worker")


async def test_a_referral_does_not_reach_family_members_sharing_an_email(
    session: AsyncSession, clinic: ClinicCreated
) -> None:
    parent = await submit(session, clinic, patient(email="family@example.org", birth_date="1980-01-02"))
    child = await submit(session, clinic, patient(email="family@example.org", birth_date="2012-05-06"))
    again = await submit(session, clinic, {**patient(email="family@example.org"), "birth_date": "2012-05-06"})
    found = await privacy.find(session, clinic.clinic_id, RecordsIn(referral_id=child.referral.id))
    assert [a.id for a, _ in found.records] == [child.id]
    assert parent.id not in {a.id for a, _ in found.records} and again.id not in {a.id for a, _ in found.records}


async def test_chosen_intakes_are_exactly_those_and_only_this_clinics(
    session: AsyncSession, clinic: ClinicCreated
) -> None:
    mine = await submit(session, clinic, patient())
    other_clinic = await make_clinic(session)
    theirs = await submit(session, other_clinic, patient())
    found = await privacy.find(session, clinic.clinic_id, RecordsIn(intake_ids=[mine.id, theirs.id]))
    assert [a.id for a, _ in found.records] == [mine.id] and found.missing == [theirs.id]
