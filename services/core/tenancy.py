"""Tenancy lives in the repository layer, so no query can forget it.

Every repository of clinical data derives from `ClinicScopedRepository`: it is
built for one clinic and every statement it runs goes through `scoped()`.
A row of another clinic is simply not found (404), never forbidden (403).
"""

import uuid
from typing import Any, ClassVar, Generic, TypeVar

from sqlalchemy import Select, insert, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import SQLModel

ModelT = TypeVar("ModelT")
SelectT = TypeVar("SelectT", bound=Select[*tuple[Any, ...]])


class ClinicScopedRepository(Generic[ModelT]):
    model: ClassVar[Any]

    def __init__(self, session: AsyncSession, clinic_id: uuid.UUID) -> None:
        self.session = session
        self.clinic_id = clinic_id

    def scoped(self, statement: SelectT) -> SelectT:
        return statement.where(self.model.clinic_id == self.clinic_id)

    async def insert_row(self, row: SQLModel) -> None:
        """A Core INSERT of a built model, stamped with this clinic: one round trip and no
        ORM identity-map work, for the hot paths (intake, audit trail)."""
        table = type(row).__table__  # type: ignore[attr-defined]
        values = {column.name: getattr(row, column.name) for column in table.columns}
        await self.session.execute(insert(table).values(**{**values, "clinic_id": self.clinic_id}))

    async def get(self, row_id: uuid.UUID) -> ModelT | None:
        result = await self.session.execute(self.scoped(select(self.model).where(self.model.id == row_id)))
        row: ModelT | None = result.scalar_one_or_none()
        return row
