"""What is queued, when, for whom; and what a message says (nothing clinical)."""

import json
import uuid
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import event, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from services.clinics.schemas import ClinicCreated
from services.core import events
from services.core.db import utcnow
from services.core.principal import Principal
from services.notifications import message, repository
from services.notifications import service as notifications
from services.notifications.schemas import ItemQuery, SettingsIn
from services.referrals import service as referrals
from services.referrals.models import Referral
from services.referrals.schemas import UrgencyIn
from services.triage import service as triage
from services.triage.schemas import Answers
from tests.factories import TEST_SETTINGS, intake_body, make_clinic, make_user
from tests.notifications.conftest import announce, items, keys, submit

EMAILS = ["duty@clinic.example", "lead@clinic.example"]
HOOK = "http://hooks.clinic.example/backstride"


def destinations(referral_id: uuid.UUID, kind: str = "new") -> list[tuple[uuid.UUID, str, str, str]]:
    return sorted([(referral_id, kind, "email", e) for e in EMAILS] + [(referral_id, kind, "webhook", HOOK)])


async def test_emergency_and_urgent_are_queued_routine_and_self_care_are_not(
    session: AsyncSession, clinic: ClinicCreated
) -> None:
    await announce(session, clinic.clinic_id, EMAILS, HOOK)
    urgencies = ("emergency", "urgent", "routine", "self_care")
    made = {urgency: await submit(session, clinic, urgency) for urgency in urgencies}
    found = await items(session, clinic.clinic_id)
    assert keys(found) == sorted(destinations(made["emergency"]) + destinations(made["urgent"]))
    assert {(i.referral_id, i.urgency) for i in found} == {(made["emergency"], "emergency"), (made["urgent"], "urgent")}
    assert all(i.status == "pending" and i.attempts == 0 for i in found)


async def test_nothing_is_queued_while_disabled_or_unset(session: AsyncSession, clinic: ClinicCreated) -> None:
    await submit(session, clinic, "emergency")  # no settings at all
    await announce(session, clinic.clinic_id, EMAILS)
    body = SettingsIn.model_validate({"emails": EMAILS, "enabled": False})
    await notifications.put_settings(session, clinic.clinic_id, body, TEST_SETTINGS)
    await submit(session, clinic, "urgent")
    assert await items(session, clinic.clinic_id) == []


async def test_the_same_change_published_again_queues_nothing_twice(
    session: AsyncSession, clinic: ClinicCreated
) -> None:
    await announce(session, clinic.clinic_id, EMAILS, HOOK)
    referral_id = await submit(session, clinic, "emergency")
    change = events.ReferralChanged(clinic.clinic_id, referral_id, "referral.created", utcnow())
    await events.publish(session, change)
    await events.publish(session, change)
    assert keys(await items(session, clinic.clinic_id)) == destinations(referral_id)


async def test_a_persons_escalation_is_announced_once(session: AsyncSession, clinic: ClinicCreated) -> None:
    await announce(session, clinic.clinic_id, EMAILS, HOOK)
    user, _ = await make_user(session, clinic.slug, "physio")
    person = Principal(clinic_id=clinic.clinic_id, kind="user", scopes=frozenset(), user_id=user.id, label=user.email)
    referral_id = await submit(session, clinic, "routine")
    assert await items(session, clinic.clinic_id) == []

    version = 1
    for urgency in ("urgent", "emergency", "routine", "urgent"):  # up, further up, down, up again
        body = UrgencyIn(urgency=urgency, reason="phoned")
        changed = await referrals.change_urgency(session, person, referral_id, body, f'"{version}"')
        version = changed.version
    found = await items(session, clinic.clinic_id)
    assert keys(found) == destinations(referral_id)  # once, as urgent: the first time it was raised
    assert {i.urgency for i in found} == {"urgent"}


async def test_a_retriage_escalation_is_announced(session: AsyncSession, clinic: ClinicCreated) -> None:
    body = intake_body(history={"fever": True})
    referral_id = await submit(session, clinic, "urgent")  # the clinic announces nothing yet
    # As an older ruleset left it: routine, and not yet checked against today's rules.
    await session.execute(
        update(Referral)
        .where(col(Referral.id) == referral_id)
        .values(urgency="routine", urgency_rank=2, pathway="physiotherapy", ruleset_version="2026.01.0")
    )
    await announce(session, clinic.clinic_id, EMAILS)
    row = await session.get(Referral, referral_id, populate_existing=True)
    assert row is not None and row.urgency == "routine"
    answers = Answers.model_validate({k: v for k, v in body.items() if k not in ("patient", "consent")})
    result = triage.evaluate(answers, None, utcnow().date())
    assert await referrals.apply_retriage(session, clinic.clinic_id, row, result, utcnow()) == "escalated"
    found = await items(session, clinic.clinic_id)
    assert keys(found) == sorted((referral_id, "new", "email", e) for e in EMAILS)
    assert {i.urgency for i in found} == {"urgent"}


