"""Integration and outbox queries. The worker's queries span clinics (it serves them all);
everything the API does is scoped to one clinic."""

import uuid
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any

from sqlalchemy import and_, bindparam, delete, exists, func, insert, literal, or_, select, tuple_, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased
from sqlmodel import col

from services.core.tenancy import ClinicScopedRepository
from services.export.models import ExportItem, FhirIntegration, IntegrationKey


class IntegrationRepository:
    def __init__(self, session: AsyncSession, clinic_id: uuid.UUID) -> None:
        self.session = session
        self.clinic_id = clinic_id

    async def get(self) -> FhirIntegration | None:
        return await self.session.get(FhirIntegration, self.clinic_id)

    async def save(self, integration: FhirIntegration) -> FhirIntegration:
        return await self.session.merge(integration)

    async def keys(self) -> list[IntegrationKey]:
        """The clinic's signing keys, oldest first."""
        statement = (
            select(IntegrationKey)
            .where(col(IntegrationKey.clinic_id) == self.clinic_id)
            .order_by(col(IntegrationKey.created_at), col(IntegrationKey.kid))
        )
        return list((await self.session.execute(statement)).scalars())

    async def add_keys(self, keys: list[IntegrationKey]) -> None:
        self.session.add_all(keys)
        await self.session.flush()

    async def drop_keys(self) -> None:
        await self.session.execute(delete(IntegrationKey).where(col(IntegrationKey.clinic_id) == self.clinic_id))


def _enqueue_if_enabled() -> Any:
    # Built once with bind parameters, so it is compiled once (it runs on every intake).
    table = ExportItem.__table__  # type: ignore[attr-defined]
    enabled = exists().where(
        col(FhirIntegration.clinic_id) == bindparam("clinic_id", type_=table.c.clinic_id.type),
        col(FhirIntegration.enabled).is_(True),
    )
    values = select(
        bindparam("id", type_=table.c.id.type),
        bindparam("clinic_id", type_=table.c.clinic_id.type),
        bindparam("referral_id", type_=table.c.referral_id.type),
        bindparam("event", type_=table.c.event.type),
        literal("pending"),
        literal(0),
        bindparam("now", type_=table.c.created_at.type),
        bindparam("now", type_=table.c.next_attempt_at.type),
    ).where(enabled)
    columns = ["id", "clinic_id", "referral_id", "event", "status", "attempts", "created_at", "next_attempt_at"]
    return insert(table).from_select(columns, values)


_ENQUEUE_IF_ENABLED = _enqueue_if_enabled()


