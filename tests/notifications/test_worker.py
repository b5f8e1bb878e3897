"""Sending to a real SMTP server process and a webhook receiver process that the notifier does
not control: failures, a killed worker, a wrong secret, the outbound guard."""

import asyncio
import os
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import delete
from sqlmodel import col

from services.clinics.models import Clinic
from services.clinics.schemas import ClinicCreated
from services.core.config import Settings
from services.core.db import Database
from services.notifications import service as notifications
from services.notifications.models import NotificationItem
from services.notifications.worker import Notifier
from tests.factories import committed_clinic, make_clinic
from tests.live import serve
from tests.mail import SmtpServer, smtp_server
from tests.notifications.conftest import announce, items, submit

BACKSTRIDE = str(os.path.join(os.path.dirname(sys.executable), "backstride"))
EMAILS = ["duty@clinic.example", "lead@clinic.example"]
PATIENT = {"given_name": "Zebediah", "family_name": "Quarrington"}


@dataclass
class Hook:
    base: str

    @property
    def url(self) -> str:
        return f"{self.base}/hook"

    def control(self, **values: Any) -> None:
        httpx.post(f"{self.base}/_control", json=values).raise_for_status()

    def state(self) -> dict[str, Any]:
        response = httpx.get(f"{self.base}/_state")
        response.raise_for_status()
        found: dict[str, Any] = response.json()
        return found


@pytest.fixture(scope="session")
def hook_process() -> Iterator[Hook]:
    with serve({}, app="tests.webhook_receiver:app") as base:
        yield Hook(base)


@pytest.fixture
def hook(hook_process: Hook) -> Hook:
    httpx.post(f"{hook_process.base}/_reset").raise_for_status()
    return hook_process


@pytest.fixture
def smtp(tmp_path: Path) -> Iterator[SmtpServer]:
    with smtp_server(tmp_path) as server:
        yield server


@pytest.fixture
def fast(settings: Settings, smtp: SmtpServer) -> Settings:
    """Retries in milliseconds, e-mail to the test SMTP server."""
    fast = {"notify_retry_base_seconds": 0.01, "notify_retry_max_seconds": 0.05, "notify_max_attempts": 20}
    return settings.model_copy(update={"smtp_host": "127.0.0.1", "smtp_port": smtp.port, **fast})


@asynccontextmanager
async def announcing(
    database: Database, hook: Hook, emails: list[str] = EMAILS, webhook: str | None = ""
) -> AsyncIterator[ClinicCreated]:
    """A committed clinic announcing to `emails` and the receiver (or `webhook`); deleted afterwards."""
    async with committed_clinic(database) as clinic:
        async with database.sessionmaker() as session, session.begin():
            secret = await announce(session, clinic.clinic_id, emails, hook.url if webhook == "" else webhook)
        hook.control(secret=secret or "")
        yield clinic


async def emergencies(database: Database, clinic: ClinicCreated, count: int) -> list[uuid.UUID]:
    made = []
    for _ in range(count):
        async with database.sessionmaker() as session, session.begin():
            made.append(await submit(session, clinic, "emergency", patient=PATIENT))
    return made


async def outbox(database: Database, clinic: ClinicCreated) -> list[NotificationItem]:
    async with database.sessionmaker() as session:
        return await items(session, clinic.clinic_id)


async def statuses(database: Database, clinic: ClinicCreated) -> dict[str, int]:
    return dict(Counter(i.status for i in await outbox(database, clinic)))


