"""Users (physios and clinic admins): creating them, their passwords, logging in, and
recognising their access tokens."""

import asyncio
import math
import re
import secrets
import uuid
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from services.accounts import links, security, throttle
from services.accounts.links import LINK_LIFETIME as LINK_LIFETIME
from services.accounts.links import InvalidLink as InvalidLink
from services.accounts.links import Link as Link
from services.accounts.models import AuthSession, User
from services.accounts.repository import InvitationRepository, ThrottleRepository, UserRepository
from services.accounts.schemas import ClinicUser, Role, TokenOut
from services.clinics import service as clinics
from services.core.config import Settings
from services.core.db import utcnow
from services.core.errors import Conflict, NotFound, ServiceError, Unauthorized, Unprocessable
from services.core.principal import Principal

ROLE_SCOPES: dict[str, tuple[str, ...]] = {
    "physio": ("intake:read", "referrals:read", "referrals:write"),
    "clinic_admin": ("intake:read", "referrals:read", "referrals:write", "exports:admin", "clinic:admin"),
}

_EMAIL = re.compile(r"^[^@\s\x00-\x1f]{1,64}@[^@\s\x00-\x1f]+\.[^@\s\x00-\x1f]+$")
MIN_PASSWORD = 10
UI_SESSION_SECONDS = 8 * 3600


class InvalidCredentials(Unauthorized):
    """One answer for unknown email, wrong password and disabled account, so none is revealed."""

    commit = True  # the failure counts must be stored even though the request fails

    def __init__(self) -> None:
        super().__init__("invalid email or password")


class LoginThrottled(ServiceError):
    status, title, slug = 429, "Too many failed logins", "login-throttled"

    def __init__(self, seconds: float) -> None:
        wait = max(1, math.ceil(seconds))
        super().__init__(f"too many failed logins; try again in {wait} s", headers={"Retry-After": str(wait)})


class LoginBusy(ServiceError):
    status, title, slug = 429, "Too many logins at once", "login-busy"

    def __init__(self) -> None:
        super().__init__("too many logins at once; try again in a moment", headers={"Retry-After": "1"})


class HashGate:
    """Password checks at once in this process, and a short queue: a flood of logins waits here
    without holding database connections, and beyond the queue is refused at once."""

    def __init__(self, slots: int, queue: int) -> None:
        self.slots, self.queue = asyncio.Semaphore(slots), queue
        self.waiting = 0

    async def verify(self, password_hash: str | None, password: str) -> bool:
        if self.slots.locked() and self.waiting >= self.queue:
            raise LoginBusy()
        self.waiting += 1
        try:
            await self.slots.acquire()
        finally:
            self.waiting -= 1
        try:
            # argon2 takes tens of milliseconds of CPU: off the event loop, so other requests go on.
            return await asyncio.to_thread(security.verify_password, password_hash, password)
        finally:
            self.slots.release()


_gates: dict[tuple[int, int], HashGate] = {}


def _gate(settings: Settings) -> HashGate:
    key = (settings.login_hash_slots, settings.login_hash_queue)
    if key not in _gates:
        _gates[key] = HashGate(*key)
    return _gates[key]


def _check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise Unprocessable(f"passwords have at least {MIN_PASSWORD} characters")


async def _new_user(session: AsyncSession, clinic_id: uuid.UUID, email: str, role: Role, password: str) -> User:
    email = email.strip().lower()
    if not _EMAIL.match(email) or len(email) > 254:
        raise Unprocessable("not an email address")
    users = UserRepository(session)
    if await users.by_email(email) is not None:
        raise Conflict("a user with this email exists")
    password_hash = await asyncio.to_thread(security.hash_password, password)
    return await users.add(User(clinic_id=clinic_id, email=email, role=role, password_hash=password_hash))


async def create_user(session: AsyncSession, *, clinic_slug: str, email: str, role: Role, password: str) -> User:
    _check_password(password)
    return await _new_user(session, await clinics.clinic_id_of(session, clinic_slug), email, role, password)


