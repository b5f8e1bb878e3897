"""Queries for users, their sessions and login throttling. Never commits: the unit of work does."""

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import case, delete, literal, null, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from services.accounts.models import AuthSession, Invitation, LoginThrottle, User


class UserRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(self, user: User) -> User:
        self.session.add(user)
        await self.session.flush()
        return user

    async def get(self, user_id: uuid.UUID) -> User | None:
        return await self.session.get(User, user_id)

    async def by_email(self, email: str) -> User | None:
        result = await self.session.execute(select(User).where(col(User.email) == email))
        return result.scalar_one_or_none()

    async def in_clinic(self, clinic_id: uuid.UUID, user_id: uuid.UUID) -> User | None:
        """The clinic's user with this id (None for another clinic's)."""
        statement = select(User).where(col(User.id) == user_id, col(User.clinic_id) == clinic_id)
        return (await self.session.execute(statement)).scalar_one_or_none()

    async def of_clinic(self, clinic_id: uuid.UUID) -> list[User]:
        statement = select(User).where(col(User.clinic_id) == clinic_id).order_by(col(User.email))
        return list((await self.session.execute(statement)).scalars())

    async def add_session(self, row: AuthSession) -> None:
        self.session.add(row)
        await self.session.flush()

    async def with_session(self, session_id: uuid.UUID, now: datetime) -> User | None:
        """The user of a live session (not revoked, not expired), in one round trip."""
        statement = (
            select(User)
            .join(AuthSession, col(AuthSession.user_id) == col(User.id))
            .where(
                col(AuthSession.id) == session_id,
                col(AuthSession.revoked_at).is_(None),
                col(AuthSession.expires_at) > now,
            )
        )
        return (await self.session.execute(statement)).scalar_one_or_none()

    async def revoke_session(self, session_id: uuid.UUID, now: datetime) -> bool:
        statement = (
            update(AuthSession)
            .where(col(AuthSession.id) == session_id, col(AuthSession.revoked_at).is_(None))
            .values(revoked_at=now)
        )
        return bool((await self.session.execute(statement)).rowcount)  # type: ignore[attr-defined]

    async def revoke_sessions(self, user_id: uuid.UUID, now: datetime) -> None:
        """End every session of the user (a new password, role or a disabled account)."""
        await self.session.execute(
            update(AuthSession)
            .where(col(AuthSession.user_id) == user_id, col(AuthSession.revoked_at).is_(None))
            .values(revoked_at=now)
        )


class InvitationRepository:
    """One-time links to set a password, always read within the clinic or by the token's hash."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(self, invitation: Invitation) -> None:
        self.session.add(invitation)
        await self.session.flush()

    async def drop_open(self, user_id: uuid.UUID) -> None:
        """Earlier links of the user that were never used: a new link replaces them."""
        await self.session.execute(
            delete(Invitation).where(col(Invitation.user_id) == user_id, col(Invitation.used_at).is_(None))
        )

    async def live(self, token_hash: str, now: datetime) -> Invitation | None:
        statement = select(Invitation).where(
            col(Invitation.token_hash) == token_hash,
            col(Invitation.used_at).is_(None),
            col(Invitation.expires_at) > now,
        )
        return (await self.session.execute(statement)).scalar_one_or_none()

    async def use(self, token_hash: str, now: datetime) -> uuid.UUID | None:
        """Mark the link used, if it is live: one conditional UPDATE, so two requests racing with
        the same link cannot both use it. Returns its user's id."""
        statement = (
            update(Invitation)
            .where(
                col(Invitation.token_hash) == token_hash,
                col(Invitation.used_at).is_(None),
                col(Invitation.expires_at) > now,
            )
            .values(used_at=now)
            .returning(col(Invitation.user_id))
        )
        return (await self.session.execute(statement)).scalar_one_or_none()

    async def open_for(self, clinic_id: uuid.UUID, now: datetime) -> dict[uuid.UUID, datetime]:
        """When each of the clinic's users' live link expires."""
        statement = select(col(Invitation.user_id), col(Invitation.expires_at)).where(
            col(Invitation.clinic_id) == clinic_id, col(Invitation.used_at).is_(None), col(Invitation.expires_at) > now
        )
        return {user_id: expires for user_id, expires in (await self.session.execute(statement)).all()}


_TABLE: Any = LoginThrottle.__table__  # type: ignore[attr-defined]


class ThrottleRepository:
    """Failed-login counters, each under an HMAC key (see accounts.throttle)."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def blocked_until(self, keys: list[str]) -> datetime | None:
        """The latest time any of these keys is blocked until (None: none is)."""
        statement = select(col(LoginThrottle.blocked_until)).where(col(LoginThrottle.key).in_(keys))
        times = [t for t in (await self.session.execute(statement)).scalars() if t is not None]
        return max(times, default=None)

    async def count_failure(self, key: str, now: datetime, window_start: datetime) -> int:
        """One more failure under `key` (counting afresh after a quiet window); returns the count."""
        table = _TABLE
        upsert = pg_insert if self.session.get_bind().dialect.name == "postgresql" else sqlite_insert
        insert = upsert(table).values(key=key, failures=1, last_failure_at=now)
        stale = table.c.last_failure_at < window_start
        statement = insert.on_conflict_do_update(
            index_elements=[table.c.key],
            set_={
                "failures": _case(stale, 1, table.c.failures + 1),
                "last_failure_at": now,
                "blocked_until": _case(stale, None, table.c.blocked_until),
            },
        ).returning(table.c.failures)
        return int((await self.session.execute(statement)).scalar_one())

    async def block(self, key: str, until: datetime) -> None:
        await self.session.execute(
            update(LoginThrottle).where(col(LoginThrottle.key) == key).values(blocked_until=until)
        )

    async def forget(self, key: str) -> None:
        await self.session.execute(
            update(LoginThrottle).where(col(LoginThrottle.key) == key).values(failures=0, blocked_until=None)
        )


def _case(condition: Any, then: Any, otherwise: Any) -> Any:
    return case((condition, null() if then is None else literal(then)), else_=otherwise)
