"""CSRF on the physio UI: every form refuses a missing token, a wrong one and another session's,
and changes nothing when it does; the same post with its own session's token gets through. The
forms are taken from the app's router, so a new one cannot be left out (it fails here until it is
listed in FORMS with what it sends). The login and invitation pages, before any session, bind
their tokens to a cookie of their own."""

import re
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from fastapi import FastAPI
from fastapi.routing import iter_route_contexts
from sqlalchemy import Table, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import SQLModel, col

from services.accounts import service as accounts
from services.accounts.models import AuthSession, Invitation, User
from services.clinics import service as clinics
from services.clinics.models import AdminEvent, ApiKey, Clinic
from services.clinics.schemas import ClinicCreated
from services.core.db import utcnow
from services.export.models import ExportItem, FhirIntegration
from services.notifications.models import NotificationItem, NotificationSettings
from services.referrals.models import Referral, ReferralEvent
from tests.factories import make_dead_export, make_user, ui_login

TOKEN = re.compile(r'name="csrf" value="([^"]+)"')
STATE_CHANGING = {"POST", "PUT", "PATCH", "DELETE"}
# Pre-session forms: their token is bound to a cookie of the page's own (tested below, apart).
PRE_SESSION = {"/ui/login", "/ui/invite/{token}"}
# The actions a route with an {action} in its path takes (the rest are "nothing" or 404).
ACTIONS = {
    "/ui/referrals/{referral_id}/{action}": ["claim", "urgency", "transition", "note"],
    "/ui/admin/users/{user_id}/{action}": ["role", "disable", "enable", "reset"],
}
# Every form of a logged-in session, with what it sends besides its token: enough for it to do
# its work when the token is right. A route the router has and this lacks fails the test.
FORMS: dict[str, dict[str, str]] = {
    "/ui/logout": {},
    "/ui/referrals/{referral_id}/claim": {},
    "/ui/referrals/{referral_id}/urgency": {"to": "urgent", "note": "Pain at night since Monday"},
    "/ui/referrals/{referral_id}/transition": {"to": "accepted", "note": "Booked"},
    "/ui/referrals/{referral_id}/note": {"note": "Called the patient"},
    "/ui/admin/users/invite": {"email": "invited@example.org", "role": "physio"},
    "/ui/admin/users/{user_id}/role": {"role": "clinic_admin"},
    "/ui/admin/users/{user_id}/disable": {},
    "/ui/admin/users/{user_id}/enable": {},
    "/ui/admin/users/{user_id}/reset": {},
    "/ui/admin/keys": {"kind": "secret"},
    "/ui/admin/keys/{key_id}/revoke": {},
    "/ui/admin/origins": {"origins": "https://other.example"},
    "/ui/admin/integration": {"base_url": "https://ehr.example/fhir", "auth_type": "none"},
    "/ui/admin/integration/test": {},
    "/ui/admin/exports/{export_id}/retry": {},
    "/ui/admin/embed": {},
    "/ui/admin/notifications": {"emails": "duty@clinic.example", "enabled": "on"},
    "/ui/admin/notifications/secret": {},
    "/ui/admin/notifications/{item_id}/retry": {},
}
# Forms that store nothing even when they work: the connection test only calls the EHR.
CHANGES_NOTHING = {"/ui/admin/integration/test"}
FOREIGN = "https://evil.example"
VERSIONED = {"/ui/referrals/{referral_id}/urgency", "/ui/referrals/{referral_id}/transition"}


def ui_forms(app: FastAPI) -> list[tuple[str, str]]:
    """(method, path template) of every state-changing route under /ui, from the app's router,
    with each {action} spelled out."""
    found = []
    for route in iter_route_contexts(app.routes):  # included routers' routes too, at their full paths
        path = route.path or ""
        if not (path == "/ui" or path.startswith("/ui/")):
            continue
        for method in sorted(set(route.methods or ()) & STATE_CHANGING):
            if "{action}" in path:
                assert path in ACTIONS, f"{method} {path}: list its actions in ACTIONS"
                found += [(method, path.replace("{action}", action)) for action in ACTIONS[path]]
            else:
                found.append((method, path))
    return found


def refused_for_csrf(response: httpx.Response) -> bool:
    """The UI's answer to a form that is not the session's own: back to the page with "That form
    had expired" (303, msg=expired), or that page itself (403)."""
    if response.status_code == 303:
        return parse_qs(urlsplit(response.headers["location"]).query).get("msg") == ["expired"]
    return response.status_code == 403 and "form had expired" in response.text


# The clinic's whole state a UI form could change, table by table.
CLINIC_TABLES: list[type[SQLModel]] = [
    AdminEvent, ApiKey, User, Invitation, Referral, ReferralEvent, ExportItem, FhirIntegration,
    NotificationSettings, NotificationItem,
]  # fmt: skip


