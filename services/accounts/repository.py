"""Queries for users. Never commits: the unit of work does."""

import uuid
from datetime import datetime

from sqlalchemy import case, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from services.accounts.models import User


class UserRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(self, user: User) -> User:
        self.session.add(user)
        await self.session.flush()
        return user

    async def get(self, user_id: uuid.UUID) -> User | None:
        return await self.session.get(User, user_id)

    async def record_failed_login(self, user_id: uuid.UUID, max_failures: int, lock_until: datetime) -> None:
        """Count a failure in one statement; the one that reaches `max_failures` locks the account."""
        reached = col(User.failed_logins) + 1 >= max_failures
        await self.session.execute(
            update(User)
            .where(col(User.id) == user_id)
            .values(
                failed_logins=case((reached, 0), else_=col(User.failed_logins) + 1),
                locked_until=case((reached, lock_until), else_=col(User.locked_until)),
            )
        )

    async def by_email(self, email: str) -> User | None:
        result = await self.session.execute(select(User).where(col(User.email) == email))
        return result.scalar_one_or_none()