class ExportRepository(ClinicScopedRepository[ExportItem]):
    model = ExportItem

    async def enqueue_if_enabled(self, referral_id: uuid.UUID, event: str, now: datetime) -> None:
        """One INSERT ... SELECT: an item only if the clinic's integration is enabled, without
        an extra round trip on the intake path."""
        params = {"id": uuid.uuid4(), "clinic_id": self.clinic_id, "referral_id": referral_id, "event": event}
        await self.session.execute(_ENQUEUE_IF_ENABLED, {**params, "now": now})

    async def page(self, status: str | None, after: tuple[Any, ...] | None, limit: int) -> list[ExportItem]:
        order = (col(ExportItem.created_at), col(ExportItem.id))
        statement = self.scoped(select(ExportItem)).order_by(*order).limit(limit)
        if status is not None:
            statement = statement.where(col(ExportItem.status) == status)
        if after is not None:
            statement = statement.where(tuple_(*order) > tuple_(*after))
        return list((await self.session.execute(statement)).scalars())

    async def revive(self, item_id: uuid.UUID, now: datetime) -> ExportItem | None:
        """A dead item back to pending, due now, with a fresh count of attempts."""
        statement = (
            update(ExportItem)
            .where(col(ExportItem.clinic_id) == self.clinic_id, col(ExportItem.id) == item_id)
            .where(col(ExportItem.status) == "dead")
            .values(status="pending", attempts=0, next_attempt_at=now, lease_until=None, lease_owner=None)
            .returning(ExportItem)
            .execution_options(populate_existing=True)
        )
        return (await self.session.execute(statement)).scalar_one_or_none()

    async def for_referrals(self, referral_ids: list[uuid.UUID]) -> list[ExportItem]:
        order = (col(ExportItem.created_at), col(ExportItem.id))
        statement = self.scoped(select(ExportItem)).where(col(ExportItem.referral_id).in_(referral_ids))
        statement = statement.order_by(*order)
        return list((await self.session.execute(statement)).scalars())

    async def stop(self, referral_ids: list[uuid.UUID], reason: str, now: datetime) -> tuple[int, int]:
        """Pending items of these referrals made dead with `reason`; dead ones get `reason` as their
        last error too, since it may have quoted the receiving server. An item a worker holds
        right now (its lease running) may already be on the wire, so it is left to that worker to
        record truthfully: delivered, or, on its next attempt, dead as erased (there is nothing
        left to send). Returns (stopped, in flight)."""
        mine = [col(ExportItem.clinic_id) == self.clinic_id, col(ExportItem.referral_id).in_(referral_ids)]
        held = and_(col(ExportItem.lease_until).is_not(None), col(ExportItem.lease_until) > now)
        stopped = await self.session.execute(
            update(ExportItem)
            .where(*mine, col(ExportItem.status) == "pending", ~held)
            .values(status="dead", last_error=reason, lease_until=None, lease_owner=None)
            .execution_options(synchronize_session="fetch")
        )
        in_flight = await self.session.execute(
            select(func.count()).select_from(ExportItem).where(*mine, col(ExportItem.status) == "pending", held)
        )
        await self.session.execute(
            update(ExportItem)
            .where(*mine, col(ExportItem.status) == "dead")
            .values(last_error=reason)
            .execution_options(synchronize_session="fetch")
        )
        return int(stopped.rowcount), int(in_flight.scalar_one())  # type: ignore[attr-defined]


@lru_cache
def _finish_statement(names: tuple[str, ...]) -> Any:
    """The UPDATE recording an outcome that sets these columns, built once per set of columns
    (each delivery runs one; building it each time was a sixth of a delivery's CPU, bench/)."""
    table = ExportItem.__table__  # type: ignore[attr-defined]
    return (
        update(ExportItem)
        .where(col(ExportItem.id) == bindparam("item_id"), col(ExportItem.lease_owner) == bindparam("owner"))
        .values(lease_until=None, lease_owner=None, **{n: bindparam(f"v_{n}", type_=table.c[n].type) for n in names})
    )