async def _user(session: AsyncSession, email: str) -> User:
    user = await UserRepository(session).by_email(email.strip().lower())
    if user is None:
        raise NotFound("no such user")
    return user


async def _set_password(session: AsyncSession, user: User, password: str) -> None:
    user.password_hash = await asyncio.to_thread(security.hash_password, password)
    await UserRepository(session).revoke_sessions(user.id, utcnow())


async def _set_role(session: AsyncSession, user: User, role: Role) -> None:
    user.role = role
    await UserRepository(session).revoke_sessions(user.id, utcnow())


async def _set_disabled(session: AsyncSession, user: User, disabled: bool) -> None:
    now = utcnow()
    user.disabled_at = now if disabled else None
    if disabled:
        await UserRepository(session).revoke_sessions(user.id, now)


async def set_password(session: AsyncSession, email: str, password: str) -> None:
    """A new password ends every session of the user."""
    _check_password(password)
    await _set_password(session, await _user(session, email), password)


async def set_role(session: AsyncSession, email: str, role: Role) -> None:
    """A new role ends every session of the user: the next login carries the new role's rights."""
    await _set_role(session, await _user(session, email), role)


async def set_disabled(session: AsyncSession, email: str, disabled: bool) -> None:
    """Disabling ends every session of the user at once."""
    await _set_disabled(session, await _user(session, email), disabled)


# --- what a clinic admin does to the clinic's users -----------------------------------


class OwnAccount(Conflict):
    title, slug = "Your own account", "own-account"

    def __init__(self) -> None:
        super().__init__("an admin cannot disable, demote or reset their own account here")


async def clinic_users(session: AsyncSession, clinic_id: uuid.UUID) -> list[ClinicUser]:
    users = await UserRepository(session).of_clinic(clinic_id)
    open_links = await InvitationRepository(session).open_for(clinic_id, utcnow())
    return [
        ClinicUser(id=u.id, email=u.email, role=u.role, created_at=u.created_at, disabled=u.disabled_at is not None,
                   link_expires_at=open_links.get(u.id))
        for u in users
    ]  # fmt: skip


async def invite(session: AsyncSession, clinic_id: uuid.UUID, email: str, role: Role) -> links.Link:
    """A new user of the clinic, who sets their own password through the link (LINK_LIFETIME, once)."""
    user = await _new_user(session, clinic_id, email, role, secrets.token_urlsafe(32))
    return await links.issue(session, user, "invite")


async def _clinic_user(session: AsyncSession, actor: Principal, user_id: uuid.UUID) -> User:
    """The clinic's user (another clinic's is not found), never the admin acting."""
    user = await UserRepository(session).in_clinic(actor.clinic_id, user_id)
    if user is None:
        raise NotFound("no such user")
    if user.id == actor.user_id:
        raise OwnAccount()
    return user


async def reset(session: AsyncSession, actor: Principal, user_id: uuid.UUID) -> links.Link:
    """A new one-time link for the user; their password stops working and their sessions end now."""
    user = await _clinic_user(session, actor, user_id)
    user.password_hash = await links.unusable_hash()
    await UserRepository(session).revoke_sessions(user.id, utcnow())
    return await links.issue(session, user, "reset")


async def change_role(session: AsyncSession, actor: Principal, user_id: uuid.UUID, role: Role) -> User:
    user = await _clinic_user(session, actor, user_id)
    await _set_role(session, user, role)
    return user


async def disable(session: AsyncSession, actor: Principal, user_id: uuid.UUID, disabled: bool) -> User:
    user = await _clinic_user(session, actor, user_id)
    await _set_disabled(session, user, disabled)
    return user


async def link_user(session: AsyncSession, token: str) -> tuple[User, datetime]:
    """Whose live link this is, and until when it works."""
    invitation = await InvitationRepository(session).live(links.token_hash(token), utcnow())
    user = await UserRepository(session).get(invitation.user_id) if invitation else None
    if invitation is None or user is None or user.disabled_at is not None:
        raise links.InvalidLink()
    return user, invitation.expires_at


