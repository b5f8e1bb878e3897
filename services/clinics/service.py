"""Clinics and their keys: creating them, the admin's settings, and recognising a key."""

import hashlib
import re
import secrets
import uuid
from typing import Literal

from cachetools import TTLCache
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession

from services.clinics.models import AdminEvent, ApiKey, Clinic
from services.clinics.repository import ActiveKey, AdminEventRepository, ClinicRepository
from services.clinics.schemas import AdminEventOut, ClinicCreated, ClinicOut, KeyCreated, KeyOut
from services.core.config import Settings
from services.core.db import utcnow
from services.core.errors import Conflict, NotFound, Unauthorized, Unprocessable
from services.core.principal import Principal, normalise_origin

KeyKind = Literal["secret", "publishable"]

SECRET_SCOPES = ("intake:write", "intake:read", "referrals:read", "referrals:write", "exports:admin")
# A publishable key sits in a web page: it may submit an intake and nothing else.
PUBLISHABLE_SCOPES = ("intake:write",)

_SLUG = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$")


def hash_key(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _new_key(clinic_id: uuid.UUID, kind: KeyKind) -> tuple[str, ApiKey]:
    token = f"{'sk' if kind == 'secret' else 'pk'}_{secrets.token_urlsafe(32)}"
    scopes = SECRET_SCOPES if kind == "secret" else PUBLISHABLE_SCOPES
    row = ApiKey(clinic_id=clinic_id, kind=kind, prefix=token[:11], key_hash=hash_key(token), scopes=list(scopes))
    return token, row


async def clinic_exists(session: AsyncSession, slug: str) -> bool:
    return await ClinicRepository(session).slug_taken(slug)


async def clinic_id_of(session: AsyncSession, slug: str) -> uuid.UUID:
    clinic = await ClinicRepository(session).get_by_slug(slug)
    if clinic is None:
        raise NotFound(f"no clinic {slug!r}")
    return clinic.id


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


async def revoke_key(session: AsyncSession, clinic_id: uuid.UUID, key_id: uuid.UUID) -> str:
    """Revoke the key; says which ("secret key sk_AbCd1234"), for the admin trail."""
    revoked = await ClinicRepository(session).revoke_key(clinic_id, key_id, utcnow())
    if revoked is None:
        raise NotFound("no such active key")
    _forget_keys_on_commit(session)
    return f"{revoked[0]} key {revoked[1]}"


async def record_admin_event(session: AsyncSession, actor: Principal, action: str, target: str) -> None:
    """One line on the clinic's admin trail (`key.created`, `user.invited`, ...): who did what to
    what, never a secret or clinical data. Written in the change's own transaction."""
    await AdminEventRepository(session, actor.clinic_id).add(
        AdminEvent(clinic_id=actor.clinic_id, actor_id=actor.user_id, actor_label=actor.label[:254],
                   action=action, target=target[:300], at=utcnow())
    )  # fmt: skip


async def admin_events(session: AsyncSession, clinic_id: uuid.UUID, limit: int = 20) -> list[AdminEventOut]:
    """The clinic's latest admin actions, newest first."""
    rows = await AdminEventRepository(session, clinic_id).latest(limit)
    return [AdminEventOut(actor=r.actor_label, action=r.action, target=r.target, at=r.at) for r in rows]


async def authenticate_key(session: AsyncSession, settings: Settings, token: str) -> Principal:
    """The caller a clinic key (sk_..., pk_...) stands for."""
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
