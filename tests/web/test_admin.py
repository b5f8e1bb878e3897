"""The clinic admin console as an admin uses it, in headless Chromium against a live server that
mails through a real SMTP server process and exports to a real FHIR receiver process. axe-core
checks every admin page and the invitation page; screenshots go to artifacts/screenshots/."""

import re
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from playwright.async_api import Browser, Page, expect
from sqlalchemy import select
from sqlmodel import col

from services.core.config import Settings
from services.core.db import Database
from services.export.models import ExportItem
from services.export.worker import Worker
from tests.export.conftest import Receiver
from tests.factories import intake_body, make_user
from tests.live import free_port, serve
from tests.mail import SmtpServer, smtp_server
from tests.web.conftest import Site
from tests.web.test_browser import axe_ready_page, axe_violations, shot

PUBLIC = "https://backstride.example"  # PUBLIC_BASE_URL: links and snippets are made with it


@pytest.fixture
def smtp(tmp_path: Path) -> Iterator[SmtpServer]:
    with smtp_server(tmp_path) as server:
        yield server


@pytest.fixture
def server(settings: Settings, smtp: SmtpServer) -> Iterator[str]:
    """The app with SMTP_* pointing at the test's SMTP server (overrides tests/web/conftest's)."""
    env = {"DATABASE_URL": settings.database_url, "SECRET_KEY": settings.secret_key.get_secret_value(),
           "BACKSTRIDE_ENV": "test", "SMTP_HOST": "127.0.0.1", "SMTP_PORT": str(smtp.port),
           "PUBLIC_BASE_URL": PUBLIC}  # fmt: skip
    with serve(env) as base:
        yield base


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    with serve({}, app="tests.fhir_receiver:app") as base:
        yield Receiver(base)


@pytest.fixture
async def admin_page(browser: Browser, site: Site, database: Database) -> AsyncIterator[Page]:
    """A clinic admin of the site's clinic, logged in, on the admin console."""
    async with database.sessionmaker() as session, session.begin():
        admin, password = await make_user(session, site.clinic.slug, "clinic_admin")
    page = await axe_ready_page(browser)
    await log_in(page, site.api, admin.email, password)
    await page.click("text=Admin")
    await expect(page.locator("h1")).to_have_text("Users")
    yield page
    await page.context.close()


async def log_in(page: Page, base: str, email: str, password: str) -> None:
    await page.goto(f"{base}/ui/login")
    await page.fill("#email", email)
    await page.fill("#password", password)
    await page.click("button[type=submit]")
    await expect(page.locator("h1")).to_have_text("Referral queue")


async def checked(page: Page, name: str) -> None:
    """No serious or critical axe-core violation on the page as it is now, and its screenshot."""
    assert await axe_violations(page) == [], name
    await shot(page, name)


async def test_admin_invites_a_physio_who_sets_a_password_and_logs_in(
    browser: Browser, site: Site, admin_page: Page, smtp: SmtpServer
) -> None:
    page = admin_page
    await checked(page, "admin-users")
    await page.fill("#invite-email", "new.physio@riverside.example")
    await page.select_option("#invite-role", "physio")
    await page.click("text=Send invitation")
    await expect(page.locator("#link-sent")).to_contain_text("Invitation sent to new.physio@riverside.example")
    await expect(page.locator("#one-time-link")).to_have_count(0)  # mailed, so not shown
    await expect(page.locator("#users")).to_contain_text("Link sent, works until")
    await expect(page.locator("#admin-trail")).to_contain_text("user invited")
    await checked(page, "admin-users-invited")
    [message] = smtp.wait_for(1)
    assert message["to"] == ["new.physio@riverside.example"]
    assert "invited you to" in message["text"] and "works once" in message["text"]
    found = re.search(rf"{re.escape(PUBLIC)}(/ui/invite/[A-Za-z0-9_-]+)", message["text"])
    assert found is not None, message["text"]

    # The physio, in a browser of their own, follows the link (on this server).
    invitee = await axe_ready_page(browser)
    await invitee.goto(site.api + found.group(1))
    await expect(invitee.locator("#invitee")).to_have_text("new.physio@riverside.example")
    await checked(invitee, "invite-set-password")
    await invitee.fill("#password", "my-own-password-1")
    await invitee.fill("#confirm", "not-the-same-password")
    await invitee.click("text=Set password")
    await expect(invitee.locator("#form-error")).to_have_text("The two passwords are not the same.")
    await checked(invitee, "invite-mismatch")
    await invitee.fill("#password", "my-own-password-1")
    await invitee.fill("#confirm", "my-own-password-1")
    await invitee.click("text=Set password")
    await expect(invitee.locator("#flash")).to_contain_text("Your password is set")
    await log_in(invitee, site.api, "new.physio@riverside.example", "my-own-password-1")
    await expect(invitee.locator("header nav")).not_to_contain_text("Admin")  # a physio's header
    # The link worked once.
    await invitee.goto(site.api + found.group(1))
    await expect(invitee.locator("#invalid")).to_contain_text("expired or has already been used")
    await checked(invitee, "invite-used")
    await page.reload()
    await expect(page.locator("#users")).not_to_contain_text("Link sent")
    await invitee.context.close()


