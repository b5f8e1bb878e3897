"""Clinics, keys and who is calling: the rules, free of HTTP."""

import hashlib
import re
import secrets
import uuid
from dataclasses import dataclass
from typing import Literal

from sqlalchemy.ext.asyncio import AsyncSession

from services.core.db import utcnow
from services.core.errors import Conflict, Forbidden, NotFound, Unauthorized, Unprocessable
from services.core.models import ApiKey, Clinic
from services.core.repository import ClinicRepository
from services.core.schemas import ClinicCreated

KeyKind = Literal["secret", "publishable"]

SECRET_SCOPES = ("intake:write", "intake:read", "referrals:read", "referrals:write", "exports:admin")
# A publishable key sits in a web page: it may submit an intake and nothing else.
PUBLISHABLE_SCOPES = ("intake:write",)

_SLUG = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$")
_ORIGIN = re.compile(r"^https?://[A-Za-z0-9.-]+(?::\d{1,5})?$")


@dataclass(frozen=True)
class Principal:
    """Who is calling, for which clinic, allowed to do what."""

    clinic_id: uuid.UUID
    kind: KeyKind
    key_id: uuid.UUID
    scopes: frozenset[str]
    allowed_origins: tuple[str, ...]


def hash_key(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _new_key(clinic_id: uuid.UUID, kind: KeyKind) -> tuple[str, ApiKey]:
    token = f"{'sk' if kind == 'secret' else 'pk'}_{secrets.token_urlsafe(32)}"
    scopes = SECRET_SCOPES if kind == "secret" else PUBLISHABLE_SCOPES
    row = ApiKey(clinic_id=clinic_id, kind=kind, prefix=token[:11], key_hash=hash_key(token), scopes=list(scopes))
    return token, row


def normalise_origin(origin: str) -> str:
    origin = origin.strip().rstrip("/").lower()
    if not _ORIGIN.match(origin):
        raise Unprocessable(f"not an origin (scheme://host[:port]): {origin!r}")
    return origin


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
    secret, secret_row = _new_key(clinic.id, "secret")
    publishable, publishable_row = _new_key(clinic.id, "publishable")
    await repo.add_key(secret_row)
    await repo.add_key(publishable_row)
    return ClinicCreated(clinic_id=clinic.id, slug=slug, secret_key=secret, publishable_key=publishable)


async def rotate_keys(session: AsyncSession, slug: str) -> ClinicCreated:
    """Revoke a clinic's active keys and issue a new secret/publishable pair."""
    repo = ClinicRepository(session)
    clinic = await repo.get_by_slug(slug)
    if clinic is None:
        raise NotFound(f"no clinic {slug!r}")
    await repo.revoke_all_keys(clinic.id, utcnow())
    secret, secret_row = _new_key(clinic.id, "secret")
    publishable, publishable_row = _new_key(clinic.id, "publishable")
    await repo.add_key(secret_row)
    await repo.add_key(publishable_row)
    return ClinicCreated(clinic_id=clinic.id, slug=slug, secret_key=secret, publishable_key=publishable)


async def create_key(session: AsyncSession, clinic_id: uuid.UUID, kind: KeyKind) -> tuple[str, ApiKey]:
    token, row = _new_key(clinic_id, kind)
    await ClinicRepository(session).add_key(row)
    return token, row


async def revoke_key(session: AsyncSession, clinic_id: uuid.UUID, key_id: uuid.UUID) -> None:
    if not await ClinicRepository(session).revoke_key(clinic_id, key_id, utcnow()):
        raise NotFound("no such active key")


async def authenticate(session: AsyncSession, token: str) -> Principal:
    if not token.startswith(("sk_", "pk_")):
        raise Unauthorized("unknown or revoked key")
    found = await ClinicRepository(session).find_active_key(hash_key(token))
    if found is None:
        raise Unauthorized("unknown or revoked key")
    key, clinic = found
    return Principal(
        clinic_id=clinic.id,
        kind="secret" if key.kind == "secret" else "publishable",
        key_id=key.id,
        scopes=frozenset(key.scopes),
        allowed_origins=tuple(clinic.allowed_origins),
    )


def authorize(principal: Principal, scope: str | None, origin: str | None) -> None:
    """Scope and origin checks, shared by every protected endpoint."""
    if principal.kind == "publishable":
        if scope is None or scope not in principal.scopes:
            raise Forbidden("a publishable key cannot be used for this operation")
        if origin is not None and origin.rstrip("/").lower() not in principal.allowed_origins:
            raise Forbidden("this origin is not allowed to use the key")
    elif scope is not None and scope not in principal.scopes:
        raise Forbidden(f"the key lacks the {scope} scope")
