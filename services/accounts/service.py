"""Users (physios and clinic admins): creating them, their passwords, logging in, and
recognising their access tokens."""

import asyncio
import re
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from services.accounts import security
from services.accounts.models import User
from services.accounts.repository import UserRepository
from services.accounts.schemas import Role, TokenOut
from services.clinics import service as clinics
from services.core.config import Settings
from services.core.db import utcnow
from services.core.errors import Conflict, NotFound, Unauthorized, Unprocessable
from services.core.principal import Principal

ROLE_SCOPES: dict[str, tuple[str, ...]] = {
    "physio": ("intake:read", "referrals:read", "referrals:write"),
    "clinic_admin": ("intake:read", "referrals:read", "referrals:write", "exports:admin", "clinic:admin"),
}

_EMAIL = re.compile(r"^[^@\s\x00-\x1f]{1,64}@[^@\s\x00-\x1f]+\.[^@\s\x00-\x1f]+$")
MIN_PASSWORD = 10


class InvalidCredentials(Unauthorized):
    """One answer for unknown email, wrong password and locked account, so none is revealed."""

    commit = True  # the failure count must be stored even though the request fails

    def __init__(self) -> None:
        super().__init__("invalid email or password")


async def create_user(session: AsyncSession, *, clinic_slug: str, email: str, role: Role, password: str) -> User:
    email = email.strip().lower()
    if not _EMAIL.match(email) or len(email) > 254:
        raise Unprocessable("not an email address")
    if len(password) < MIN_PASSWORD:
        raise Unprocessable(f"passwords have at least {MIN_PASSWORD} characters")
    clinic_id = await clinics.clinic_id_of(session, clinic_slug)
    users = UserRepository(session)
    if await users.by_email(email) is not None:
        raise Conflict("a user with this email exists")
    password_hash = await asyncio.to_thread(security.hash_password, password)
    return await users.add(User(clinic_id=clinic_id, email=email, role=role, password_hash=password_hash))


async def set_password(session: AsyncSession, email: str, password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise Unprocessable(f"passwords have at least {MIN_PASSWORD} characters")
    user = await UserRepository(session).by_email(email.strip().lower())
    if user is None:
        raise NotFound("no such user")
    user.password_hash = await asyncio.to_thread(security.hash_password, password)
    user.failed_logins, user.locked_until = 0, None


async def login(session: AsyncSession, settings: Settings, email: str, password: str) -> TokenOut:
    """Exchange email and password for an access token; repeated failures lock the account a while."""
    now = utcnow()
    email = email.strip().lower()
    # Not an email (NUL bytes included, which PostgreSQL refuses): nobody, but the same work and answer.
    user = await UserRepository(session).by_email(email) if _EMAIL.match(email) else None
    # argon2 takes tens of milliseconds of CPU: off the event loop, so other requests go on.
    password_ok = await asyncio.to_thread(security.verify_password, user.password_hash if user else None, password)
    if user is None or user.disabled_at is not None:
        raise InvalidCredentials()
    if user.locked_until is not None and user.locked_until > now:
        raise InvalidCredentials()
    if not password_ok:
        # Counted in the database, not in Python: concurrent guesses must all count.
        lock_until = now + timedelta(seconds=settings.login_lock_seconds)
        await UserRepository(session).record_failed_login(user.id, settings.login_max_failures, lock_until)
        raise InvalidCredentials()
    user.failed_logins, user.locked_until = 0, None
    ttl = timedelta(seconds=settings.access_token_ttl_seconds)
    token = security.issue_token(settings.secret_key.get_secret_value(), user.id, user.clinic_id, now, ttl)
    return TokenOut(access_token=token, token_type="bearer", expires_in=settings.access_token_ttl_seconds)  # noqa: S106


async def authenticate_token(session: AsyncSession, settings: Settings, token: str) -> Principal:
    """The user an access token stands for."""
    claims = security.read_token(settings.secret_key.get_secret_value(), token)
    # The user is read on every request so that disabling an account takes effect at once.
    user = await UserRepository(session).get(claims.user_id) if claims else None
    if claims is None or user is None or user.disabled_at is not None or user.clinic_id != claims.clinic_id:
        raise Unauthorized("invalid or expired token")
    return Principal(
        clinic_id=user.clinic_id,
        kind="user",
        scopes=frozenset(ROLE_SCOPES.get(user.role, ())),
        user_id=user.id,
        label=user.email,
    )
