"""Users, login and access tokens (SPEC §2)."""

import uuid
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from services.accounts import security, service
from services.clinics.schemas import ClinicCreated
from services.core.config import Settings
from services.core.errors import Conflict, NotFound, Unprocessable
from tests.factories import make_user


async def token_response(client: httpx.AsyncClient, email: str, password: str) -> httpx.Response:
    return await client.post("/v1/auth/token", data={"username": email, "password": password})


async def test_login_issues_a_bearer_token_that_works(
    client: httpx.AsyncClient, session: AsyncSession, clinic: ClinicCreated, settings: Settings
) -> None:
    user, password = await make_user(session, clinic.slug)
    response = await token_response(client, user.email.upper(), password)
    assert response.status_code == 200
    body = response.json()
    assert body["token_type"] == "bearer" and body["expires_in"] == settings.access_token_ttl_seconds
    listed = await client.get("/v1/referrals", headers={"Authorization": f"Bearer {body['access_token']}"})
    assert listed.status_code == 200


async def test_passwords_are_stored_as_argon2(session: AsyncSession, clinic: ClinicCreated) -> None:
    user, password = await make_user(session, clinic.slug)
    assert user.password_hash.startswith("$argon2id$") and password not in user.password_hash


async def test_failures_do_not_reveal_whether_the_email_exists(
    client: httpx.AsyncClient, session: AsyncSession, clinic: ClinicCreated
) -> None:
    user, _ = await make_user(session, clinic.slug)
    wrong_password = await token_response(client, user.email, "not-the-password")
    unknown_email = await token_response(client, "nobody@nowhere.example", "not-the-password")
    assert wrong_password.status_code == unknown_email.status_code == 401
    assert wrong_password.json()["detail"] == unknown_email.json()["detail"]
    assert wrong_password.headers["www-authenticate"] == "Bearer"


async def test_repeated_failures_lock_the_account_for_a_while(
    client: httpx.AsyncClient, session: AsyncSession, clinic: ClinicCreated, settings: Settings
) -> None:
    user, password = await make_user(session, clinic.slug)
    for _ in range(settings.login_max_failures):
        assert (await token_response(client, user.email, "wrong-password")).status_code == 401
    # Locked: even the right password is refused, with the same answer.
    locked = await token_response(client, user.email, password)
    assert locked.status_code == 401 and locked.json()["detail"] == "invalid email or password"
    await session.refresh(user)
    assert user.locked_until is not None
    user.locked_until = datetime.now(UTC) - timedelta(seconds=1)  # the lock runs out
    await session.flush()
    assert (await token_response(client, user.email, password)).status_code == 200


async def test_failed_attempts_are_counted_although_the_request_fails(
    client: httpx.AsyncClient, session: AsyncSession, clinic: ClinicCreated
) -> None:
    user, password = await make_user(session, clinic.slug)
    await token_response(client, user.email, "wrong-password")
    await session.refresh(user)
    assert user.failed_logins == 1
    await token_response(client, user.email, password)
    await session.refresh(user)
    assert user.failed_logins == 0


async def test_disabled_user_cannot_log_in_or_use_a_token(
    client: httpx.AsyncClient, session: AsyncSession, clinic: ClinicCreated
) -> None:
    user, password = await make_user(session, clinic.slug)
    token = (await token_response(client, user.email, password)).json()["access_token"]
    user.disabled_at = datetime.now(UTC)
    await session.flush()
    assert (await token_response(client, user.email, password)).status_code == 401
    assert (await client.get("/v1/referrals", headers={"Authorization": f"Bearer {token}"})).status_code == 401


@pytest.mark.parametrize("kind", ["expired", "wrong secret", "garbage", "unknown user"])
async def test_bad_tokens_are_401(
    client: httpx.AsyncClient, session: AsyncSession, clinic: ClinicCreated, settings: Settings, kind: str
) -> None:
    user, _ = await make_user(session, clinic.slug)
    secret = settings.secret_key.get_secret_value()
    now = datetime.now(UTC)
    token = {
        "expired": security.issue_token(
            secret, user.id, user.clinic_id, now - timedelta(hours=1), timedelta(minutes=5)
        ),
        "wrong secret": security.issue_token("x" * 40, user.id, user.clinic_id, now, timedelta(minutes=5)),
        "garbage": "eyJhbGciOiJub25lIn0.e30.",
        "unknown user": security.issue_token(secret, uuid.uuid4(), user.clinic_id, now, timedelta(minutes=5)),
    }[kind]
    response = await client.get("/v1/referrals", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"


async def test_token_form_is_validated(client: httpx.AsyncClient) -> None:
    assert (await client.post("/v1/auth/token", data={"username": "a@b.example"})).status_code == 422
    bad_grant = await client.post(
        "/v1/auth/token", data={"username": "a@b.example", "password": "x", "grant_type": "client_credentials"}
    )
    assert bad_grant.status_code == 422


async def test_create_user_rules(session: AsyncSession, clinic: ClinicCreated) -> None:
    await service.create_user(
        session, clinic_slug=clinic.slug, email="Pat@Clinic.example", role="physio", password="long-enough-pw"
    )
    with pytest.raises(Conflict):
        await service.create_user(
            session, clinic_slug=clinic.slug, email="pat@clinic.example", role="physio", password="long-enough-pw"
        )
    with pytest.raises(Unprocessable):
        await service.create_user(
            session, clinic_slug=clinic.slug, email="not-an-email", role="physio", password="long-enough-pw"
        )
    with pytest.raises(Unprocessable):
        await service.create_user(
            session, clinic_slug=clinic.slug, email="short@clinic.example", role="physio", password="short"
        )
    with pytest.raises(NotFound):
        await service.create_user(
            session, clinic_slug="no-such-clinic", email="x@y.example", role="physio", password="long-enough-pw"
        )


@pytest.mark.parametrize("username", ["nul\x00@clinic.example", "", "no-at-sign", "a@b.example\x00"])
async def test_odd_usernames_are_plain_401s(client: httpx.AsyncClient, username: str) -> None:
    response = await token_response(client, username, "whatever-password")
    assert response.status_code in (401, 422)
    assert response.headers["content-type"] == "application/problem+json"
