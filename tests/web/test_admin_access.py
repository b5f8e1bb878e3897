"""Who may use the admin console: clinic admins of their own clinic only. Every admin route is
tried, taken from the router itself, so a new page or action cannot be left open."""

import re
import uuid
from dataclasses import dataclass

import httpx
import pytest
from fastapi.routing import iter_route_contexts
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from services.accounts.models import User
from services.clinics import service as clinics
from services.clinics.models import AdminEvent, ApiKey
from services.clinics.schemas import ClinicCreated
from services.export.models import ExportItem
from services.web.admin.router import router as admin_router
from tests.factories import make_clinic, make_dead_export, make_user, ui_login


@dataclass
class Targets:
    user: User
    key_id: uuid.UUID
    export_id: uuid.UUID


@pytest.fixture
async def targets(session: AsyncSession, clinic: ClinicCreated) -> Targets:
    """A physio, a key and a dead export of the clinic: what the actions would change."""
    physio, _ = await make_user(session, clinic.slug)
    key = await clinics.create_key(session, clinic.clinic_id, "secret")
    item = await make_dead_export(session, clinic, "HTTP 400: error invariant")
    return Targets(physio, key.id, item.id)


def admin_routes(targets: Targets) -> list[tuple[str, str]]:
    """(method, path) of every admin page and action, with this clinic's ids filled in."""
    found = []
    for route in iter_route_contexts(admin_router.routes):  # the routers it includes too
        if not route.path or not route.path.startswith("/ui/admin"):
            continue
        for method in route.methods or ():
            actions = ["role", "disable", "enable", "reset"] if "{action}" in route.path else [""]
            for action in actions:
                path = route.path.format(user_id=targets.user.id, key_id=targets.key_id,
                                         export_id=targets.export_id, action=action,
                                         item_id=uuid.uuid4())  # fmt: skip
                found.append((method, path))
    return found


async def csrf_of(client: httpx.AsyncClient, path: str = "/ui") -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', (await client.get(path)).text)
    assert found is not None
    return found.group(1)


async def test_a_physio_gets_403_on_every_admin_page_and_action(
    client: httpx.AsyncClient, session: AsyncSession, clinic: ClinicCreated, targets: Targets
) -> None:
    physio, password = await make_user(session, clinic.slug)
    assert (await ui_login(client, physio.email, password)).status_code == 303
    csrf = await csrf_of(client)  # a valid token: the refusal is for the role, not the form
    routes = admin_routes(targets)
    assert len(routes) >= 14
    for method, path in routes:
        data = {
            "csrf": csrf,
            "kind": "secret",
            "role": "clinic_admin",
            "email": "x@example.org",
            "origins": "https://evil.example",
            "base_url": "https://evil.example/fhir",
            "auth_type": "none",
        }
        response = await client.request(method, path, data=data if method == "POST" else None)
        assert response.status_code == 403, (method, path, response.status_code)
        assert "Only a clinic admin" in response.text
    # Nothing changed.
    await session.refresh(targets.user)
    assert targets.user.role == "physio" and targets.user.disabled_at is None
    key = await session.get(ApiKey, targets.key_id)
    assert key is not None and key.revoked_at is None
    item = await session.get(ExportItem, targets.export_id)
    assert item is not None and item.status == "dead"
    assert (await clinics.get_clinic(session, clinic.clinic_id)).allowed_origins == ["https://clinic.example"]
    # The queue has no Admin link for a physio.
    assert 'href="/ui/admin"' not in (await client.get("/ui")).text


async def test_nobody_logged_in_goes_to_the_login_page(client: httpx.AsyncClient, targets: Targets) -> None:
    for method, path in admin_routes(targets):
        response = await client.request(method, path, data={"csrf": "x"} if method == "POST" else None)
        assert response.status_code == 303 and response.headers["location"] == "/ui/login", (method, path)


async def test_an_admin_of_another_clinic_cannot_touch_this_clinics_users_keys_or_exports(
    client: httpx.AsyncClient, session: AsyncSession, clinic: ClinicCreated, targets: Targets
) -> None:
    other = await make_clinic(session)
    stranger, password = await make_user(session, other.slug, "clinic_admin")
    await ui_login(client, stranger.email, password)
    csrf = await csrf_of(client, "/ui/admin/users")
    for method, path in admin_routes(targets):
        if method == "POST" and any(str(i) in path for i in (targets.user.id, targets.key_id, targets.export_id)):
            response = await client.post(path, data={"csrf": csrf, "role": "clinic_admin"})
            assert response.status_code == 404, (path, response.status_code)
    # Their pages show their own clinic only.
    for path in ("/ui/admin/users", "/ui/admin/keys", "/ui/admin/exports"):
        text = (await client.get(path)).text
        assert targets.user.email not in text and str(targets.export_id) not in text
    await session.refresh(targets.user)
    assert targets.user.role == "physio" and targets.user.disabled_at is None
    key = await session.get(ApiKey, targets.key_id)
    assert key is not None and key.revoked_at is None
    item = await session.get(ExportItem, targets.export_id)
    assert item is not None and item.status == "dead"