async def settle(database: Database, settings: Settings, clinic: ClinicCreated, within: float = 60) -> dict[str, int]:
    """Drain repeatedly (retries come due a little later) until nothing is pending."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        await Notifier(database, settings).run(drain=True)
        counts = await statuses(database, clinic)
        if not counts.get("pending"):
            return counts
        await asyncio.sleep(0.05)
    raise AssertionError(f"notifications still pending: {await statuses(database, clinic)}")


def check_sent_once(found: list[NotificationItem], smtp: SmtpServer, hook: Hook) -> None:
    """Every item delivered, and each one reached its destination as one message: e-mails
    de-duplicated by Message-ID, webhooks by X-Backstride-Delivery."""
    assert {i.status for i in found} == {"delivered"}
    mails = smtp.messages()
    email_items = {f"<{i.id}@backstride>": i for i in found if i.channel == "email"}
    assert {m["message_id"] for m in mails} == set(email_items)  # distinct ids delivered == items
    for m in mails:
        item = email_items[m["message_id"]]
        assert m["to"] == [item.target] and m["subject"].startswith("Overdue" if item.kind == "overdue" else "New")
        assert f"/ui/referrals/{item.referral_id}" in m["text"]
    distinct = [email_items[message_id] for message_id in {m["message_id"] for m in mails}]
    sent = Counter((i.referral_id, i.kind, i.target) for i in distinct)
    assert set(sent.values()) == {1}  # one "New ..." and one "Overdue ..." per address and referral
    state = hook.state()
    webhook_items = {str(i.id) for i in found if i.channel == "webhook"}
    assert sorted(state["processed"]) == sorted(webhook_items)
    assert set(state["receipts"]) == webhook_items and all(n >= 1 for n in state["receipts"].values())
    assert state["bad_signatures"] == 0


async def test_an_emergency_is_one_email_per_address_and_one_webhook(
    database: Database, fast: Settings, hook: Hook, smtp: SmtpServer
) -> None:
    async with announcing(database, hook) as clinic:
        [referral_id] = await emergencies(database, clinic, 1)
        assert await settle(database, fast, clinic) == {"delivered": 6}  # new and overdue, 3 destinations each
        found = await outbox(database, clinic)
        check_sent_once(found, smtp, hook)
        state = hook.state()
        assert list(state["receipts"].values()) == [1, 1]
        link = f"{fast.public_base_url}/ui/referrals/{referral_id}"
        assert {b["type"] for b in state["bodies"]} == {"referral.emergency", "referral.overdue"}
        for body in state["bodies"]:
            assert body["link"] == link and body["referral_id"] == str(referral_id)
            assert body["clinic_id"] == str(clinic.clinic_id) and body["urgency"] == "emergency"
        for mail in smtp.messages():
            assert link in mail["text"] and "Quarrington" not in mail["text"] and "Zebediah" not in mail["text"]
        assert sorted(m["subject"] for m in smtp.messages()) == sorted(
            ["New emergency referral"] * 2 + ["Overdue emergency referral: not yet taken"] * 2
        )


async def test_receivers_failing_a_third_of_the_time_still_get_one_of_each(
    database: Database, fast: Settings, hook: Hook, tmp_path: Path
) -> None:
    with smtp_server(tmp_path, fail_every=3) as flaky:
        hook.control(fail_every=3, fail_after_every=5)  # before the work, and after it (the answer lost)
        settings = fast.model_copy(update={"smtp_port": flaky.port})
        async with announcing(database, hook) as clinic:
            await emergencies(database, clinic, 5)
            assert await settle(database, settings, clinic) == {"delivered": 30}
            found = await outbox(database, clinic)
            check_sent_once(found, flaky, hook)
            assert any(i.attempts > 1 for i in found)  # failures happened and were retried
            state = hook.state()
            assert sum(state["receipts"].values()) > len(state["processed"])  # re-sent after a lost answer...
            assert len(state["processed"]) == 10  # ... and de-duplicated by its id


def test_a_killed_worker_loses_nothing_and_sends_nothing_twice(
    settings: Settings, database: Database, hook: Hook, smtp: SmtpServer
) -> None:
    """SIGKILL `backstride notifier` while the receiver holds its request; started again, it
    finishes: every item delivered, one message per id."""

    async def prepare() -> ClinicCreated:
        db = Database(settings.database_url, pooled=False)
        try:
            async with db.sessionmaker() as session, session.begin():
                clinic = await make_clinic(session)
                secret = await announce(session, clinic.clinic_id, EMAILS, hook.url)
            hook.control(secret=secret or "")
            await emergencies(db, clinic, 3)
            return clinic
        finally:
            await db.dispose()

    clinic = asyncio.run(prepare())
    hook.control(delay=3)
    env = {**os.environ, "DATABASE_URL": settings.database_url, "SECRET_KEY": settings.secret_key.get_secret_value(),
           "BACKSTRIDE_ENV": "test", "SMTP_HOST": "127.0.0.1", "SMTP_PORT": str(smtp.port),
           "NOTIFY_LEASE_SECONDS": "2", "NOTIFY_RETRY_BASE_SECONDS": "0.01", "NOTIFY_RETRY_MAX_SECONDS": "0.05",
           "NOTIFY_MAX_ATTEMPTS": "20", "NOTIFY_POLL_SECONDS": "0.1"}  # fmt: skip
    try:
        doomed = subprocess.Popen([BACKSTRIDE, "notifier"], env=env)
        try:
            deadline = time.monotonic() + 30
            while hook.state()["in_flight"] == 0:
                assert time.monotonic() < deadline, "the notifier never started sending"
                time.sleep(0.02)
            doomed.send_signal(signal.SIGKILL)
            doomed.wait(timeout=10)
        finally:
            doomed.kill()
        hook.control(delay=0)
        again = subprocess.Popen([BACKSTRIDE, "notifier"], env=env, stdout=subprocess.PIPE, text=True)
        try:
            deadline = time.monotonic() + 60
            while (counts := asyncio.run(_statuses(settings, clinic))).get("pending") or not counts:
                assert time.monotonic() < deadline, f"still pending: {counts}"
                time.sleep(0.2)
        finally:
            again.send_signal(signal.SIGTERM)
            out, _ = again.communicate(timeout=30)
        assert again.returncode == 0 and "stopped" in out
        deadline = time.monotonic() + 30
        while hook.state()["in_flight"]:  # the killed worker's request, still held by the receiver
            assert time.monotonic() < deadline
            time.sleep(0.05)
        found = asyncio.run(_outbox(settings, clinic))
        assert len(found) == 18  # 3 referrals, new and overdue, 3 destinations
        check_sent_once(found, smtp, hook)
        assert max(i.attempts for i in found) >= 2  # the killed worker's items were taken again
        # The request the killed worker made was done by the receiver, and sent again under the
        # same id: two receipts, one delivery.
        assert sorted(hook.state()["receipts"].values())[-1] == 2
    finally:
        asyncio.run(_delete(settings, clinic))


async def _statuses(settings: Settings, clinic: ClinicCreated) -> dict[str, int]:
    db = Database(settings.database_url, pooled=False)
    try:
        return await statuses(db, clinic)
    finally:
        await db.dispose()


async def _outbox(settings: Settings, clinic: ClinicCreated) -> list[NotificationItem]:
    db = Database(settings.database_url, pooled=False)
    try:
        return await outbox(db, clinic)
    finally:
        await db.dispose()


async def _delete(settings: Settings, clinic: ClinicCreated) -> None:
    db = Database(settings.database_url, pooled=False)
    try:
        async with db.sessionmaker() as session, session.begin():
            await session.execute(delete(Clinic).where(col(Clinic.id) == clinic.clinic_id))
    finally:
        await db.dispose()


async def test_a_wrong_secret_is_refused_by_the_receiver(database: Database, fast: Settings, hook: Hook) -> None:
    async with announcing(database, hook, emails=[]) as clinic:
        hook.control(secret="whsec_not-the-one-backstride-made")
        await emergencies(database, clinic, 1)
        assert await settle(database, fast, clinic) == {"dead": 2}
        state = hook.state()
        assert state["bad_signatures"] == 2 and state["processed"] == []
        found = await outbox(database, clinic)
        assert {(i.last_error, i.attempts) for i in found} == {("HTTP 401", 1)}  # refused: not retried blindly

        async with database.sessionmaker() as session, session.begin():
            secret = (await notifications.rotate_secret(session, clinic.clinic_id, fast)).secret
            for item in found:
                await notifications.retry(session, clinic.clinic_id, item.id)
        hook.control(secret=secret)
        assert await settle(database, fast, clinic) == {"delivered": 2}
        assert len(hook.state()["processed"]) == 2


async def test_an_unreachable_webhook_says_only_could_not_connect(
    database: Database, fast: Settings, hook: Hook
) -> None:
    settings = fast.model_copy(update={"notify_max_attempts": 2})
    async with announcing(database, hook, emails=[], webhook="http://127.0.0.1:9/hook") as clinic:
        await emergencies(database, clinic, 1)
        assert await settle(database, settings, clinic) == {"dead": 2}
        errors = {i.last_error for i in await outbox(database, clinic)}
        assert errors == {"could not connect (gave up after 2 attempts)"}


async def test_in_production_a_private_webhook_is_refused_at_delivery(
    database: Database, fast: Settings, hook: Hook
) -> None:
    """Set before production (or resolving differently now): refused when sending, as FHIR exports are."""
    production = fast.model_copy(update={"environment": "production", "notify_max_attempts": 1})
    https_private = hook.url.replace("http://", "https://")
    async with announcing(database, hook, emails=[], webhook=https_private) as clinic:
        await emergencies(database, clinic, 1)
        assert await settle(database, production, clinic) == {"dead": 2}
        errors = {i.last_error for i in await outbox(database, clinic)}
        assert errors == {"could not connect (gave up after 1 attempts)"}
    async with announcing(database, hook, emails=[]) as clinic:  # plain http
        await emergencies(database, clinic, 1)
        assert await settle(database, production, clinic) == {"dead": 2}
        assert {i.last_error for i in await outbox(database, clinic)} == {"the URL must use https"}
    assert hook.state()["requests"] == 0
