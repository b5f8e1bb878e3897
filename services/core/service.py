"""Clinics, keys, users and who is calling: the rules, free of HTTP."""

import asyncio
import hashlib
import re
import secrets
import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Literal

from cachetools import TTLCache
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession

from services.core import security
from services.core.config import Settings
from services.core.db import utcnow
from services.core.errors import Conflict, Forbidden, NotFound, Unauthorized, Unprocessable
from services.core.models import ApiKey, Clinic, User
from services.core.repository import ActiveKey, ClinicRepository, UserRepository
from services.core.schemas import ClinicCreated, ClinicOut, KeyCreated, KeyOut, Role, TokenOut

KeyKind = Literal["secret", "publishable"]

SECRET_SCOPES = ("intake:write", "intake:read", "referrals:read", "referrals:write", "exports:admin")
# A publishable key sits in a web page: it may submit an intake and nothing else.
PUBLISHABLE_SCOPES = ("intake:write",)
ROLE_SCOPES: dict[str, tuple[str, ...]] = {
    "physio": ("intake:read", "referrals:read", "referrals:write"),
    "clinic_admin": ("intake:read", "referrals:read", "referrals:write", "exports:admin", "clinic:admin"),
}

_SLUG = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$")
_ORIGIN = re.compile(r"^https?://[a-z0-9.-]+(?::\d{1,5})?$")
_EMAIL = re.compile(r"^[^@\s\x00-\x1f]{1,64}@[^@\s\x00-\x1f]+\.[^@\s\x00-\x1f]+$")
MIN_PASSWORD = 10


class InvalidCredentials(Unauthorized):
    """One answer for unknown email, wrong password and locked account, so none is revealed."""

    commit = True  # the failure count must be stored even though the request fails

    def __init__(self) -> None:
        super().__init__("invalid email or password")


@dataclass(frozen=True)
class Principal:
    """Who is calling, for which clinic, allowed to do what."""

    clinic_id: uuid.UUID
    kind: Literal["secret", "publishable", "user", "system"]  # system: Backstride itself (re-triage)
    scopes: frozenset[str]
    allowed_origins: tuple[str, ...] = ()
    key_id: uuid.UUID | None = None
    user_id: uuid.UUID | None = None
    # What the audit trail shows: an email, or a key's public prefix.
    label: str = ""


