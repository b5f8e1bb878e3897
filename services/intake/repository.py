"""Intake queries, always within one clinic."""

from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import col

from services.core.tenancy import ClinicScopedRepository
from services.intake.models import Intake


class IntakeRepository(ClinicScopedRepository[Intake]):
    model = Intake

    async def insert_once(self, values: dict[str, Any]) -> bool:
        """Insert unless the clinic already has this idempotency key; True if inserted.

        ON CONFLICT DO NOTHING makes concurrent retries safe: PostgreSQL makes the
        second insert wait for the first transaction, then skips it.
        """
        dialect = self.session.get_bind().dialect.name
        insert = pg_insert if dialect == "postgresql" else sqlite_insert
        statement = (
            insert(Intake)
            .values(clinic_id=self.clinic_id, **values)
            .on_conflict_do_nothing(index_elements=["clinic_id", "idempotency_key"])
            .returning(col(Intake.id))
        )
        result = await self.session.execute(statement)
        return result.first() is not None

    async def by_idempotency_key(self, key: str) -> Intake | None:
        statement = self.scoped(select(Intake)).where(col(Intake.idempotency_key) == key)
        return (await self.session.execute(statement)).scalar_one_or_none()
