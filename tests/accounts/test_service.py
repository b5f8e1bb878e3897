"""Users, login and access tokens (SPEC §2)."""

import uuid
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from services.accounts import security, service
from services.accounts.models import LoginThrottle
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


async def test_repeated_failures_delay_the_next_attempt_from_that_address(
    session: AsyncSession, clinic: ClinicCreated, settings: Settings
) -> None:
    user, password = await make_user(session, clinic.slug)
    for _ in range(settings.login_free_failures):
        with pytest.raises(service.InvalidCredentials):
            await service.login(session, settings, user.email, "wrong-password", "203.0.113.7")
    # From that address even the right password waits, and is told for how long.
    with pytest.raises(service.LoginThrottled) as throttled:
        await service.login(session, settings, user.email, password, "203.0.113.7")
    assert throttled.value.headers["Retry-After"] == "1"
    # The real user, elsewhere, is not kept out.
    assert (await service.login(session, settings, user.email, password, "198.51.100.20")).id == user.id


async def test_delays_double_up_to_the_ceiling(
    session: AsyncSession, clinic: ClinicCreated, settings: Settings
) -> None:
    user, _ = await make_user(session, clinic.slug)
    waits = []
    for _ in range(settings.login_free_failures + 4):
        with pytest.raises(service.InvalidCredentials):
            await service.login(session, settings, user.email, "wrong-password", "203.0.113.8")
        rows = await session.execute(select(col(LoginThrottle.blocked_until)))
        waits.append(max((t for t in rows.scalars() if t is not None), default=None))
        await session.execute(update(LoginThrottle).values(blocked_until=None))  # as if waited out
    blocked = [w for w in waits if w is not None]
    assert len(blocked) == 5  # from the fifth failure on
    gaps = [round((b - datetime.now(UTC)).total_seconds()) for b in blocked]
    assert gaps == sorted(gaps) and gaps[-1] >= 8  # 1, 2, 4, 8, 16 s


async def test_failures_are_counted_although_the_request_fails(
    client: httpx.AsyncClient, session: AsyncSession, clinic: ClinicCreated
) -> None:
    user, password = await make_user(session, clinic.slug)
    await token_response(client, user.email, "wrong-password")
    counts = (await session.execute(select(col(LoginThrottle.failures)))).scalars().all()
    assert sorted(counts) == [1, 1, 1]  # by address, by account from it, by account
    assert (await token_response(client, user.email, password)).status_code == 200
    # The right password clears this account's count from this address (not the address's own).
    counts = (await session.execute(select(col(LoginThrottle.failures)))).scalars().all()
    assert sorted(counts) == [0, 1, 1]


async def test_no_email_or_address_is_stored_in_clear(
    client: httpx.AsyncClient, session: AsyncSession, clinic: ClinicCreated
) -> None:
    user, _ = await make_user(session, clinic.slug)
    await token_response(client, user.email, "wrong-password")
    keys = (await session.execute(select(col(LoginThrottle.key)))).scalars().all()
    assert len(keys) == 3 and all(len(k) == 64 and user.email not in k and "127.0.0.1" not in k for k in keys)


async def test_disabled_user_cannot_log_in_or_use_a_token(
    client: httpx.AsyncClient, session: AsyncSession, clinic: ClinicCreated
) -> None:
    user, password = await make_user(session, clinic.slug)
    token = (await token_response(client, user.email, password)).json()["access_token"]
    user.disabled_at = datetime.now(UTC)
    await session.flush()
    assert (await token_response(client, user.email, password)).status_code == 401
    assert (await client.get("/v1/referrals", headers={"Authorization": f"Bearer {token}"})).status_code == 401


@pytest.mark.parametrize("kind", ["expired", "wrong secret", "garbage", "unknown user", "unknown session"])
async def test_bad_tokens_are_401(
    client: httpx.AsyncClient, session: AsyncSession, clinic: ClinicCreated, settings: Settings, kind: str
) -> None:
    user, _ = await make_user(session, clinic.slug)
    secret = settings.secret_key.get_secret_value()
    now = datetime.now(UTC)
    live = await service.start_session(session, settings, user)
    sid = security.read_token(secret, live)
    assert sid is not None
    minutes = timedelta(minutes=5)
    token = {
        "expired": security.issue_token(secret, user.id, user.clinic_id, sid.session_id, now - 2 * minutes, minutes),
        "wrong secret": security.issue_token("x" * 40, user.id, user.clinic_id, sid.session_id, now, minutes),
        "garbage": "eyJhbGciOiJub25lIn0.e30.",
        "unknown user": security.issue_token(secret, uuid.uuid4(), user.clinic_id, sid.session_id, now, minutes),
        "unknown session": security.issue_token(secret, user.id, user.clinic_id, uuid.uuid4(), now, minutes),
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


@pytest.mark.parametrize("change", ["password", "role", "disable", "logout"])
async def test_changes_to_an_account_end_its_sessions_at_once(
    client: httpx.AsyncClient, session: AsyncSession, clinic: ClinicCreated, settings: Settings, change: str
) -> None:
    user, _ = await make_user(session, clinic.slug)
    tokens = [await service.start_session(session, settings, user) for _ in range(2)]
    other, _ = await make_user(session, clinic.slug)
    bystander = await service.start_session(session, settings, other)
    if change == "password":
        await service.set_password(session, user.email, "a brand new password")
    elif change == "role":
        await service.set_role(session, user.email, "clinic_admin")
    elif change == "disable":
        await service.set_disabled(session, user.email, True)
    else:
        assert await service.logout(session, settings, tokens[0])
    for token, live in ((tokens[0], False), (tokens[1], change == "logout"), (bystander, True)):
        listed = await client.get("/v1/referrals", headers={"Authorization": f"Bearer {token}"})
        assert listed.status_code == (200 if live else 401), (change, live)