async def test_admin_posts_need_the_forms_csrf_token_and_our_origin(
    client: httpx.AsyncClient, session: AsyncSession, clinic: ClinicCreated, targets: Targets
) -> None:
    admin, password = await make_user(session, clinic.slug, "clinic_admin")
    await ui_login(client, admin.email, password)
    csrf = await csrf_of(client, "/ui/admin/users")
    assert 'href="/ui/admin"' in (await client.get("/ui")).text  # the header's Admin link
    forged = await client.post(f"/ui/admin/keys/{targets.key_id}/revoke", data={"csrf": "forged"})
    assert forged.status_code == 303 and "msg=expired" in forged.headers["location"]
    elsewhere = await client.post(
        f"/ui/admin/keys/{targets.key_id}/revoke", data={"csrf": csrf}, headers={"Origin": "https://evil.example"}
    )
    assert "msg=expired" in elsewhere.headers["location"]
    key = await session.get(ApiKey, targets.key_id)
    assert key is not None and key.revoked_at is None
    done = await client.post(f"/ui/admin/keys/{targets.key_id}/revoke", data={"csrf": csrf})
    assert done.headers["location"] == "/ui/admin/keys?msg=key-revoked"
    await session.refresh(key)
    assert key.revoked_at is not None


async def test_without_smtp_the_link_is_shown_once_and_every_action_is_on_the_trail(
    client: httpx.AsyncClient, session: AsyncSession, clinic: ClinicCreated, targets: Targets
) -> None:
    admin, password = await make_user(session, clinic.slug, "clinic_admin")
    await ui_login(client, admin.email, password)
    csrf = await csrf_of(client, "/ui/admin/users")
    invited = await client.post("/ui/admin/users/invite", data={"csrf": csrf, "email": "new@example.org"})
    assert invited.status_code == 200
    assert "No e-mail was sent to new@example.org: no mail server is configured" in invited.text
    link = re.search(r'value="(http://127\.0\.0\.1:8000/ui/invite/[^"]+)"', invited.text)
    assert link is not None
    assert link.group(1) not in (await client.get("/ui/admin/users")).text  # once
    again = await client.post("/ui/admin/users/invite", data={"csrf": csrf, "email": "new@example.org"})
    assert again.status_code == 409 and "exists" in again.text
    await client.post(f"/ui/admin/users/{targets.user.id}/role", data={"csrf": csrf, "role": "clinic_admin"})
    await client.post(f"/ui/admin/users/{targets.user.id}/disable", data={"csrf": csrf})
    await client.post(f"/ui/admin/users/{targets.user.id}/reset", data={"csrf": csrf})
    own = await client.post(f"/ui/admin/users/{admin.id}/disable", data={"csrf": csrf})
    assert own.headers["location"] == "/ui/admin/users?msg=own-account"
    created = await client.post("/ui/admin/keys", data={"csrf": csrf, "kind": "publishable"})
    assert created.status_code == 201
    await client.post("/ui/admin/origins", data={"csrf": csrf, "origins": "https://a.example\nhttps://b.example:8443"})
    bad = await client.post("/ui/admin/origins", data={"csrf": csrf, "origins": "javascript:alert(1)"})
    assert bad.status_code == 422 and "not an origin" in bad.text
    form = {"csrf": csrf, "base_url": "https://ehr.example/fhir", "auth_type": "bearer", "token": "tok-secret-1"}
    assert (await client.post("/ui/admin/integration", data=form)).status_code == 303
    # An empty token field keeps the stored token; the token is never on the page.
    kept = await client.post("/ui/admin/integration", data={**form, "token": "", "enabled": "on"})
    assert kept.status_code == 303
    page = await client.get("/ui/admin/integration")
    assert "tok-secret-1" not in page.text and "A token is stored" in page.text and "Enabled" in page.text
    await client.post(f"/ui/admin/exports/{targets.export_id}/retry", data={"csrf": csrf})
    item = await session.get(ExportItem, targets.export_id)
    assert item is not None
    await session.refresh(item)
    assert item.status == "pending"
    rows = await session.execute(
        select(AdminEvent).where(col(AdminEvent.clinic_id) == clinic.clinic_id).order_by(col(AdminEvent.at))
    )
    trail = [(e.action, e.target, e.actor_id) for e in rows.scalars()]
    assert [a for a, _, _ in trail] == [
        "user.invited", "user.role_changed", "user.disabled", "user.reset", "key.created", "origins.changed",
        "integration.changed", "integration.changed", "export.retried",
    ]  # fmt: skip
    assert all(actor == admin.id for _, _, actor in trail)
    assert trail[0][1] == "new@example.org as Physio"
    assert trail[5][1] == "https://a.example, https://b.example:8443"
    assert not any("tok-secret-1" in target or ("pk_" in target and len(target) > 40) for _, target, _ in trail)
    users_page = (await client.get("/ui/admin/users")).text
    assert "user invited" in users_page and "integration changed" in users_page
