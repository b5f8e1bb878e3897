"""Delivery to a FHIR server the worker does not control: failures, crashes, two workers."""

import asyncio
import os
import signal
import subprocess
import sys
import time
import uuid
from datetime import timedelta

from sqlalchemy import func, select, update
from sqlmodel import col

from services.clinics.schemas import ClinicCreated
from services.core.config import Settings
from services.core.db import Database, utcnow
from services.core.principal import Principal
from services.export import service as export
from services.export.models import ExportItem, FhirIntegration
from services.export.schemas import ExportQuery
from services.export.worker import Worker
from services.referrals import service as referrals
from services.referrals.models import Referral
from tests.export.conftest import Receiver, submit_committed
from tests.factories import make_user

BACKSTRIDE = str(os.path.join(os.path.dirname(sys.executable), "backstride"))


async def statuses(database: Database, clinic: ClinicCreated) -> dict[str, int]:
    async with database.sessionmaker() as session:
        rows = await session.execute(
            select(col(ExportItem.status), func.count())
            .where(col(ExportItem.clinic_id) == clinic.clinic_id)
            .group_by(col(ExportItem.status))
        )
        return {status: count for status, count in rows.all()}


async def settle(database: Database, settings: Settings, clinic: ClinicCreated, within: float = 60) -> dict[str, int]:
    """Drain repeatedly (retries come due a little later) until nothing is pending."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        await Worker(database, settings).run(drain=True)
        counts = await statuses(database, clinic)
        if not counts.get("pending"):
            return counts
        await asyncio.sleep(0.05)
    raise AssertionError(f"exports still pending: {await statuses(database, clinic)}; {await unsent(database, clinic)}")


async def unsent(database: Database, clinic: ClinicCreated) -> dict[tuple[str, str | None], int]:
    """The clinic's items not delivered, counted by status and last error: what a failure says."""
    async with database.sessionmaker() as session:
        rows = await session.execute(
            select(col(ExportItem.status), col(ExportItem.last_error), func.count())
            .where(col(ExportItem.clinic_id) == clinic.clinic_id, col(ExportItem.status) != "delivered")
            .group_by(col(ExportItem.status), col(ExportItem.last_error))
        )
        return {(status, error): count for status, error, count in rows.all()}


async def test_hundred_referrals_delivered_exactly_once_through_a_flaky_receiver(
    database: Database, fast_settings: Settings, exporting_clinic: ClinicCreated, receiver: Receiver
) -> None:
    # Every 3rd request fails before the work, every 5th after it (the answer is lost).
    receiver.control(fail_every=3, fail_after_every=5)
    referral_ids = await submit_committed(database, exporting_clinic, 100)
    counts = await settle(database, fast_settings, exporting_clinic)
    assert counts == {"delivered": 100}
    state = receiver.state()
    assert state["requests"] > 100  # failures happened and were retried
    # ... and nothing was created twice: one of each resource per referral.
    assert state["resources"]["ServiceRequest"] == 100
    assert state["resources"]["Patient"] == 100
    assert state["resources"]["QuestionnaireResponse"] == 100
    assert state["resources"]["Observation"] == 300  # pain now, pain while running, triage urgency
    # ... and every referral's own: the ServiceRequests are stored under these referrals' ids.
    assert set(state["service_requests"]) == set(referral_ids)
    assert state["auth"] == ["Bearer rcv-token"]


async def test_a_server_working_one_transaction_at_a_time_gets_no_more_than_it_can_answer(
    database: Database, fast_settings: Settings, exporting_clinic: ClinicCreated, receiver: Receiver
) -> None:
    """CI once saw 36 exports die against Medplum's in-memory server, which works one transaction
    at a time: a batch sent all at once queued there past the HTTP timeout, each request that
    timed out was sent again while the server still worked on it, and attempts kept timing out.
    The worker keeps EXPORT_RECEIVER_CONCURRENCY transactions in flight per server."""
    receiver.control(one_at_a_time=True, delay=0.25)  # 24 at once would wait up to 6 s there
    settings = fast_settings.model_copy(
        update={"export_http_timeout_seconds": 2.5, "export_receiver_concurrency": 4, "export_max_attempts": 3}
    )
    referral_ids = await submit_committed(database, exporting_clinic, 24)
    assert await settle(database, settings, exporting_clinic) == {"delivered": 24}
    state = receiver.state()
    assert state["max_held"] == 4  # never more than four at the server, and four used
    assert state["requests"] == 24  # each sent once: none timed out
    assert set(state["service_requests"]) == set(referral_ids)