async def test_overdue_is_queued_once_for_open_emergency_and_urgent_only(
    session: AsyncSession, clinic: ClinicCreated
) -> None:
    await announce(session, clinic.clinic_id, EMAILS, HOOK)
    emergency = await submit(session, clinic, "emergency")  # due at once
    urgent = await submit(session, clinic, "urgent")  # due later today
    routine = await submit(session, clinic, "routine")
    taken = await submit(session, clinic, "emergency")
    await session.execute(update(Referral).where(col(Referral.id) == taken).values(status="accepted"))
    past = utcnow() - timedelta(minutes=1)
    await session.execute(update(Referral).where(col(Referral.id) == routine).values(due_at=past))

    await notifications.queue_overdue(session, utcnow())
    overdue = [i for i in await items(session, clinic.clinic_id) if i.kind == "overdue"]
    assert keys(overdue) == destinations(emergency, "overdue")  # urgent is not due yet; routine never

    await notifications.queue_overdue(session, utcnow() + timedelta(days=2))  # now the urgent one is late too
    await notifications.queue_overdue(session, utcnow() + timedelta(days=2))  # and again: nothing twice
    overdue = [i for i in await items(session, clinic.clinic_id) if i.kind == "overdue"]
    assert keys(overdue) == sorted(destinations(emergency, "overdue") + destinations(urgent, "overdue"))


async def test_each_clinic_sees_and_announces_only_its_own(session: AsyncSession, clinic: ClinicCreated) -> None:
    other = await make_clinic(session)
    await announce(session, clinic.clinic_id, EMAILS)
    quiet = await submit(session, other, "emergency")  # the other clinic announces nothing
    await notifications.queue_overdue(session, utcnow())
    mine = await submit(session, clinic, "emergency")
    assert {i.referral_id for i in await items(session, clinic.clinic_id)} == {mine}
    assert await items(session, other.clinic_id) == []
    assert quiet not in {i.referral_id for i in await items(session, clinic.clinic_id)}

    page = await notifications.list_items(session, other.clinic_id, ItemQuery())
    assert page.items == []
    [first, *_] = await items(session, clinic.clinic_id)
    with pytest.raises(notifications.NotificationItemNotFound):
        await notifications.retry(session, other.clinic_id, first.id)
    with pytest.raises(notifications.NotificationNotDead):
        await notifications.retry(session, clinic.clinic_id, first.id)
    assert (await notifications.get_settings(session, other.clinic_id)).enabled is False


async def test_a_message_carries_no_clinical_detail(session: AsyncSession, clinic: ClinicCreated) -> None:
    await announce(session, clinic.clinic_id, EMAILS, HOOK)
    referral_id = await submit(
        session,
        clinic,
        "emergency",
        patient={"given_name": "Zebediah", "family_name": "Quarrington", "birth_date": "1961-03-09"},
        notes="Legs gave way on the long run; wife says confused",
    )
    await notifications.queue_overdue(session, utcnow())
    found = await items(session, clinic.clinic_id)
    assert {i.kind for i in found} == {"new", "overdue"}
    link = f"http://127.0.0.1:8000/ui/referrals/{referral_id}"
    for item in found:
        url = message.link("http://127.0.0.1:8000", item.referral_id)
        letter = message.mail(item.id, item.target, item.kind, item.urgency, item.due_at, url)
        hook = message.webhook_body(
            item.id, item.clinic_id, item.referral_id, item.kind, item.urgency, item.due_at, url, utcnow()
        )
        body = json.loads(hook)
        assert set(body) == {"id", "type", "clinic_id", "referral_id", "urgency", "due_at", "link", "sent_at"}
        assert body["link"] == link and link in letter.text and body["urgency"] == "emergency"
        assert body["type"] == ("referral.overdue" if item.kind == "overdue" else "referral.emergency")
        assert letter.message_id == f"<{item.id}@backstride>"
        said = f"{letter.subject}\n{letter.text}\n{hook.decode()}".lower()
        for secret in ("zebediah", "quarrington", "1961", "legs gave way", "confused", "wife", "saddle", "numb",
                       "bladder", "cauda", "rf-", "runner", "female"):  # fmt: skip
            assert secret not in said, secret


async def test_the_overdue_scan_reads_the_open_urgent_index(session: AsyncSession) -> None:
    """The scan spans clinics: it must read the few open emergency and urgent referrals by due time
    (ix_referrals_open_urgent_due), never the whole table."""
    connection = await session.connection()
    captured: list[tuple[str, Any]] = []

    def grab(_conn: Any, _cursor: Any, statement: str, parameters: Any, _context: Any, _many: bool) -> None:
        if "FROM referrals" in statement:
            captured.append((statement, parameters))

    sync_engine = connection.sync_engine
    event.listen(sync_engine, "before_cursor_execute", grab)
    try:
        await referrals.open_urgent_past_due(session, utcnow(), repository.unannounced("overdue"), 10)
    finally:
        event.remove(sync_engine, "before_cursor_execute", grab)
    [(statement, parameters)] = captured
    if connection.dialect.name == "postgresql":
        await connection.exec_driver_sql("SET LOCAL enable_seqscan = off")  # an empty table is cheapest read whole
        plan = await connection.exec_driver_sql(f"EXPLAIN {statement}", parameters)
    else:
        plan = await connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", parameters)
    assert "ix_referrals_open_urgent_due" in "\n".join(str(row) for row in plan.all())