async def test_admin_creates_a_key_sees_it_once_and_revokes_it_and_edits_origins(site: Site, admin_page: Page) -> None:
    page = admin_page
    await page.click("nav[aria-label='Admin console'] >> text=API keys")
    await checked(page, "admin-keys")
    await page.select_option("#kind", "secret")
    await page.click("text=Create key")
    key = await page.locator("#new-key-value").input_value()
    assert key.startswith("sk_") and len(key) > 40
    await checked(page, "admin-keys-created")
    async with httpx.AsyncClient(base_url=site.api) as http:
        assert (await http.get("/v1/referrals", headers={"Authorization": f"Bearer {key}"})).status_code == 200
        await page.goto(f"{site.api}/ui/admin/keys")  # shown once: never again
        await expect(page.locator("#new-key")).to_have_count(0)
        assert key not in await page.content()
        row = page.locator("#keys tr", has_text=key[:11])
        await row.locator("button", has_text="Revoke").click()
        await expect(page.locator("#flash")).to_contain_text("Key revoked")
        await expect(page.locator("#keys tr", has_text=key[:11])).to_contain_text("Revoked")
        assert (await http.get("/v1/referrals", headers={"Authorization": f"Bearer {key}"})).status_code == 401

    await page.click("nav[aria-label='Admin console'] >> text=Allowed origins")
    await expect(page.locator("#origins")).to_have_value(site.host)
    await checked(page, "admin-origins")
    await page.fill("#origins", f"{site.host}\nhttps://www.riverside.example/")
    await page.click("text=Save origins")
    await expect(page.locator("#flash")).to_contain_text("Allowed origins saved")
    await expect(page.locator("#origins")).to_have_value(f"{site.host}\nhttps://www.riverside.example")
    await page.fill("#origins", "not an origin")
    await page.click("text=Save origins")
    await expect(page.locator("#origins-error")).to_contain_text("not an origin")
    await checked(page, "admin-origins-error")

    await page.click("nav[aria-label='Admin console'] >> text=Embed snippet")
    await checked(page, "admin-embed")
    await page.click("text=Make a snippet with a new publishable key")
    snippet = await page.locator("#snippet").input_value()
    expected = rf'<script src="{re.escape(PUBLIC)}/embed\.js" data-key="(pk_[A-Za-z0-9_-]+)"></script>'
    found = re.fullmatch(expected, snippet)
    assert found is not None, snippet
    await checked(page, "admin-embed-snippet")
    async with httpx.AsyncClient(base_url=site.api) as http:  # the key in the snippet draws the form
        assert (await http.get("/embed/form", params={"key": found.group(1)})).status_code == 200


