"""Referral queries, always within one clinic. Claims and transitions are single
conditional UPDATEs, so two requests can never both win."""

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Row, Select, func, select, tuple_, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from services.core.db import InsertBatch
from services.core.tenancy import ClinicScopedRepository
from services.referrals.models import OPEN_URGENT_CONDITION, Referral, ReferralEvent
from services.referrals.schemas import OPEN_STATUSES

QUEUE_ORDER = (col(Referral.urgency_rank), col(Referral.created_at), col(Referral.id))


_COLUMNS = tuple(Referral.__table__.columns)  # type: ignore[attr-defined]


def _retriage_due(version: str) -> list[ColumnElement[bool]]:
    """Open, not erased, and not yet triaged or checked against ruleset `version`."""
    checked = func.coalesce(col(Referral.rules_checked_version), col(Referral.ruleset_version))
    return [col(Referral.status).in_(OPEN_STATUSES), col(Referral.erased_at).is_(None), checked != version]


async def clinics_due_for_retriage(session: AsyncSession, version: str) -> list[uuid.UUID]:
    """Clinics with open referrals to re-triage (the open-queue index keeps this to the open rows)."""
    statement = select(col(Referral.clinic_id)).where(*_retriage_due(version)).distinct()
    return list((await session.execute(statement)).scalars())


async def open_urgent_past_due(
    session: AsyncSession, now: datetime, also: ColumnElement[bool], limit: int
) -> list[tuple[uuid.UUID, uuid.UUID, str, datetime]]:
    """Open emergency and urgent referrals (not erased) past due and meeting `also`, across clinics,
    earliest due first: (clinic_id, id, urgency, due_at). The predicate is written as the partial
    index ix_referrals_open_urgent_due's, so PostgreSQL matches the two."""
    statement = (
        select(col(Referral.clinic_id), col(Referral.id), col(Referral.urgency), col(Referral.due_at))
        .where(OPEN_URGENT_CONDITION, col(Referral.due_at) <= now, col(Referral.erased_at).is_(None), also)
        .order_by(col(Referral.due_at))
        .limit(limit)
    )
    return [(row[0], row[1], row[2], row[3]) for row in (await session.execute(statement)).all()]


