"""Intake queries, always within one clinic."""

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from services.core.db import InsertBatch
from services.core.tenancy import ClinicScopedRepository
from services.intake.models import Intake


def _patient(field: str) -> ColumnElement[Any]:
    """A field of the stored patient block as text (json_extract on SQLite, #>> on PostgreSQL)."""
    stored: ColumnElement[Any] = col(Intake.answers)[("patient", field)].as_string()
    return stored


# Built once: values go in as parameters, so the compiled statement is reused (see insert_row).
_INSERT_ONCE = {
    name: insert(Intake.__table__)  # type: ignore[attr-defined]
    # Either unique key: (clinic, idempotency key) or (clinic, QuestionnaireResponse identifier).
    .on_conflict_do_nothing()
    .returning(col(Intake.id))
    for name, insert in (("postgresql", pg_insert), ("sqlite", sqlite_insert))
}


async def clinics_with_intakes(session: AsyncSession) -> list[uuid.UUID]:
    """Every clinic that has intakes (for work across clinics: the triage impact report)."""
    statement = select(col(Intake.clinic_id)).distinct().order_by(col(Intake.clinic_id))
    return list((await session.execute(statement)).scalars())


class IntakeRepository(ClinicScopedRepository[Intake]):
    model = Intake

    async def insert_once(self, values: dict[str, Any]) -> bool:
        """Insert unless the clinic already has this idempotency key or response identifier;
        True if inserted.

        ON CONFLICT DO NOTHING makes concurrent retries safe: PostgreSQL makes the
        second insert wait for the first transaction, then skips it.
        """
        dialect = self.session.get_bind().dialect.name
        statement = _INSERT_ONCE["postgresql" if dialect == "postgresql" else "sqlite"]
        result = await self.session.execute(statement, {"clinic_id": self.clinic_id, **values})
        return result.first() is not None

    def stage(self, batch: InsertBatch, values: dict[str, Any]) -> None:
        """The intake in `batch`, sent with the rows that go with it: for an intake that cannot
        conflict (no idempotency key, no response identifier)."""
        batch.add(Intake, {**values, "clinic_id": self.clinic_id})

    async def by_idempotency_key(self, key: str) -> Intake | None:
        statement = self.scoped(select(Intake)).where(col(Intake.idempotency_key) == key)
        return (await self.session.execute(statement)).scalar_one_or_none()

    async def by_response_identifier(self, key: str) -> Intake | None:
        statement = self.scoped(select(Intake)).where(col(Intake.response_identifier) == key)
        return (await self.session.execute(statement)).scalar_one_or_none()

    async def by_patient(self, field: str, value: str, *, fold_case: bool = False) -> list[Intake]:
        """Intakes not erased whose patient `field` is `value`, oldest first. No index serves this:
        it reads the clinic's intakes, which is fine for the rare data-rights request."""
        stored = _patient(field)
        # Both sides through the database's lower(), so a stored value always matches itself.
        condition = func.lower(stored) == func.lower(value) if fold_case else stored == value
        statement = (
            self.scoped(select(Intake))
            .where(col(Intake.erased_at).is_(None), condition)
            .order_by(col(Intake.created_at), col(Intake.id))
        )
        return list((await self.session.execute(statement)).scalars())

    async def kept_by_ids(self, intake_ids: list[uuid.UUID]) -> list[Intake]:
        statement = (
            self.scoped(select(Intake))
            .where(col(Intake.id).in_(intake_ids), col(Intake.erased_at).is_(None))
            .order_by(col(Intake.created_at), col(Intake.id))
        )
        return list((await self.session.execute(statement)).scalars())

    async def page_kept(self, after: uuid.UUID | None, limit: int) -> list[Any]:
        """A page of the clinic's intakes not erased, by id (plain rows: id, created_at, intake_date,
        answers), for reading them all a page at a time."""
        columns = (col(Intake.id), col(Intake.created_at), col(Intake.intake_date), col(Intake.answers))
        statement = (
            self.scoped(select(*columns)).where(col(Intake.erased_at).is_(None)).order_by(col(Intake.id)).limit(limit)
        )
        if after is not None:
            statement = statement.where(col(Intake.id) > after)
        return list((await self.session.execute(statement)).all())

    async def erase(self, intake_ids: list[uuid.UUID], marker: dict[str, Any], now: datetime) -> int:
        """Replace the answers with `marker`, and forget what the FHIR response said and the keys it
        was found by; returns how many were erased."""
        statement = (
            update(Intake)
            .where(col(Intake.clinic_id) == self.clinic_id, col(Intake.id).in_(intake_ids))
            .where(col(Intake.erased_at).is_(None))
            .values(
                answers=marker,
                idempotency_key=None,
                request_hash=None,
                fhir_source=None,
                response_identifier=None,
                erased_at=now,
            )
            .execution_options(synchronize_session="fetch")
        )
        result = await self.session.execute(statement)
        return int(result.rowcount)  # type: ignore[attr-defined]