class OutboxRepository:
    """The worker's view of the outbox, across clinics."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def claim(self, owner: str, now: datetime, lease: timedelta, limit: int) -> list[ExportItem]:
        """Lease up to `limit` due items. Only a referral's oldest pending item is claimable,
        so one referral's deliveries go out one at a time and in order. PostgreSQL's
        SKIP LOCKED lets workers claim side by side; SQLite has one writer."""
        older = aliased(ExportItem)
        waiting_behind_older = exists().where(
            col(older.referral_id) == col(ExportItem.referral_id),
            col(older.status) == "pending",
            tuple_(col(older.created_at), col(older.id)) < tuple_(col(ExportItem.created_at), col(ExportItem.id)),
        )
        enabled = exists().where(
            col(FhirIntegration.clinic_id) == col(ExportItem.clinic_id), col(FhirIntegration.enabled).is_(True)
        )
        due = (
            select(col(ExportItem.id))
            .where(
                enabled,  # a disabled integration's items wait, pending, until it is enabled again
                col(ExportItem.status) == "pending",
                col(ExportItem.next_attempt_at) <= now,
                or_(col(ExportItem.lease_until).is_(None), col(ExportItem.lease_until) < now),
                ~waiting_behind_older,
            )
            .order_by(col(ExportItem.next_attempt_at))
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        statement = (
            update(ExportItem)
            .where(col(ExportItem.id).in_(due.scalar_subquery()))
            .values(lease_until=now + lease, lease_owner=owner, attempts=col(ExportItem.attempts) + 1)
            .returning(ExportItem)
            .execution_options(populate_existing=True)
        )
        return list((await self.session.execute(statement)).scalars())

    async def bury_abandoned(self, now: datetime, max_attempts: int) -> None:
        """Items whose every attempt ended with the worker gone (lease run out, no outcome)
        are dead: claiming them again would only take another worker down."""
        await self.session.execute(
            update(ExportItem)
            .where(
                col(ExportItem.status) == "pending",
                col(ExportItem.attempts) >= max_attempts,
                col(ExportItem.lease_until) < now,
            )
            .values(status="dead", lease_until=None, lease_owner=None, last_error="no worker finished an attempt")
        )

    async def finish(self, item_id: uuid.UUID, owner: str, **values: Any) -> bool:
        """Record an attempt's outcome, if this worker still holds the lease."""
        params = {"item_id": item_id, "owner": owner, **{f"v_{name}": value for name, value in values.items()}}
        result = await self.session.execute(_finish_statement(tuple(sorted(values))), params)
        return bool(result.rowcount)  # type: ignore[attr-defined]

    async def finish_delivered(self, item_ids: list[uuid.UUID], owner: str, at: datetime) -> int:
        """Mark these items delivered, those this worker still holds; returns how many."""
        result = await self.session.execute(
            update(ExportItem)
            .where(col(ExportItem.id).in_(item_ids), col(ExportItem.lease_owner) == owner)
            .values(status="delivered", delivered_at=at, last_error=None, lease_until=None, lease_owner=None)
        )
        return int(result.rowcount)  # type: ignore[attr-defined]

    async def release(self, item_id: uuid.UUID, owner: str) -> None:
        """Give back an item not yet attempted (on shutdown); the attempt is not counted."""
        statement = (
            update(ExportItem)
            .where(and_(col(ExportItem.id) == item_id, col(ExportItem.lease_owner) == owner))
            .values(lease_until=None, lease_owner=None, attempts=col(ExportItem.attempts) - 1)
        )
        await self.session.execute(statement)

    async def stats(self, now: datetime) -> tuple[dict[str, int], datetime | None]:
        """Items by status, and the oldest due time among pending items already due."""
        counts = await self.session.execute(
            select(col(ExportItem.status), func.count()).group_by(col(ExportItem.status))
        )
        oldest = await self.session.execute(
            select(func.min(col(ExportItem.next_attempt_at))).where(
                col(ExportItem.status) == "pending", col(ExportItem.next_attempt_at) <= now
            )
        )
        return {status: int(n) for status, n in counts.all()}, oldest.scalar_one_or_none()

    async def integrations(self, clinic_ids: set[uuid.UUID]) -> dict[uuid.UUID, FhirIntegration]:
        if not clinic_ids:
            return {}
        statement = select(FhirIntegration).where(col(FhirIntegration.clinic_id).in_(clinic_ids))
        return {row.clinic_id: row for row in (await self.session.execute(statement)).scalars()}


class ExportStatsRepository(ClinicScopedRepository[ExportItem]):
    """The clinic dashboard's view of the outbox."""

    model = ExportItem

    async def by_status(self, start: datetime, end: datetime) -> dict[str, int]:
        """Export items made over [start, end), by status: a range of ix_export_items_clinic."""
        created = col(ExportItem.created_at)
        statement = (
            self.scoped(select(col(ExportItem.status), func.count()))
            .where(created >= start, created < end)
            .group_by(col(ExportItem.status))
        )
        return {str(status): int(n) for status, n in (await self.session.execute(statement)).all()}