async def test_admin_tests_the_integration_and_retries_a_dead_export(
    site: Site, admin_page: Page, receiver: Receiver, database: Database, settings: Settings
) -> None:
    page = admin_page
    async with httpx.AsyncClient() as http:
        (await http.post(f"{receiver.base}/_reset")).raise_for_status()
    await page.click("nav[aria-label='Admin console'] >> text=FHIR integration")
    await expect(page.locator("#no-integration")).to_be_visible()
    await checked(page, "admin-integration-empty")
    await page.fill("#base_url", f"{receiver.base}/fhir")
    await page.check("#auth-bearer")
    await page.fill("#token", "rcv-token")
    await page.check("#enabled")
    await page.click("text=Save integration")
    await expect(page.locator("#flash")).to_contain_text("FHIR integration saved")
    await expect(page.locator("#integration-state")).to_contain_text("A token is stored (never shown)")
    assert "rcv-token" not in await page.content()
    await page.click("text=Test connection")
    connected = "Test connection: connected (FHIR 4.0.1, Test receiver 1.0)"
    await expect(page.locator("#test-result")).to_have_text(connected)
    assert receiver.state()["auth"] == ["Bearer rcv-token"]  # with the integration's credentials
    await checked(page, "admin-integration-connected")

    # A port nobody listens on: said as the export says it, nothing more.
    await page.fill("#base_url", f"http://127.0.0.1:{free_port()}/fhir")
    await page.click("text=Save integration")  # the token field left empty keeps the token
    await page.click("text=Test connection")
    await expect(page.locator("#test-result")).to_have_text("Test connection: could not connect")
    await checked(page, "admin-integration-failed")

    # Back to the receiver, which now refuses what it is sent: the export goes dead.
    await page.fill("#base_url", f"{receiver.base}/fhir")
    await page.click("text=Save integration")
    receiver.control(mode="400")
    async with httpx.AsyncClient(base_url=site.api) as http:
        headers = {"Authorization": f"Bearer {site.clinic.secret_key}"}
        assert (await http.post("/v1/intakes", json=intake_body(), headers=headers)).status_code == 201
    await Worker(database, settings).run(drain=True)
    await page.click("nav[aria-label='Admin console'] >> text=Exports")
    dead = page.locator("#dead")
    await expect(dead).to_contain_text("HTTP 400: error invariant: Invalid code (at ServiceRequest.status)")
    await checked(page, "admin-exports-dead")
    receiver.control(mode="ok")
    await dead.locator("button", has_text="Retry").click()
    await expect(page.locator("#flash")).to_contain_text("pending again")
    await expect(page.locator("#no-dead")).to_be_visible()
    await expect(page.locator("#pending")).to_contain_text("created")
    await checked(page, "admin-exports-retried")
    await Worker(database, settings).run(drain=True)
    async with database.sessionmaker() as session:
        statuses = await session.execute(
            select(col(ExportItem.status)).where(col(ExportItem.clinic_id) == site.clinic.clinic_id)
        )
        assert list(statuses.scalars()) == ["delivered"]
    await page.click("nav[aria-label='Admin console'] >> text=Users")
    trail = page.locator("#admin-trail")
    await expect(trail).to_contain_text("export retried")
    await expect(trail).to_contain_text(f"{receiver.base}/fhir (bearer, enabled)")


async def test_admin_sets_where_emergencies_are_announced(admin_page: Page, site: Site) -> None:
    page = admin_page
    await page.click("nav[aria-label='Admin console'] >> text=Notifications")
    await expect(page.locator("h1")).to_have_text("Notifications")
    await checked(page, "admin-notifications")
    await page.click("text=Make a new signing secret")
    secret = await page.locator("#secret").input_value()
    assert len(secret) >= 32
    await checked(page, "admin-notifications-secret")
    await page.fill("#emails", "duty@clinic.example")
    await page.fill("#webhook_url", "https://hooks.example/backstride")
    await page.check("input[name=enabled]")
    await page.click("text=Save")
    await expect(page.locator("#flash")).to_contain_text("Notification settings saved")
    await expect(page.locator("#emails")).to_have_value("duty@clinic.example")
    assert secret not in await page.content()  # shown once, on the page that made it
    await checked(page, "admin-notifications-saved")