async def test_waiting_for_a_turn_at_the_server_is_not_an_attempt(
    database: Database, fast_settings: Settings, exporting_clinic: ClinicCreated, receiver: Receiver
) -> None:
    """One turn, 0.6 s a transaction, and a turn waited for a quarter of the 4 s lease at most:
    the third and fourth of a batch get none, go back untouched, and are sent in the next."""
    receiver.control(one_at_a_time=True, delay=0.6)
    settings = fast_settings.model_copy(update={"export_lease_seconds": 4, "export_receiver_concurrency": 1})
    await submit_committed(database, exporting_clinic, 4)
    assert await Worker(database, settings).run(drain=True) == 4  # the 2 given back are not attempts
    async with database.sessionmaker() as session:
        rows = await session.execute(
            select(col(ExportItem.status), col(ExportItem.attempts), col(ExportItem.last_error)).where(
                col(ExportItem.clinic_id) == exporting_clinic.clinic_id
            )
        )
        assert sorted(rows.all()) == [("delivered", 1, None)] * 4
    assert receiver.state()["requests"] == 4


async def test_status_changes_reach_the_receiver_without_duplicates(
    database: Database, fast_settings: Settings, exporting_clinic: ClinicCreated, receiver: Receiver
) -> None:
    [referral_id] = await submit_committed(database, exporting_clinic, 1)
    await settle(database, fast_settings, exporting_clinic)
    async with database.sessionmaker() as session, session.begin():
        physio, _ = await make_user(session, exporting_clinic.slug)
        principal = Principal(
            clinic_id=exporting_clinic.clinic_id, kind="user", scopes=frozenset(), user_id=physio.id, label=physio.email
        )
        await referrals.claim(session, principal, uuid.UUID(referral_id))
    assert await settle(database, fast_settings, exporting_clinic) == {"delivered": 2}
    state = receiver.state()
    assert state["resources"]["ServiceRequest"] == 1  # updated in place, not created again
    assert state["service_request_statuses"] == ["in_review"]


async def test_permanent_failure_ends_dead_and_retry_revives_it(
    database: Database, fast_settings: Settings, exporting_clinic: ClinicCreated, receiver: Receiver
) -> None:
    receiver.control(mode="down")
    await submit_committed(database, exporting_clinic, 1)
    counts = await settle(database, fast_settings, exporting_clinic)
    assert counts == {"dead": 1}
    async with database.sessionmaker() as session:
        [item] = (await export.list_exports(session, exporting_clinic.clinic_id, ExportQuery())).items
    assert item.attempts == fast_settings.export_max_attempts
    assert item.last_error and "HTTP 503" in item.last_error and item.next_attempt_at is None

    receiver.control(mode="ok")
    async with database.sessionmaker() as session, session.begin():
        revived = await export.retry(session, exporting_clinic.clinic_id, item.id)
    assert revived.status == "pending" and revived.attempts == 0
    assert await settle(database, fast_settings, exporting_clinic) == {"delivered": 1}


async def test_a_refused_bundle_is_not_retried_blindly(
    database: Database, fast_settings: Settings, exporting_clinic: ClinicCreated, receiver: Receiver
) -> None:
    receiver.control(mode="400")
    await submit_committed(database, exporting_clinic, 1)
    assert await settle(database, fast_settings, exporting_clinic) == {"dead": 1}
    async with database.sessionmaker() as session:
        [item] = (await export.list_exports(session, exporting_clinic.clinic_id, ExportQuery())).items
    assert item.attempts == 1
    assert item.last_error == (
        "HTTP 400: error invariant: Invalid code (at ServiceRequest.status); "
        "error structure: Missing required property (at Patient.name)"
    )


