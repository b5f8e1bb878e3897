"""The invitation page (/ui/invite/{token}) and the link's way to the invitee, over the test client."""

import re

import httpx
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession

from services.accounts import service as accounts
from services.clinics.schemas import ClinicCreated
from services.core.config import Settings
from tests.factories import make_user, ui_login
from tests.live import free_port

FORM_CSRF = re.compile(r'name="csrf" value="([^"]+)"')


async def admin_client(client: httpx.AsyncClient, session: AsyncSession, clinic: ClinicCreated) -> str:
    """Logs the client in as a clinic admin; the session's CSRF token."""
    admin, password = await make_user(session, clinic.slug, "clinic_admin")
    await ui_login(client, admin.email, password)
    found = FORM_CSRF.search((await client.get("/ui/admin/users")).text)
    assert found is not None
    return found.group(1)


async def test_when_sending_fails_the_admin_gets_the_link_once(
    app: FastAPI, client: httpx.AsyncClient, session: AsyncSession, clinic: ClinicCreated, settings: Settings
) -> None:
    app.state.settings = settings.model_copy(update={"smtp_host": "127.0.0.1", "smtp_port": free_port()})
    csrf = await admin_client(client, session, clinic)
    answer = await client.post("/ui/admin/users/invite", data={"csrf": csrf, "email": "p@example.org"})
    assert "No e-mail was sent to p@example.org: sending failed (could not connect)" in answer.text
    assert answer.headers["cache-control"] == "no-store"
    assert re.search(r'value="http://127\.0\.0\.1:8000/ui/invite/[A-Za-z0-9_-]{40,}"', answer.text)


async def test_the_invitation_form_needs_its_csrf_cookie_and_the_same_password_twice(
    app: FastAPI, client: httpx.AsyncClient, session: AsyncSession, clinic: ClinicCreated
) -> None:
    link = await accounts.invite(session, clinic.clinic_id, "invitee@example.org", "physio")
    path = f"/ui/invite/{link.token}"
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver") as invitee:
        page = await invitee.get(path)
        assert page.status_code == 200 and "invitee@example.org" in page.text
        csrf = FORM_CSRF.search(page.text)
        assert csrf is not None
        fields = {"password": "long-enough-pw", "confirm": "long-enough-pw", "csrf": csrf.group(1)}
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver") as stranger:
            forged = await stranger.post(path, data=fields)  # the token, but not the page's cookie
            assert forged.status_code == 403 and "That form had expired" in forged.text
        elsewhere = await invitee.post(path, data=fields, headers={"Origin": "https://evil.example"})
        assert elsewhere.status_code == 403

        def fresh(answer: httpx.Response) -> dict[str, str]:
            """Every form page comes with a new cookie and its token."""
            found = FORM_CSRF.search(answer.text)
            assert found is not None
            return {**fields, "csrf": found.group(1)}

        mismatch = await invitee.post(path, data={**fresh(elsewhere), "confirm": "something-else"})
        assert mismatch.status_code == 422 and "not the same" in mismatch.text
        short = await invitee.post(path, data={**fresh(mismatch), "password": "short", "confirm": "short"})
        assert short.status_code == 422 and "at least 10 characters" in short.text
        await accounts.link_user(session, link.token)  # none of these used the link up
        done = await invitee.post(path, data=fresh(short))
        assert done.status_code == 303 and done.headers["location"] == "/ui/login?msg=password-set"
        again = await invitee.get(path)
        assert again.status_code == 404 and "expired or has already been used" in again.text
        assert (await invitee.get("/ui/invite/made-up-token")).status_code == 404
    assert (await ui_login(client, "invitee@example.org", "long-enough-pw")).status_code == 303
