"""/v1/notifications: settings, the webhook secret, the outbox."""

import uuid

import httpx
from fastapi import FastAPI
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from services.clinics.schemas import ClinicCreated
from services.notifications.models import NotificationItem
from tests.factories import intake_body, login, make_user

SETTINGS = {"emails": ["Duty@Clinic.example", "lead@clinic.example"], "webhook_url": "https://hooks.example/bs",
            "enabled": True}  # fmt: skip


async def test_settings_round_trip_and_the_secret_is_shown_only_on_rotation(
    client: httpx.AsyncClient, sk: dict[str, str]
) -> None:
    empty = (await client.get("/v1/notifications/settings", headers=sk)).json()
    assert empty == {"emails": [], "webhook_url": None, "webhook_secret_set": False, "enabled": False,
                     "updated_at": None}  # fmt: skip

    rotated = await client.post("/v1/notifications/webhook-secret", headers=sk)
    assert rotated.status_code == 200
    secret = rotated.json()["secret"]
    assert secret.startswith("whsec_") and len(secret) > 40

    put = await client.put("/v1/notifications/settings", json=SETTINGS, headers=sk)
    assert put.status_code == 200, put.text
    shown = (await client.get("/v1/notifications/settings", headers=sk)).json()
    assert shown == put.json()
    assert shown["emails"] == ["duty@clinic.example", "lead@clinic.example"]
    assert shown["webhook_url"] == "https://hooks.example/bs" and shown["enabled"] is True
    assert shown["webhook_secret_set"] is True and shown["updated_at"] is not None
    assert secret not in put.text + str(shown)

    again = (await client.post("/v1/notifications/webhook-secret", headers=sk)).json()["secret"]
    assert again != secret
    assert again not in (await client.get("/v1/notifications/settings", headers=sk)).text

    off = await client.put("/v1/notifications/settings", json={"emails": [], "enabled": False}, headers=sk)
    assert off.status_code == 200 and off.json()["webhook_url"] is None and off.json()["enabled"] is False


async def test_invalid_settings_are_refused(client: httpx.AsyncClient, sk: dict[str, str]) -> None:
    for body in (
        {**SETTINGS, "emails": ["not-an-address"]},
        {**SETTINGS, "emails": [f"p{n}@clinic.example" for n in range(11)]},
        {**SETTINGS, "webhook_url": "ftp://hooks.example/bs"},
        {**SETTINGS, "enabled": "yes"},
        {**SETTINGS, "colour": "red"},
    ):
        response = await client.put("/v1/notifications/settings", json=body, headers=sk)
        assert response.status_code == 422, body
        assert response.headers["content-type"].startswith("application/problem+json")

    nothing = await client.put("/v1/notifications/settings", json={"emails": [], "enabled": True}, headers=sk)
    assert nothing.status_code == 422 and nothing.json()["type"].endswith("/no-destination")
    no_secret = await client.put("/v1/notifications/settings", json=SETTINGS, headers=sk)
    assert no_secret.status_code == 409 and no_secret.json()["type"].endswith("/webhook-secret-missing")


async def test_in_production_the_webhook_must_be_public_https(
    app: FastAPI, client: httpx.AsyncClient, sk: dict[str, str]
) -> None:
    app.state.settings = app.state.settings.model_copy(update={"environment": "production"})
    await client.post("/v1/notifications/webhook-secret", headers=sk)
    for url in ("http://8.8.8.8/hook", "https://127.0.0.1/hook", "https://169.254.169.254/x", "https://a.internal/h"):
        response = await client.put("/v1/notifications/settings", json={**SETTINGS, "webhook_url": url}, headers=sk)
        assert response.status_code == 422, url
        assert response.json()["type"].endswith("/unsafe-destination")
    public = {**SETTINGS, "webhook_url": "https://8.8.8.8/h"}
    ok = await client.put("/v1/notifications/settings", json=public, headers=sk)
    assert ok.status_code == 200


async def test_only_clinic_admins_and_secret_keys_manage_notifications(
    client: httpx.AsyncClient, session: AsyncSession, clinic: ClinicCreated
) -> None:
    physio, password = await make_user(session, clinic.slug, "physio")
    physio_headers = await login(client, physio.email, password)
    admin, admin_password = await make_user(session, clinic.slug, "clinic_admin")
    admin_headers = await login(client, admin.email, admin_password)
    pk = {"Authorization": f"Bearer {clinic.publishable_key}"}
    calls = [
        ("GET", "/v1/notifications/settings", None),
        ("PUT", "/v1/notifications/settings", {"emails": [], "enabled": False}),
        ("POST", "/v1/notifications/webhook-secret", None),
        ("GET", "/v1/notifications/items", None),
        ("POST", f"/v1/notifications/items/{uuid.uuid4()}/retry", None),
    ]
    for method, path, body in calls:
        assert (await client.request(method, path, json=body, headers=physio_headers)).status_code == 403, path
        assert (await client.request(method, path, json=body, headers=pk)).status_code == 403, path
        assert (await client.request(method, path, json=body)).status_code == 401, path
    assert (await client.get("/v1/notifications/settings", headers=admin_headers)).status_code == 200


async def test_the_outbox_is_listed_by_page_and_a_dead_item_retried(
    client: httpx.AsyncClient, session: AsyncSession, sk: dict[str, str]
) -> None:
    await client.put("/v1/notifications/settings", json={**SETTINGS, "webhook_url": None}, headers=sk)
    created = await client.post("/v1/intakes", json=intake_body(neuro={"saddle_numbness": True}), headers=sk)
    assert created.status_code == 201 and created.json()["referral"]["urgency"] == "emergency"
    referral_id = created.json()["referral"]["id"]

    first = (await client.get("/v1/notifications/items?limit=1", headers=sk)).json()
    assert len(first["items"]) == 1 and first["next_cursor"]
    second = (await client.get(f"/v1/notifications/items?limit=1&cursor={first['next_cursor']}", headers=sk)).json()
    assert len(second["items"]) == 1 and second["next_cursor"] is None
    both = first["items"] + second["items"]
    assert {i["target"] for i in both} == {"duty@clinic.example", "lead@clinic.example"}
    assert {(i["referral_id"], i["kind"], i["channel"], i["status"]) for i in both} == {
        (referral_id, "new", "email", "pending")
    }
    item_id = both[0]["id"]

    assert (await client.post(f"/v1/notifications/items/{item_id}/retry", headers=sk)).status_code == 409
    assert (await client.post(f"/v1/notifications/items/{uuid.uuid4()}/retry", headers=sk)).status_code == 404
    await session.execute(
        update(NotificationItem)
        .where(col(NotificationItem.id) == uuid.UUID(item_id))
        .values(status="dead", attempts=8, last_error="HTTP 503 (gave up after 8 attempts)")
    )
    dead = (await client.get("/v1/notifications/items?status=dead", headers=sk)).json()["items"]
    assert [i["id"] for i in dead] == [item_id] and dead[0]["next_attempt_at"] is None
    revived = await client.post(f"/v1/notifications/items/{item_id}/retry", headers=sk)
    assert revived.status_code == 200
    assert revived.json()["status"] == "pending" and revived.json()["attempts"] == 0
    assert (await client.get("/v1/notifications/items?status=sent", headers=sk)).status_code == 422
    assert (await client.get("/v1/notifications/items?cursor=forged", headers=sk)).status_code == 422
