"""Invitation and reset links: a hash stored, one use, an expiry, sessions ended, one clinic."""

import hashlib
from datetime import timedelta

import pytest
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from services.accounts import service
from services.accounts.models import Invitation, User
from services.clinics.schemas import ClinicCreated
from services.core.config import Settings
from services.core.db import utcnow
from services.core.errors import Conflict, NotFound, Unauthorized, Unprocessable
from services.core.principal import Principal
from tests.factories import make_clinic, make_user

ADDRESS = "198.51.100.9"


def as_admin(user: User) -> Principal:
    scopes = frozenset(service.ROLE_SCOPES["clinic_admin"])
    return Principal(clinic_id=user.clinic_id, kind="user", scopes=scopes, user_id=user.id, label=user.email)


@pytest.fixture
async def admin(session: AsyncSession, clinic: ClinicCreated) -> Principal:
    user, _ = await make_user(session, clinic.slug, "clinic_admin")
    return as_admin(user)


async def stored(session: AsyncSession, user: User) -> list[Invitation]:
    rows = await session.execute(select(Invitation).where(col(Invitation.user_id) == user.id))
    return list(rows.scalars())


async def test_an_invitation_stores_only_a_hash_of_its_token(session: AsyncSession, admin: Principal) -> None:
    link = await service.invite(session, admin.clinic_id, "New.Physio@Example.org", "physio")
    assert link.user.email == "new.physio@example.org" and link.user.role == "physio"
    assert link.user.clinic_id == admin.clinic_id
    [row] = await stored(session, link.user)
    assert len(link.token) >= 40  # 256 bits, URL-safe
    assert row.token_hash != link.token and link.token not in row.token_hash
    assert row.token_hash == hashlib.sha256(f"link:{link.token}".encode()).hexdigest()
    assert row.purpose == "invite" and row.used_at is None
    assert row.expires_at - row.created_at == timedelta(hours=72) == service.LINK_LIFETIME


async def test_the_invitee_sets_a_password_once_and_then_logs_in(
    session: AsyncSession, admin: Principal, settings: Settings
) -> None:
    link = await service.invite(session, admin.clinic_id, "runner.physio@example.org", "physio")
    # Before the link is used, no password logs in (the stored hash is of a secret nobody has).
    with pytest.raises(service.InvalidCredentials):
        await service.login(session, settings, link.user.email, "", ADDRESS)
    user, expires = await service.link_user(session, link.token)
    assert user.id == link.user.id and expires == link.expires_at
    await service.use_link(session, link.token, "a-good-new-password")
    assert (await service.login(session, settings, link.user.email, "a-good-new-password", ADDRESS)).id == user.id
    # Single use: the same link again, to read or to set a password, is refused.
    with pytest.raises(service.InvalidLink):
        await service.link_user(session, link.token)
    with pytest.raises(service.InvalidLink):
        await service.use_link(session, link.token, "another-password-1")
    [row] = await stored(session, link.user)
    assert row.used_at is not None


async def test_an_expired_link_does_nothing(session: AsyncSession, admin: Principal) -> None:
    link = await service.invite(session, admin.clinic_id, "late@example.org", "physio")
    await session.execute(update(Invitation).where(col(Invitation.user_id) == link.user.id).values(expires_at=utcnow()))
    with pytest.raises(service.InvalidLink):
        await service.link_user(session, link.token)
    with pytest.raises(service.InvalidLink):
        await service.use_link(session, link.token, "a-good-new-password")


async def test_unknown_links_and_short_passwords_are_refused(session: AsyncSession, admin: Principal) -> None:
    with pytest.raises(service.InvalidLink):
        await service.link_user(session, "not-a-token")
    link = await service.invite(session, admin.clinic_id, "short@example.org", "physio")
    with pytest.raises(Unprocessable):
        await service.use_link(session, link.token, "short")
    await service.link_user(session, link.token)  # a refused password does not use the link up


async def test_an_email_already_in_use_anywhere_cannot_be_invited(
    session: AsyncSession, admin: Principal, clinic: ClinicCreated
) -> None:
    other = await make_clinic(session)
    someone, _ = await make_user(session, other.slug)
    with pytest.raises(Conflict):
        await service.invite(session, admin.clinic_id, someone.email.upper(), "physio")
    with pytest.raises(Unprocessable):
        await service.invite(session, admin.clinic_id, "not an email", "physio")


async def test_a_reset_ends_sessions_and_the_old_password_and_the_new_link_replaces_the_old(
    session: AsyncSession, admin: Principal, clinic: ClinicCreated, settings: Settings
) -> None:
    physio, password = await make_user(session, clinic.slug)
    token = await service.start_session(session, settings, physio, kind="ui")
    await service.authenticate_token(session, settings, token)
    first = await service.reset(session, admin, physio.id)
    with pytest.raises(Unauthorized):
        await service.authenticate_token(session, settings, token)
    with pytest.raises(service.InvalidCredentials):
        await service.login(session, settings, physio.email, password, ADDRESS)
    second = await service.reset(session, admin, physio.id)
    with pytest.raises(service.InvalidLink):  # only the newest link works
        await service.link_user(session, first.token)
    [row] = await stored(session, physio)
    assert row.purpose == "reset"
    await service.use_link(session, second.token, "brand-new-password")
    assert (await service.login(session, settings, physio.email, "brand-new-password", ADDRESS)).id == physio.id


async def test_role_changes_and_disabling_end_sessions(
    session: AsyncSession, admin: Principal, clinic: ClinicCreated, settings: Settings
) -> None:
    physio, _ = await make_user(session, clinic.slug)
    token = await service.start_session(session, settings, physio)
    changed = await service.change_role(session, admin, physio.id, "clinic_admin")
    assert changed.role == "clinic_admin"
    with pytest.raises(Unauthorized):
        await service.authenticate_token(session, settings, token)
    token = await service.start_session(session, settings, physio)
    await service.disable(session, admin, physio.id, True)
    with pytest.raises(Unauthorized):
        await service.authenticate_token(session, settings, token)
    # A disabled user's link does not work either.
    link = await service.reset(session, admin, physio.id)
    with pytest.raises(service.InvalidLink):
        await service.link_user(session, link.token)
    await service.disable(session, admin, physio.id, False)
    await service.link_user(session, link.token)


async def test_an_admin_cannot_lock_themselves_out(session: AsyncSession, admin: Principal) -> None:
    assert admin.user_id is not None
    with pytest.raises(service.OwnAccount):
        await service.disable(session, admin, admin.user_id, True)
    with pytest.raises(service.OwnAccount):
        await service.change_role(session, admin, admin.user_id, "physio")
    with pytest.raises(service.OwnAccount):
        await service.reset(session, admin, admin.user_id)


async def test_another_clinics_users_are_not_found(
    session: AsyncSession, admin: Principal, clinic: ClinicCreated
) -> None:
    other = await make_clinic(session)
    stranger, _ = await make_user(session, other.slug)
    mine, _ = await make_user(session, clinic.slug)
    for attempt in (
        service.reset(session, admin, stranger.id),
        service.change_role(session, admin, stranger.id, "clinic_admin"),
        service.disable(session, admin, stranger.id, True),
    ):
        with pytest.raises(NotFound):
            await attempt
    assert stranger.role == "physio" and stranger.disabled_at is None
    listed = await service.clinic_users(session, admin.clinic_id)
    assert {u.id for u in listed} == {admin.user_id, mine.id}
    link = await service.reset(session, admin, mine.id)
    [shown] = [u for u in await service.clinic_users(session, admin.clinic_id) if u.id == mine.id]
    assert shown.link_expires_at == link.expires_at
