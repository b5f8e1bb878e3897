"""The admin console's notifications page: settings saved from a form, the webhook secret shown
once, a dead announcement retried, bad input said in words; and it is on the admin trail."""

import re

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from services.clinics.models import AdminEvent
from services.clinics.schemas import ClinicCreated
from services.intake import service as intake
from services.intake.schemas import IntakeIn
from services.notifications import service as notifications
from services.notifications.models import NotificationItem
from services.notifications.schemas import ItemQuery
from tests.factories import intake_body, make_user, secret_principal, ui_login
from tests.web.test_admin_access import csrf_of

PAGE = "/ui/admin/notifications"


async def admin_client(client: httpx.AsyncClient, session: AsyncSession, clinic: ClinicCreated) -> str:
    admin, password = await make_user(session, clinic.slug, "clinic_admin")
    assert (await ui_login(client, admin.email, password)).status_code == 303
    return await csrf_of(client, PAGE)


async def test_settings_are_saved_and_the_secret_is_shown_once(
    client: httpx.AsyncClient, session: AsyncSession, clinic: ClinicCreated
) -> None:
    csrf = await admin_client(client, session, clinic)
    made = await client.post(f"{PAGE}/secret", data={"csrf": csrf})
    assert made.status_code == 201
    secret = re.search(r'id="secret" readonly value="([^"]+)"', made.text)
    assert secret is not None and len(secret.group(1)) >= 32
    data = {"csrf": csrf, "emails": "Lead@Clinic.example\nduty@clinic.example", "webhook_url": "https://hooks.example/in",
            "enabled": "on"}  # fmt: skip
    saved = await client.post(PAGE, data=data)
    assert saved.status_code == 303 and "notifications-saved" in saved.headers["location"]
    current = await notifications.get_settings(session, clinic.clinic_id)
    assert current.emails == ["lead@clinic.example", "duty@clinic.example"] and current.enabled
    shown = (await client.get(PAGE)).text
    assert secret.group(1) not in shown and "Webhook signing secret: set" in shown
    events = await session.execute(select(col(AdminEvent.action)).where(col(AdminEvent.clinic_id) == clinic.clinic_id))
    assert {"notifications.changed", "notifications.secret_rotated"} <= set(events.scalars())


async def test_bad_input_is_said_in_words_and_nothing_is_saved(
    client: httpx.AsyncClient, session: AsyncSession, clinic: ClinicCreated
) -> None:
    csrf = await admin_client(client, session, clinic)
    bad = await client.post(PAGE, data={"csrf": csrf, "emails": "not an address", "enabled": "on"})
    assert bad.status_code == 422 and "Check the e-mail addresses" in bad.text
    nothing = await client.post(PAGE, data={"csrf": csrf, "emails": "", "enabled": "on"})
    assert nothing.status_code == 422 and "need an e-mail address or a webhook url" in nothing.text.lower()
    assert (await notifications.get_settings(session, clinic.clinic_id)).updated_at is None


async def test_a_dead_announcement_is_retried(
    client: httpx.AsyncClient, session: AsyncSession, clinic: ClinicCreated
) -> None:
    csrf = await admin_client(client, session, clinic)
    await client.post(PAGE, data={"csrf": csrf, "emails": "duty@clinic.example", "enabled": "on"})
    body = IntakeIn.model_validate(intake_body(neuro={"saddle_numbness": True}))
    await intake.submit(session, secret_principal(clinic), body, None)
    [item] = (
        await session.execute(select(NotificationItem).where(col(NotificationItem.clinic_id) == clinic.clinic_id))
    ).scalars()
    item.status, item.last_error = "dead", "SMTP 550: recipient refused"
    await session.flush()
    assert "SMTP 550: recipient refused" in (await client.get(PAGE)).text
    retried = await client.post(f"{PAGE}/{item.id}/retry", data={"csrf": csrf})
    assert retried.status_code == 303 and "notification-retried" in retried.headers["location"]
    assert (await notifications.list_items(session, clinic.clinic_id, ItemQuery(status="dead"))).items == []
    again = await client.post(f"{PAGE}/{item.id}/retry", data={"csrf": csrf})
    assert "notification-not-dead" in again.headers["location"]