def hash_key(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _new_key(clinic_id: uuid.UUID, kind: KeyKind) -> tuple[str, ApiKey]:
    token = f"{'sk' if kind == 'secret' else 'pk'}_{secrets.token_urlsafe(32)}"
    scopes = SECRET_SCOPES if kind == "secret" else PUBLISHABLE_SCOPES
    row = ApiKey(clinic_id=clinic_id, kind=kind, prefix=token[:11], key_hash=hash_key(token), scopes=list(scopes))
    return token, row


_DEFAULT_PORTS = {"http": ":80", "https": ":443"}


def normalise_origin(origin: str) -> str:
    """scheme://host[:port], lower case, without a trailing slash or the scheme's default port."""
    origin = origin.strip().rstrip("/").lower()
    if not _ORIGIN.match(origin):
        raise Unprocessable(f"not an origin (scheme://host[:port]): {origin!r}")
    return origin.removesuffix(_DEFAULT_PORTS[origin.split(":", 1)[0]])


async def clinic_exists(session: AsyncSession, slug: str) -> bool:
    return await ClinicRepository(session).slug_taken(slug)


async def create_clinic(session: AsyncSession, *, name: str, slug: str, origins: list[str]) -> ClinicCreated:
    """A clinic with one secret and one publishable key; the keys are only ever shown here."""
    if not _SLUG.match(slug):
        raise Unprocessable("slug must be 1-64 lowercase letters, digits and inner hyphens")
    if not name.strip() or len(name) > 200:
        raise Unprocessable("name must be 1-200 characters")
    repo = ClinicRepository(session)
    if await repo.slug_taken(slug):
        raise Conflict(f"a clinic with slug {slug!r} exists")
    clinic = await repo.add_clinic(
        Clinic(name=name.strip(), slug=slug, allowed_origins=[normalise_origin(o) for o in origins])
    )
    return await _issue_pair(repo, clinic)


async def rotate_keys(session: AsyncSession, slug: str) -> ClinicCreated:
    """Revoke a clinic's active keys and issue a new secret/publishable pair."""
    repo = ClinicRepository(session)
    clinic = await repo.get_by_slug(slug)
    if clinic is None:
        raise NotFound(f"no clinic {slug!r}")
    await repo.revoke_all_keys(clinic.id, utcnow())
    _forget_keys_on_commit(session)
    return await _issue_pair(repo, clinic)


async def _issue_pair(repo: ClinicRepository, clinic: Clinic) -> ClinicCreated:
    secret, secret_row = _new_key(clinic.id, "secret")
    publishable, publishable_row = _new_key(clinic.id, "publishable")
    await repo.add_key(secret_row)
    await repo.add_key(publishable_row)
    return ClinicCreated(clinic_id=clinic.id, slug=clinic.slug, secret_key=secret, publishable_key=publishable)


async def get_clinic(session: AsyncSession, clinic_id: uuid.UUID) -> ClinicOut:
    clinic = await ClinicRepository(session).get(clinic_id)
    if clinic is None:
        raise NotFound("no such clinic")
    return ClinicOut.model_validate(clinic, from_attributes=True)


async def set_allowed_origins(session: AsyncSession, clinic_id: uuid.UUID, origins: list[str]) -> ClinicOut:
    normalised = list(dict.fromkeys(normalise_origin(o) for o in origins))
    await ClinicRepository(session).set_origins(clinic_id, normalised)
    _forget_keys_on_commit(session)  # cached keys carry their clinic's origins
    return await get_clinic(session, clinic_id)


async def list_keys(session: AsyncSession, clinic_id: uuid.UUID) -> list[KeyOut]:
    rows = await ClinicRepository(session).list_keys(clinic_id)
    return [KeyOut.model_validate(row, from_attributes=True) for row in rows]


async def create_key(session: AsyncSession, clinic_id: uuid.UUID, kind: KeyKind) -> KeyCreated:
    token, row = _new_key(clinic_id, kind)
    await ClinicRepository(session).add_key(row)
    return KeyCreated(key=token, **KeyOut.model_validate(row, from_attributes=True).model_dump())


async def revoke_key(session: AsyncSession, clinic_id: uuid.UUID, key_id: uuid.UUID) -> None:
    if not await ClinicRepository(session).revoke_key(clinic_id, key_id, utcnow()):
        raise NotFound("no such active key")
    _forget_keys_on_commit(session)


async def create_user(session: AsyncSession, *, clinic_slug: str, email: str, role: Role, password: str) -> User:
    email = email.strip().lower()
    if not _EMAIL.match(email) or len(email) > 254:
        raise Unprocessable("not an email address")
    if len(password) < MIN_PASSWORD:
        raise Unprocessable(f"passwords have at least {MIN_PASSWORD} characters")
    clinic = await ClinicRepository(session).get_by_slug(clinic_slug)
    if clinic is None:
        raise NotFound(f"no clinic {clinic_slug!r}")
    users = UserRepository(session)
    if await users.by_email(email) is not None:
        raise Conflict("a user with this email exists")
    password_hash = await asyncio.to_thread(security.hash_password, password)
    return await users.add(User(clinic_id=clinic.id, email=email, role=role, password_hash=password_hash))


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


async def authenticate(session: AsyncSession, settings: Settings, token: str) -> Principal:
    if token.startswith(("sk_", "pk_")):
        key = await _active_key(session, settings, hash_key(token))
        if key is None:
            raise Unauthorized("unknown or revoked key")
        return Principal(
            clinic_id=key.clinic_id,
            kind="secret" if key.kind == "secret" else "publishable",
            scopes=frozenset(key.scopes),
            allowed_origins=tuple(key.allowed_origins),
            key_id=key.id,
            label=key.prefix,
        )
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


_key_caches: dict[float, TTLCache[str, ActiveKey]] = {}


def _key_cache(seconds: float) -> TTLCache[str, ActiveKey]:
    if seconds not in _key_caches:
        _key_caches[seconds] = TTLCache(maxsize=10_000, ttl=seconds)
    return _key_caches[seconds]


async def _active_key(session: AsyncSession, settings: Settings, key_hash: str) -> ActiveKey | None:
    """The key, from a short-lived per-process cache: the lookup was one of the intake's seven
    round trips (bench/). Revoking a key or changing origins empties this process's cache at
    once; other processes notice within KEY_CACHE_SECONDS. Unknown keys are never cached."""
    if settings.key_cache_seconds <= 0:
        return await ClinicRepository(session).find_active_key(key_hash)
    cache = _key_cache(settings.key_cache_seconds)
    key = cache.get(key_hash)
    if key is None:
        key = await ClinicRepository(session).find_active_key(key_hash)
        if key is not None:
            cache[key_hash] = key
    return key


def _forget_keys_on_commit(session: AsyncSession) -> None:
    """Empty the key cache now and again once the change is committed: a request between the two
    would otherwise read (and cache) the key as it was before the commit."""
    forget_keys()
    event.listen(session.sync_session, "after_commit", lambda _session: forget_keys(), once=True)


def forget_keys() -> None:
    """Drop every cached key in this process (after a revocation or an origins change)."""
    for cache in _key_caches.values():
        cache.clear()


def authorize(principal: Principal, scope: str | None, origin: str | None, own_origin: str | None = None) -> None:
    """Scope and origin checks, shared by every protected endpoint (scope None: any secret key or user).

    A publishable key's requests may come from the clinic's allowed origins, or from this
    service's own origin: the embedded form's iframe, which only allowed origins can frame.
    """
    if principal.kind == "publishable":
        if scope is None or scope not in principal.scopes:
            raise Forbidden("a publishable key cannot be used for this operation")
        allowed = principal.allowed_origins + ((own_origin,) if own_origin else ())
        if origin is not None and not _origin_allowed(origin, allowed):
            raise Forbidden("this origin is not allowed to use the key")
    elif scope is not None and scope not in principal.scopes:
        raise Forbidden(f"this operation needs the {scope} scope")


def _origin_allowed(origin: str, allowed: tuple[str, ...]) -> bool:
    try:
        return normalise_origin(origin) in allowed
    except Unprocessable:  # "null" (sandboxed frames, file://) or garbage is never allowed
        return False