async def snapshot(session: AsyncSession, clinic_id: uuid.UUID) -> dict[str, list[str]]:
    """Every row of the clinic (its sessions too), read afresh from the database."""
    state: dict[str, list[str]] = {}
    for model in CLINIC_TABLES:
        table: Table = model.__table__  # type: ignore[attr-defined]
        rows = await session.execute(select(table).where(table.c.clinic_id == clinic_id))
        state[table.name] = sorted(repr(tuple(row)) for row in rows)
    clinic_row = await session.execute(select(Clinic.__table__).where(col(Clinic.id) == clinic_id))  # type: ignore[attr-defined]
    state["clinics"] = [repr(tuple(row)) for row in clinic_row]
    users = select(col(User.id)).where(col(User.clinic_id) == clinic_id)
    sessions = await session.execute(select(AuthSession.__table__).where(col(AuthSession.user_id).in_(users)))  # type: ignore[attr-defined]
    state["auth_sessions"] = sorted(repr(tuple(row)) for row in sessions)
    return state


@dataclass
class World:
    clinic: ClinicCreated
    ids: dict[str, uuid.UUID]  # what the forms' paths name: referral_id, user_id, key_id, ...


@pytest.fixture
async def world(session: AsyncSession, clinic: ClinicCreated) -> World:
    """A referral, a physio to act on, a key, a dead export and a dead announcement of the clinic."""
    target, _ = await make_user(session, clinic.slug)
    key = await clinics.create_key(session, clinic.clinic_id, "secret")
    export = await make_dead_export(session, clinic)
    item = NotificationItem(clinic_id=clinic.clinic_id, referral_id=export.referral_id, kind="new", channel="email",
                            target="duty@clinic.example", urgency="urgent", due_at=utcnow(), status="dead",
                            attempts=5, last_error="SMTP 550")  # fmt: skip
    session.add(item)
    await session.flush()
    ids = {"referral_id": export.referral_id, "user_id": target.id, "key_id": key.id, "export_id": export.id,
           "item_id": item.id}  # fmt: skip
    return World(clinic, ids)


