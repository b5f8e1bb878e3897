"""Referral queries, always within one clinic. Claims and transitions are single
conditional UPDATEs, so two requests can never both win."""

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, select, tuple_, update
from sqlmodel import col

from services.core.tenancy import ClinicScopedRepository
from services.referrals.models import Referral, ReferralEvent

QUEUE_ORDER = (col(Referral.urgency_rank), col(Referral.created_at), col(Referral.id))


class ReferralRepository(ClinicScopedRepository[Referral]):
    model = Referral

    def page_statement(
        self, filters: list[ColumnElement[bool]], after: tuple[Any, ...] | None, limit: int
    ) -> Select[Referral]:
        """The queue listing query (bench/queue_plans.py shows its plans on a million rows)."""
        statement = self.scoped(select(Referral)).where(*filters).order_by(*QUEUE_ORDER).limit(limit)
        if after is not None:
            statement = statement.where(tuple_(*QUEUE_ORDER) > tuple_(*after))
        return statement

    async def page(
        self, filters: list[ColumnElement[bool]], after: tuple[Any, ...] | None, limit: int
    ) -> list[Referral]:
        return list((await self.session.execute(self.page_statement(filters, after, limit))).scalars())

    async def changed(
        self,
        statuses: tuple[str, ...],
        start: datetime | None,
        end: datetime | None,
        after: tuple[Any, ...] | None,
        limit: int,
    ) -> list[Referral]:
        """Referrals by last change, oldest change first (for FHIR search and sync)."""
        order = (col(Referral.updated_at), col(Referral.id))
        statement = self.scoped(select(Referral)).order_by(*order).limit(limit)
        if statuses:
            statement = statement.where(col(Referral.status).in_(statuses))
        if start is not None:
            statement = statement.where(col(Referral.updated_at) >= start)
        if end is not None:
            statement = statement.where(col(Referral.updated_at) < end)
        if after is not None:
            statement = statement.where(tuple_(*order) > tuple_(*after))
        return list((await self.session.execute(statement)).scalars())

    async def for_intake(self, intake_id: uuid.UUID) -> Referral | None:
        statement = self.scoped(select(Referral)).where(col(Referral.intake_id) == intake_id)
        return (await self.session.execute(statement)).scalar_one_or_none()

    async def _update(self, where: list[ColumnElement[bool]], **values: Any) -> Referral | None:
        statement = (
            update(Referral)
            .where(col(Referral.clinic_id) == self.clinic_id, *where)
            .values(version=col(Referral.version) + 1, **values)
            .returning(Referral)
            .execution_options(populate_existing=True)
        )
        return (await self.session.execute(statement)).scalar_one_or_none()

    async def claim(self, referral_id: uuid.UUID, user_id: uuid.UUID, now: datetime) -> Referral | None:
        """Take a `new` referral; None if it is not new (any more) or not this clinic's."""
        return await self._update(
            [col(Referral.id) == referral_id, col(Referral.status) == "new"],
            status="in_review",
            assignee_id=user_id,
            updated_at=now,
        )

    async def claim_next(self, user_id: uuid.UUID, now: datetime) -> Referral | None:
        """Take the first `new` referral in queue order. On PostgreSQL, SKIP LOCKED lets
        concurrent callers pass over a row another transaction is taking; SQLite has one writer."""
        first = (
            self.scoped(select(col(Referral.id)))
            .where(col(Referral.status) == "new")
            .order_by(*QUEUE_ORDER)
            .limit(1)
            .with_for_update(skip_locked=True)
            .scalar_subquery()
        )
        return await self._update(
            [col(Referral.id) == first, col(Referral.status) == "new"],
            status="in_review",
            assignee_id=user_id,
            updated_at=now,
        )

    async def move(
        self, referral_id: uuid.UUID, version: int, from_status: str, to_status: str, now: datetime, **extra: Any
    ) -> Referral | None:
        """Change status if the referral is still at `version`; None if someone changed it first."""
        return await self._update(
            [col(Referral.id) == referral_id, col(Referral.version) == version, col(Referral.status) == from_status],
            status=to_status,
            updated_at=now,
            **extra,
        )

    async def add_event(self, event: ReferralEvent) -> None:
        await self.insert_row(event)

    async def events(self, referral_id: uuid.UUID, after: tuple[Any, ...] | None, limit: int) -> list[ReferralEvent]:
        order = (col(ReferralEvent.at), col(ReferralEvent.id))
        statement = (
            select(ReferralEvent)
            .where(col(ReferralEvent.clinic_id) == self.clinic_id, col(ReferralEvent.referral_id) == referral_id)
            .order_by(*order)
            .limit(limit)
        )
        if after is not None:
            statement = statement.where(tuple_(*order) > tuple_(*after))
        return list((await self.session.execute(statement)).scalars())
