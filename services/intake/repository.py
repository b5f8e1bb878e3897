"""Intake queries, always within one clinic."""

import uuid
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import col

from services.core.tenancy import ClinicScopedRepository
from services.intake.models import Intake
from services.referrals.models import Referral


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

    async def with_referral(self, intake_id: uuid.UUID) -> tuple[Intake, Referral] | None:
        return await self._one(col(Intake.id) == intake_id)

    async def by_idempotency_key(self, key: str) -> tuple[Intake, Referral] | None:
        return await self._one(col(Intake.idempotency_key) == key)

    async def _one(self, where: Any) -> tuple[Intake, Referral] | None:
        statement = self.scoped(
            select(Intake, Referral).join(Referral, col(Referral.intake_id) == col(Intake.id)).where(where)
        )
        row = (await self.session.execute(statement)).first()
        return (row[0], row[1]) if row else None