async def use_link(session: AsyncSession, token: str, password: str) -> User:
    """Set the password through a live link, which then no longer works; ends the user's sessions."""
    _check_password(password)
    user, _ = await link_user(session, token)
    if await InvitationRepository(session).use(links.token_hash(token), utcnow()) != user.id:
        raise links.InvalidLink()  # used by a request racing this one
    await _set_password(session, user, password)
    return user


async def login(session: AsyncSession, settings: Settings, email: str, password: str, address: str) -> User:
    """The user whose email and password these are, from a client `address`; failures are counted.

    Throttling comes first and costs one short query. The database connection is given back
    before the password is checked, so a flood of logins never holds the pool while argon2 runs.
    """
    now = utcnow()
    email = email.strip().lower()
    counted = throttle.counters(settings, address, email)
    throttles = ThrottleRepository(session)
    blocked = await throttles.blocked_until([c.key for c in counted])
    if blocked is not None and blocked > now:
        raise LoginThrottled((blocked - now).total_seconds())
    # Not an email (NUL bytes included, which PostgreSQL refuses): nobody, but the same work and answer.
    user = await UserRepository(session).by_email(email) if _EMAIL.match(email) else None
    await session.commit()  # the connection goes back to the pool while the password is checked
    password_ok = await _gate(settings).verify(user.password_hash if user else None, password)
    now = utcnow()
    if user is None or user.disabled_at is not None or not password_ok:
        for counter in counted:
            failures = await throttles.count_failure(counter.key, now, now - throttle.WINDOW)
            if wait := throttle.delay(failures, counter):
                await throttles.block(counter.key, now + timedelta(seconds=wait))
        raise InvalidCredentials()
    await throttles.forget(counted[1].key)  # this account from this address: its own failures are over
    return user


async def start_session(session: AsyncSession, settings: Settings, user: User, kind: str = "api") -> str:
    """A new session of the user, and a signed token naming it (an API bearer token, or the UI's cookie)."""
    now = utcnow()
    ttl = timedelta(seconds=settings.access_token_ttl_seconds if kind == "api" else UI_SESSION_SECONDS)
    row = AuthSession(user_id=user.id, kind=kind, created_at=now, expires_at=now + ttl)
    await UserRepository(session).add_session(row)
    return security.issue_token(settings.secret_key.get_secret_value(), user.id, user.clinic_id, row.id, now, ttl)


async def issue_token(session: AsyncSession, settings: Settings, email: str, password: str, address: str) -> TokenOut:
    """OAuth2 password grant: a bearer token naming a new session."""
    token = await start_session(session, settings, await login(session, settings, email, password, address))
    return TokenOut(access_token=token, token_type="bearer", expires_in=settings.access_token_ttl_seconds)  # noqa: S106


async def ui_session(session: AsyncSession, settings: Settings, email: str, password: str, address: str) -> str:
    """A token for the UI's cookie, naming a session of UI_SESSION_SECONDS."""
    user = await login(session, settings, email, password, address)
    return await start_session(session, settings, user, kind="ui")


async def logout(session: AsyncSession, settings: Settings, token: str) -> bool:
    """End the session a token names (its cookie or bearer use alike); False if it was not live."""
    claims = security.read_token(settings.secret_key.get_secret_value(), token)
    if claims is None:
        return False
    return await UserRepository(session).revoke_session(claims.session_id, utcnow())


async def authenticate_token(session: AsyncSession, settings: Settings, token: str) -> Principal:
    """The user an access token stands for, while its session lives."""
    claims = security.read_token(settings.secret_key.get_secret_value(), token)
    # The user and the session are read on every request, so logout, a new password or role and
    # a disabled account take effect at once.
    user = await UserRepository(session).with_session(claims.session_id, utcnow()) if claims else None
    if (
        claims is None
        or user is None
        or user.disabled_at is not None
        or (user.id, user.clinic_id) != (claims.user_id, claims.clinic_id)
    ):
        raise Unauthorized("invalid or expired token")
    return Principal(
        clinic_id=user.clinic_id,
        kind="user",
        scopes=frozenset(ROLE_SCOPES.get(user.role, ())),
        user_id=user.id,
        label=user.email,
    )
