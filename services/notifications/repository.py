"""Notification settings and outbox queries. The worker's queries span clinics (it serves them
all); everything the API does is scoped to one clinic."""

import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, exists, or_, select, tuple_, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from services.core.tenancy import ClinicScopedRepository
from services.notifications.models import NotificationItem, NotificationSettings


def unannounced(kind: str) -> Any:
    """For the overdue scan: the referral's clinic announces, and this `kind` is not queued for it."""

    def condition(clinic_id: Any, referral_id: Any) -> ColumnElement[bool]:
        announces = exists().where(
            col(NotificationSettings.clinic_id) == clinic_id, col(NotificationSettings.enabled).is_(True)
        )
        queued = exists().where(col(NotificationItem.referral_id) == referral_id, col(NotificationItem.kind) == kind)
        return and_(announces, ~queued)

    return condition


async def queue(session: AsyncSession, rows: list[dict[str, Any]]) -> int:
    """INSERT ... ON CONFLICT DO NOTHING on (referral, kind, channel, target): a second queueing of
    the same announcement, by this transaction or a concurrent one, adds nothing. Returns how many
    were added."""
    if not rows:
        return 0
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    table = NotificationItem.__table__  # type: ignore[attr-defined]
    result = await session.execute(insert(table).values(rows).on_conflict_do_nothing())
    return int(result.rowcount)  # type: ignore[attr-defined]


class SettingsRepository:
    def __init__(self, session: AsyncSession, clinic_id: uuid.UUID) -> None:
        self.session = session
        self.clinic_id = clinic_id

    async def get(self) -> NotificationSettings | None:
        return await self.session.get(NotificationSettings, self.clinic_id)

    async def save(self, settings: NotificationSettings) -> NotificationSettings:
        return await self.session.merge(settings)


class ItemRepository(ClinicScopedRepository[NotificationItem]):
    model = NotificationItem

    async def page(self, status: str | None, after: tuple[Any, ...] | None, limit: int) -> list[NotificationItem]:
        order = (col(NotificationItem.created_at), col(NotificationItem.id))
        statement = self.scoped(select(NotificationItem)).order_by(*order).limit(limit)
        if status is not None:
            statement = statement.where(col(NotificationItem.status) == status)
        if after is not None:
            statement = statement.where(tuple_(*order) > tuple_(*after))
        return list((await self.session.execute(statement)).scalars())

    async def for_referral(self, referral_id: uuid.UUID) -> list[NotificationItem]:
        statement = self.scoped(select(NotificationItem)).where(col(NotificationItem.referral_id) == referral_id)
        order = (col(NotificationItem.created_at), col(NotificationItem.id))
        return list((await self.session.execute(statement.order_by(*order))).scalars())

    async def revive(self, item_id: uuid.UUID, now: datetime) -> NotificationItem | None:
        """A dead item back to pending, due now, with a fresh count of attempts."""
        statement = (
            update(NotificationItem)
            .where(col(NotificationItem.clinic_id) == self.clinic_id, col(NotificationItem.id) == item_id)
            .where(col(NotificationItem.status) == "dead")
            .values(status="pending", attempts=0, next_attempt_at=now, lease_until=None, lease_owner=None)
            .returning(NotificationItem)
            .execution_options(populate_existing=True)
        )
        return (await self.session.execute(statement)).scalar_one_or_none()


class OutboxRepository:
    """The worker's view of the outbox, across clinics."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def claim(self, owner: str, now: datetime, lease: timedelta, limit: int) -> list[NotificationItem]:
        """Lease up to `limit` due items of clinics that announce. SKIP LOCKED lets PostgreSQL
        workers claim side by side; SQLite has one writer."""
        enabled = exists().where(
            col(NotificationSettings.clinic_id) == col(NotificationItem.clinic_id),
            col(NotificationSettings.enabled).is_(True),
        )
        due = (
            select(col(NotificationItem.id))
            .where(
                enabled,  # a clinic that stopped announcing: its items wait, pending
                col(NotificationItem.status) == "pending",
                col(NotificationItem.next_attempt_at) <= now,
                or_(col(NotificationItem.lease_until).is_(None), col(NotificationItem.lease_until) < now),
            )
            .order_by(col(NotificationItem.next_attempt_at))
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        statement = (
            update(NotificationItem)
            .where(col(NotificationItem.id).in_(due.scalar_subquery()))
            .values(lease_until=now + lease, lease_owner=owner, attempts=col(NotificationItem.attempts) + 1)
            .returning(NotificationItem)
            .execution_options(populate_existing=True)
        )
        return list((await self.session.execute(statement)).scalars())

    async def bury_abandoned(self, now: datetime, max_attempts: int) -> None:
        """Items whose every attempt ended with the worker gone (lease run out, no outcome) are dead."""
        await self.session.execute(
            update(NotificationItem)
            .where(
                col(NotificationItem.status) == "pending",
                col(NotificationItem.attempts) >= max_attempts,
                col(NotificationItem.lease_until) < now,
            )
            .values(status="dead", lease_until=None, lease_owner=None, last_error="no worker finished an attempt")
        )

    async def finish(self, item_id: uuid.UUID, owner: str, **values: Any) -> bool:
        """Record an attempt's outcome, if this worker still holds the lease."""
        result = await self.session.execute(
            update(NotificationItem)
            .where(col(NotificationItem.id) == item_id, col(NotificationItem.lease_owner) == owner)
            .values(lease_until=None, lease_owner=None, **values)
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]

    async def release(self, item_id: uuid.UUID, owner: str) -> None:
        """Give back an item not yet attempted (on shutdown); the attempt is not counted."""
        await self.session.execute(
            update(NotificationItem)
            .where(col(NotificationItem.id) == item_id, col(NotificationItem.lease_owner) == owner)
            .values(lease_until=None, lease_owner=None, attempts=col(NotificationItem.attempts) - 1)
        )

    async def settings(self, clinic_ids: set[uuid.UUID]) -> dict[uuid.UUID, NotificationSettings]:
        if not clinic_ids:
            return {}
        statement = select(NotificationSettings).where(col(NotificationSettings.clinic_id).in_(clinic_ids))
        return {row.clinic_id: row for row in (await self.session.execute(statement)).scalars()}