@asynccontextmanager
async def browser(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """Another browser: a client with a cookie jar of its own."""
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver") as http:
        yield http


async def token_on(http: httpx.AsyncClient, path: str) -> str:
    found = TOKEN.search((await http.get(path)).text)
    assert found is not None, path
    return found.group(1)


async def test_every_ui_form_refuses_a_missing_wrong_or_other_sessions_token(
    app: FastAPI, client: httpx.AsyncClient, session: AsyncSession, clinic: ClinicCreated, world: World
) -> None:
    forms = ui_forms(app)
    session_forms = [(m, p) for m, p in forms if p not in PRE_SESSION]
    assert {p for _, p in forms} >= PRE_SESSION
    missing = sorted({p for _, p in session_forms} - set(FORMS))
    assert not missing, f"UI forms this test does not know: {missing}; add them to FORMS"
    assert sorted(p for _, p in session_forms) == sorted(FORMS)  # and each once (POST)
    assert all(method == "POST" for method, _ in session_forms)

    admin, password = await make_user(session, clinic.slug, "clinic_admin")
    physio, physio_password = await make_user(session, clinic.slug)
    assert (await ui_login(client, admin.email, password)).status_code == 303
    own = await token_on(client, "/ui/admin/users")
    async with browser(app) as elsewhere, browser(app) as again:
        assert (await ui_login(elsewhere, physio.email, physio_password)).status_code == 303
        assert (await ui_login(again, admin.email, password)).status_code == 303
        others = {"another user's session": await token_on(elsewhere, "/ui"),
                  "the same user's other session": await token_on(again, "/ui")}  # fmt: skip
    assert len({own, *others.values()}) == 3  # each session has a token of its own
    bad: dict[str, str | None] = {"no token": None, "an empty token": "", "a wrong token": "0" * 64, **others}

    async def post(template: str, token: str | None, origin: str | None = None) -> httpx.Response:
        path = template.format(**world.ids)
        data = dict(FORMS[template])
        if template in VERSIONED:
            referral = await session.get(Referral, world.ids["referral_id"], populate_existing=True)
            assert referral is not None
            data["version"] = str(referral.version)
        if token is not None:
            data["csrf"] = token
        return await client.post(path, data=data, headers={"Origin": origin} if origin else None)

    # Refused, every form, every wrong token; and nothing in the clinic changed.
    before = await snapshot(session, clinic.clinic_id)
    for _, template in session_forms:
        for what, token in bad.items():
            response = await post(template, token)
            assert refused_for_csrf(response), (template, what, response.status_code, response.headers.get("location"))
        # The right token, from a page of another site (README: every UI POST from our own origin).
        response = await post(template, own, origin=FOREIGN)
        assert refused_for_csrf(response), (template, "another origin", response.status_code)
        assert await snapshot(session, clinic.clinic_id) == before, template
    assert (await client.get("/ui")).status_code == 200  # still logged in: the logouts were refused

    # With the session's own token each form is not refused, and (but for the connection test)
    # does its work: the state above was one the refused posts would have changed. Logging out last.
    order = sorted(session_forms, key=lambda f: (f[1] == "/ui/logout", f[1] not in CHANGES_NOTHING))
    for _, template in order:
        before = await snapshot(session, clinic.clinic_id)
        response = await post(template, own)
        assert not refused_for_csrf(response), (template, response.status_code, response.headers.get("location"))
        assert response.status_code < 400, (template, response.status_code, response.headers.get("location"))
        changed = await snapshot(session, clinic.clinic_id) != before
        assert changed == (template not in CHANGES_NOTHING), template
    assert (await client.get("/ui")).headers["location"] == "/ui/login"  # the last one logged out


async def sessions_of(session: AsyncSession, user: User) -> int:
    found = await session.execute(select(col(AuthSession.id)).where(col(AuthSession.user_id) == user.id))
    return len(found.all())


async def test_the_login_form_needs_the_token_of_its_own_cookie(
    app: FastAPI, client: httpx.AsyncClient, session: AsyncSession, clinic: ClinicCreated
) -> None:
    """Login CSRF: a foreign page could post its own credentials and log the victim in as someone
    else. The login page's token is bound to its own cookie (bs_login), not to any session."""
    physio, password = await make_user(session, clinic.slug)
    assert ("POST", "/ui/login") in ui_forms(app)
    credentials = {"email": physio.email, "password": password}
    async with browser(app) as other, browser(app) as logged_in, browser(app) as cookieless:
        other_token = await token_on(other, "/ui/login")
        admin, admin_password = await make_user(session, clinic.slug, "clinic_admin")
        assert (await ui_login(logged_in, admin.email, admin_password)).status_code == 303
        session_token = await token_on(logged_in, "/ui")
        own = await token_on(client, "/ui/login")
        assert "bs_login" in client.cookies
        bad: dict[str, dict[str, Any]] = {
            "no token": credentials,
            "a wrong token": {**credentials, "csrf": "0" * 64},
            "another login page's token": {**credentials, "csrf": other_token},
            "a logged-in session's token": {**credentials, "csrf": session_token},
        }
        for what, data in bad.items():
            response = await client.post("/ui/login", data=data)
            assert response.status_code == 403 and "form had expired" in response.text, what
            assert "bs_session" not in client.cookies, what
            own = TOKEN.search(response.text).group(1)  # type: ignore[union-attr] # a new cookie and token each time
        # The page's token without its cookie: what a foreign page could copy, not send.
        response = await cookieless.post("/ui/login", data={**credentials, "csrf": own})
        assert response.status_code == 403 and "bs_session" not in cookieless.cookies
        response = await client.post("/ui/login", data={**credentials, "csrf": own}, headers={"Origin": FOREIGN})
        assert response.status_code == 403 and "bs_session" not in client.cookies
        own = TOKEN.search(response.text).group(1)  # type: ignore[union-attr]
        assert await sessions_of(session, physio) == 0  # nobody was logged in
        done = await client.post("/ui/login", data={**credentials, "csrf": own})
    assert done.status_code == 303 and done.headers["location"] == "/ui" and "bs_session" in client.cookies
    assert await sessions_of(session, physio) == 1


async def test_the_invitation_form_needs_the_token_of_its_own_cookie(
    app: FastAPI, client: httpx.AsyncClient, session: AsyncSession, clinic: ClinicCreated
) -> None:
    assert ("POST", "/ui/invite/{token}") in ui_forms(app)
    link = await accounts.invite(session, clinic.clinic_id, "invitee@example.org", "physio")
    path = f"/ui/invite/{link.token}"
    fields = {"password": "long-enough-pw", "confirm": "long-enough-pw"}
    user = await session.get(User, link.user.id)
    assert user is not None
    unusable = user.password_hash
    async with browser(app) as other, browser(app) as cookieless:
        other_token = await token_on(other, path)
        own = await token_on(client, path)
        for what, token in {"no token": None, "a wrong token": "0" * 64, "another page's token": other_token}.items():
            data = fields if token is None else {**fields, "csrf": token}
            response = await client.post(path, data=data)
            assert response.status_code == 403 and "form had expired" in response.text, what
            own = TOKEN.search(response.text).group(1)  # type: ignore[union-attr]
        response = await cookieless.post(path, data={**fields, "csrf": own})
        assert response.status_code == 403 and "form had expired" in response.text
    # The link was not used and the password not set.
    await session.refresh(user)
    assert user.password_hash == unusable
    invitation = await session.execute(select(col(Invitation.used_at)).where(col(Invitation.user_id) == user.id))
    assert invitation.scalar_one() is None
    done = await client.post(path, data={**fields, "csrf": own})
    assert done.status_code == 303 and done.headers["location"] == "/ui/login?msg=password-set"