async def test_retry_after_is_honoured(
    database: Database, fast_settings: Settings, exporting_clinic: ClinicCreated, receiver: Receiver
) -> None:
    receiver.control(mode="429", retry_after="30")
    await submit_committed(database, exporting_clinic, 1)
    before = utcnow()
    await Worker(database, fast_settings).run(drain=True)
    async with database.sessionmaker() as session:
        [item] = (await export.list_exports(session, exporting_clinic.clinic_id, ExportQuery())).items
    assert item.status == "pending" and item.last_error == "HTTP 429"
    assert item.next_attempt_at is not None and item.next_attempt_at >= before + timedelta(seconds=29)


async def test_two_workers_never_deliver_one_export_at_the_same_time(
    settings: Settings, fast_settings: Settings, exporting_clinic: ClinicCreated, receiver: Receiver
) -> None:
    """Two workers, each with its own connections, drain one outbox side by side."""
    receiver.control(delay=0.02)
    first, second = Database(settings.database_url), Database(settings.database_url)
    try:
        await submit_committed(first, exporting_clinic, 40)
        small_batches = fast_settings.model_copy(update={"export_batch_size": 4})
        done = await asyncio.gather(
            Worker(first, small_batches).run(drain=True), Worker(second, small_batches).run(drain=True)
        )
        state = receiver.state()
        assert sum(done) == 40  # every export attempted once in all
        assert state["max_in_flight"] == 1
        assert sorted(state["delivered"].values()) == [1] * 40
        if not settings.is_sqlite:
            assert all(done), "on PostgreSQL both workers should have taken a share"
    finally:
        await first.dispose()
        await second.dispose()


def test_a_killed_worker_loses_nothing(
    settings: Settings, database: Database, exporting_clinic: ClinicCreated, receiver: Receiver
) -> None:
    """SIGKILL a worker while the receiver is holding its request; after the lease runs out,
    another worker delivers, and the receiver ends up with one of everything."""
    asyncio.run(submit_committed(Database(settings.database_url, pooled=False), exporting_clinic, 1))
    receiver.control(delay=30)
    env = {
        **os.environ,
        "DATABASE_URL": settings.database_url,
        "SECRET_KEY": settings.secret_key.get_secret_value(),
        "BACKSTRIDE_ENV": "test",
        "EXPORT_LEASE_SECONDS": "2",
        "EXPORT_RETRY_BASE_SECONDS": "0.01",
    }
    doomed = subprocess.Popen([BACKSTRIDE, "worker"], env=env)
    try:
        deadline = time.monotonic() + 90  # a loaded 2-core machine takes a while to start a process
        while receiver.state()["in_flight"] <= 0:
            assert time.monotonic() < deadline, "the worker never started delivering"
            time.sleep(0.05)
        doomed.send_signal(signal.SIGKILL)
        doomed.wait(timeout=10)
    finally:
        doomed.kill()
    receiver.control(delay=0)
    time.sleep(2.2)  # the dead worker's lease runs out
    rescue = subprocess.run([BACKSTRIDE, "worker", "--drain"], env=env, capture_output=True, text=True, timeout=60)
    assert rescue.returncode == 0, rescue.stderr
    state = receiver.state()
    assert list(state["delivered"].values()) == [1]  # the rescuer's delivery (the killed one never answered)
    assert state["resources"]["ServiceRequest"] == 1 and state["resources"]["Patient"] == 1
    counts = asyncio.run(statuses(Database(settings.database_url, pooled=False), exporting_clinic))
    assert counts == {"delivered": 1}