class ReferralRepository(ClinicScopedRepository[Referral]):
    model = Referral

    def page_statement(
        self, filters: list[ColumnElement[bool]], after: tuple[Any, ...] | None, limit: int
    ) -> Select[Any]:
        """The queue listing query (bench/queue_plans.py shows its plans on a million rows)."""
        statement = self.scoped(select(*_COLUMNS)).where(*filters).order_by(*QUEUE_ORDER).limit(limit)
        if after is not None:
            statement = statement.where(tuple_(*QUEUE_ORDER) > tuple_(*after))
        return statement

    async def page(
        self, filters: list[ColumnElement[bool]], after: tuple[Any, ...] | None, limit: int
    ) -> list[Row[Any]]:
        """A page of plain rows (columns by name): a page is read, never changed, so it skips the
        ORM's identity map and instance set-up, a tenth of a queue page's CPU (bench/)."""
        return list((await self.session.execute(self.page_statement(filters, after, limit))).all())

    async def open_counts(self, statuses: tuple[str, ...]) -> list[tuple[int, str, int]]:
        """(urgency rank, status, count) of the clinic's referrals in `statuses` (served by
        ix_referrals_queue_status: the clinic's open referrals only, never the whole table)."""
        statement = (
            self.scoped(select(col(Referral.urgency_rank), col(Referral.status), func.count()))
            .where(col(Referral.status).in_(statuses))
            .group_by(col(Referral.urgency_rank), col(Referral.status))
        )
        return [(rank, status, count) for rank, status, count in (await self.session.execute(statement)).all()]

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
        # An erased referral is no patient's record any more: FHIR search leaves it out.
        statement = self.scoped(select(Referral)).where(col(Referral.erased_at).is_(None)).order_by(*order).limit(limit)
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

    async def get_locked(self, referral_id: uuid.UUID) -> Referral | None:
        """The referral, share-locked on PostgreSQL until the transaction ends: an erasure
        running meanwhile waits, or is waited for (SQLite has one writer anyway)."""
        statement = self.scoped(select(Referral)).where(col(Referral.id) == referral_id).with_for_update(read=True)
        return (await self.session.execute(statement.execution_options(populate_existing=True))).scalar_one_or_none()

    async def by_ids(self, referral_ids: list[uuid.UUID]) -> list[Referral]:
        statement = self.scoped(select(Referral)).where(col(Referral.id).in_(referral_ids))
        return list((await self.session.execute(statement)).scalars())

    async def for_intakes(self, intake_ids: list[uuid.UUID]) -> list[Referral]:
        statement = self.scoped(select(Referral)).where(col(Referral.intake_id).in_(intake_ids))
        return list((await self.session.execute(statement)).scalars())

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

    async def due_for_retriage(self, version: str, after: uuid.UUID | None, limit: int) -> list[Referral]:
        """Open referrals (new, in review; not erased) not yet triaged or checked against `version`, by id."""
        statement = self.scoped(select(Referral)).where(*_retriage_due(version)).order_by(col(Referral.id)).limit(limit)
        if after is not None:
            statement = statement.where(col(Referral.id) > after)
        return list((await self.session.execute(statement)).scalars())

    async def retriaged(self, referral: Referral, version: str, bump: bool, **values: Any) -> Referral | None:
        """Record a re-triage against `version` if no one has (nor changed the referral) since it was read:
        a conditional UPDATE, so two processes re-triaging at once record it once. `bump`: the referral
        itself changed (a new ETag); a suggestion only marks it checked."""
        where = [col(Referral.id) == referral.id, col(Referral.version) == referral.version, *_retriage_due(version)]
        if bump:
            return await self._update(where, rules_checked_version=version, **values)
        statement = (
            update(Referral)
            .where(col(Referral.clinic_id) == self.clinic_id, *where)
            .values(rules_checked_version=version)
            .returning(Referral)
            .execution_options(populate_existing=True)
        )
        return (await self.session.execute(statement)).scalar_one_or_none()

    async def set_urgency(self, referral_id: uuid.UUID, version: int, **values: Any) -> Referral | None:
        """A person's urgency change, if the referral is still at `version` and not erased."""
        return await self._update(
            [col(Referral.id) == referral_id, col(Referral.version) == version, col(Referral.erased_at).is_(None)],
            **values,
        )

    async def erase(self, referral_id: uuid.UUID, triage: dict[str, Any], now: datetime) -> Referral | None:
        """Close the referral with only statistics left of its triage; None if already erased."""
        return await self._update(
            [col(Referral.id) == referral_id, col(Referral.erased_at).is_(None)],
            status="closed",
            triage=triage,
            urgency_override=None,  # its reason is free text about the patient
            updated_at=now,
            erased_at=now,
        )

    async def clear_notes(self, referral_ids: list[uuid.UUID]) -> int:
        """Remove the notes (and re-triage or urgency details) on these referrals' audit trails;
        returns how many notes were removed."""
        scope = (col(ReferralEvent.clinic_id) == self.clinic_id, col(ReferralEvent.referral_id).in_(referral_ids))
        notes = (
            update(ReferralEvent)
            .where(*scope, col(ReferralEvent.note).is_not(None))
            .values(note=None)
            .execution_options(synchronize_session="fetch")
        )
        removed = int((await self.session.execute(notes)).rowcount)  # type: ignore[attr-defined]
        details = update(ReferralEvent).where(*scope, col(ReferralEvent.detail).is_not(None)).values(detail=None)
        await self.session.execute(details.execution_options(synchronize_session="fetch"))
        return removed

    async def all_events(self, referral_ids: list[uuid.UUID]) -> list[ReferralEvent]:
        """Every event of these referrals, oldest first (a patient's whole trail, unpaginated)."""
        statement = (
            select(ReferralEvent)
            .where(col(ReferralEvent.clinic_id) == self.clinic_id, col(ReferralEvent.referral_id).in_(referral_ids))
            .order_by(col(ReferralEvent.at), col(ReferralEvent.id))
        )
        return list((await self.session.execute(statement)).scalars())

    def stage(self, batch: InsertBatch, referral: Referral, event: ReferralEvent) -> None:
        """A new referral and its first event, into `batch` (which its caller sends)."""
        if referral.clinic_id != self.clinic_id or event.clinic_id != self.clinic_id:
            raise ValueError("a referral of another clinic")
        batch.add_row(referral)
        batch.add_row(event)

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
