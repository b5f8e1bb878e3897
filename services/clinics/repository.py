"""Queries for clinics and keys. Never commits: the unit of work does."""

import uuid
from datetime import datetime
from typing import NamedTuple

from sqlalchemy import bindparam, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from services.clinics.models import AdminEvent, ApiKey, Clinic


class ActiveKey(NamedTuple):
    id: uuid.UUID
    kind: str
    prefix: str
    scopes: list[str]
    clinic_id: uuid.UUID
    allowed_origins: list[str]


_ACTIVE_KEY = (
    select(
        col(ApiKey.id),
        col(ApiKey.kind),
        col(ApiKey.prefix),
        col(ApiKey.scopes),
        col(Clinic.id),
        col(Clinic.allowed_origins),
    )
    .join(Clinic, col(Clinic.id) == col(ApiKey.clinic_id))
    .where(col(ApiKey.key_hash) == bindparam("key_hash"), col(ApiKey.revoked_at).is_(None))
)


class ClinicRepository:
    """Clinics and their keys. The clinic id is always part of the key queries."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, clinic_id: uuid.UUID) -> Clinic | None:
        return await self.session.get(Clinic, clinic_id)

    async def set_origins(self, clinic_id: uuid.UUID, origins: list[str]) -> None:
        await self.session.execute(update(Clinic).where(col(Clinic.id) == clinic_id).values(allowed_origins=origins))

    async def list_keys(self, clinic_id: uuid.UUID) -> list[ApiKey]:
        result = await self.session.execute(
            select(ApiKey).where(col(ApiKey.clinic_id) == clinic_id).order_by(col(ApiKey.created_at), col(ApiKey.id))
        )
        return list(result.scalars())

    async def add_clinic(self, clinic: Clinic) -> Clinic:
        self.session.add(clinic)
        await self.session.flush()
        return clinic

    async def slug_taken(self, slug: str) -> bool:
        result = await self.session.execute(select(col(Clinic.id)).where(col(Clinic.slug) == slug))
        return result.first() is not None

    async def get_by_slug(self, slug: str) -> Clinic | None:
        result = await self.session.execute(select(Clinic).where(col(Clinic.slug) == slug))
        return result.scalar_one_or_none()

    async def add_key(self, key: ApiKey) -> ApiKey:
        self.session.add(key)
        await self.session.flush()
        return key

    async def find_active_key(self, key_hash: str) -> ActiveKey | None:
        """The key and its clinic in one round trip (this runs on every request): plain
        columns, no ORM objects to build, and one statement compiled once."""
        row = (await self.session.execute(_ACTIVE_KEY, {"key_hash": key_hash})).first()
        return ActiveKey(*row) if row else None

    async def revoke_key(self, clinic_id: uuid.UUID, key_id: uuid.UUID, at: datetime) -> tuple[str, str] | None:
        """(kind, prefix) of the key revoked now; None if the clinic has no such active key."""
        result = await self.session.execute(
            update(ApiKey)
            .where(col(ApiKey.id) == key_id, col(ApiKey.clinic_id) == clinic_id, col(ApiKey.revoked_at).is_(None))
            .values(revoked_at=at)
            .returning(col(ApiKey.kind), col(ApiKey.prefix))
        )
        row = result.first()
        return (row[0], row[1]) if row else None

    async def revoke_all_keys(self, clinic_id: uuid.UUID, at: datetime) -> None:
        await self.session.execute(
            update(ApiKey)
            .where(col(ApiKey.clinic_id) == clinic_id, col(ApiKey.revoked_at).is_(None))
            .values(revoked_at=at)
        )


class AdminEventRepository:
    """The clinic admins' trail, one clinic at a time."""

    def __init__(self, session: AsyncSession, clinic_id: uuid.UUID) -> None:
        self.session = session
        self.clinic_id = clinic_id

    async def add(self, event: AdminEvent) -> None:
        event.clinic_id = self.clinic_id
        self.session.add(event)
        await self.session.flush()

    async def latest(self, limit: int) -> list[AdminEvent]:
        statement = (
            select(AdminEvent)
            .where(col(AdminEvent.clinic_id) == self.clinic_id)
            .order_by(col(AdminEvent.at).desc(), col(AdminEvent.id))
            .limit(limit)
        )
        return list((await self.session.execute(statement)).scalars())