async def test_sigterm_finishes_the_delivery_in_hand(
    settings: Settings, database: Database, exporting_clinic: ClinicCreated, receiver: Receiver
) -> None:
    await submit_committed(database, exporting_clinic, 1)
    deadline = time.monotonic() + 30
    while receiver.state()["in_flight"] != 0:  # an earlier test's slow request must not pass for this one's
        assert time.monotonic() < deadline
        await asyncio.sleep(0.05)
    receiver.control(delay=1.5)
    env = {
        **os.environ,
        "DATABASE_URL": settings.database_url,
        "SECRET_KEY": settings.secret_key.get_secret_value(),
        "BACKSTRIDE_ENV": "test",
    }
    worker = subprocess.Popen([BACKSTRIDE, "worker"], env=env, stdout=subprocess.PIPE, text=True)  # noqa: ASYNC220
    deadline = time.monotonic() + 90
    while receiver.state()["in_flight"] <= 0:
        assert time.monotonic() < deadline
        await asyncio.sleep(0.05)
    worker.send_signal(signal.SIGTERM)
    out, _ = worker.communicate(timeout=30)
    assert worker.returncode == 0 and "stopped" in out
    assert await statuses(database, exporting_clinic) == {"delivered": 1}


async def test_nothing_is_queued_without_an_enabled_integration(
    database: Database, exporting_clinic: ClinicCreated
) -> None:
    await set_enabled(database, exporting_clinic, False)
    await submit_committed(database, exporting_clinic, 2)
    assert await statuses(database, exporting_clinic) == {}


async def test_disabled_integration_leaves_items_waiting(
    database: Database, fast_settings: Settings, exporting_clinic: ClinicCreated, receiver: Receiver
) -> None:
    await submit_committed(database, exporting_clinic, 2)
    await set_enabled(database, exporting_clinic, False)
    await Worker(database, fast_settings).run(drain=True)
    assert await statuses(database, exporting_clinic) == {"pending": 2}
    assert receiver.state()["requests"] == 0
    await set_enabled(database, exporting_clinic, True)
    assert await settle(database, fast_settings, exporting_clinic) == {"delivered": 2}


async def test_an_item_that_cannot_be_built_ends_dead_without_stopping_the_others(
    database: Database, fast_settings: Settings, exporting_clinic: ClinicCreated, receiver: Receiver
) -> None:
    _, bad = await submit_committed(database, exporting_clinic, 2)
    async with database.sessionmaker() as session, session.begin():
        # Corrupt one referral's stored triage: building its Bundle now raises.
        await session.execute(
            update(Referral).where(col(Referral.id) == uuid.UUID(bad)).values(triage={"broken": True})
        )
    counts = await settle(database, fast_settings, exporting_clinic)
    assert counts == {"delivered": 1, "dead": 1}
    async with database.sessionmaker() as session:
        items = (await export.list_exports(session, exporting_clinic.clinic_id, ExportQuery())).items
    dead = next(i for i in items if i.status == "dead")
    assert str(dead.referral_id) == bad and dead.last_error and "internal error" in dead.last_error


async def test_items_abandoned_by_dying_workers_are_buried(
    database: Database, fast_settings: Settings, exporting_clinic: ClinicCreated, receiver: Receiver
) -> None:
    await submit_committed(database, exporting_clinic, 1)
    async with database.sessionmaker() as session, session.begin():
        # As if every attempt so far had been claimed by a worker that then died.
        await session.execute(
            update(ExportItem)
            .where(col(ExportItem.clinic_id) == exporting_clinic.clinic_id)
            .values(
                attempts=fast_settings.export_max_attempts,
                lease_until=utcnow() - timedelta(seconds=1),
                lease_owner="gone",
            )
        )
    await Worker(database, fast_settings).run(drain=True)
    assert await statuses(database, exporting_clinic) == {"dead": 1}
    assert receiver.state()["requests"] == 0


async def set_enabled(database: Database, clinic: ClinicCreated, enabled: bool) -> None:
    async with database.sessionmaker() as session, session.begin():
        await session.execute(
            update(FhirIntegration).where(col(FhirIntegration.clinic_id) == clinic.clinic_id).values(enabled=enabled)
        )
