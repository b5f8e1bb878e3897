"""Engine, sessions and the one-unit-of-work-per-request dependency."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

import orjson
from fastapi import Request
from sqlalchemy import JSON, DateTime, MetaData, event
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.pool import NullPool
from sqlalchemy.types import TypeDecorator
from sqlmodel import SQLModel

# Alembic and the models share these names, so constraints can be dropped by name on both databases.
SQLModel.metadata.naming_convention = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
metadata: MetaData = SQLModel.metadata

# JSONB on PostgreSQL (indexable, compact), plain JSON text on SQLite.
JSONType = JSON().with_variant(JSONB(), "postgresql")


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC timestamps on both databases (SQLite stores no offset)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _sqlite_pragmas(engine: AsyncEngine) -> None:
    """Make SQLite transactional the way the code expects.

    pysqlite's own BEGIN handling breaks SAVEPOINTs (used by the test suite) and
    starts transactions DEFERRED, which fail with "database is locked" when two
    writers upgrade at once; BEGIN IMMEDIATE queues writers on busy_timeout instead.
    """

    @event.listens_for(engine.sync_engine, "connect")
    def _connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _begin(conn: Any) -> None:
        # Read-only work (health checks) opts out with execution_options(sqlite_begin="DEFERRED").
        conn.exec_driver_sql(f"BEGIN {conn.get_execution_options().get('sqlite_begin', 'IMMEDIATE')}")


def _json_dumps(value: Any) -> str:
    return orjson.dumps(value).decode()


class Database:
    """An engine and its session factory; one per process (or per test run)."""

    def __init__(self, url: str, *, pool_size: int = 10, pooled: bool = True, pool_timeout: float = 10) -> None:
        kwargs: dict[str, Any] = {}
        if url.startswith("sqlite"):
            kwargs["connect_args"] = {"timeout": 30}
        elif pooled:
            # No pool_pre_ping: with asyncpg it costs three round trips per checkout (BEGIN, ping,
            # ROLLBACK), a third of the intake's. A connection that died with its server fails
            # its request with a 503 (errors.py), and SQLAlchemy then drops the pool's other
            # connections to that server, so recovery still needs no restart; recycling bounds
            # how long an idle connection is trusted (firewalls drop quiet ones).
            # No overflow either: overflow connections are closed as soon as they are returned, so
            # under steady load above pool_size every request paid for a new connection (TLS
            # handshake included). Requests beyond pool_size wait for a connection instead.
            kwargs.update(pool_size=pool_size, max_overflow=0, pool_recycle=1800, pool_timeout=pool_timeout)
        if not pooled:
            kwargs["poolclass"] = NullPool
        self.url = url
        # orjson for the JSON columns: decoding stored triage results was a seventh of a queue
        # page's CPU with the standard library's json (bench/).
        kwargs.update(json_serializer=_json_dumps, json_deserializer=orjson.loads)
        self.engine = create_async_engine(url, **kwargs)
        if url.startswith("sqlite"):
            _sqlite_pragmas(self.engine)
        self.sessionmaker = async_sessionmaker(self.engine, expire_on_commit=False)

    async def dispose(self) -> None:
        await self.engine.dispose()


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    """One request, one unit of work: commit when the endpoint returns, roll back on error.

    Declared with `Depends(get_session, scope="function")` so the commit happens
    before the response is sent: a failed commit becomes an error response,
    never a 201 for data that was not stored.
    """
    database: Database = request.app.state.db
    async with database.sessionmaker() as session, unit_of_work(session):
        yield session


@asynccontextmanager
async def read_only(database: Database) -> AsyncIterator[AsyncSession]:
    """A session whose transaction writes nothing: READ ONLY on PostgreSQL; on SQLite a deferred
    BEGIN, so it does not queue writers behind it as BEGIN IMMEDIATE would."""
    async with database.sessionmaker() as session:
        connection = await session.connection(execution_options={"sqlite_begin": "DEFERRED"})
        if connection.dialect.name == "postgresql":
            await connection.exec_driver_sql("SET TRANSACTION READ ONLY")
        try:
            yield session
        finally:
            await session.rollback()


@asynccontextmanager
async def unit_of_work(session: AsyncSession) -> AsyncIterator[None]:
    """Commit if the block succeeds; roll back if it raises, unless the error asks to keep its writes."""
    try:
        yield
    except BaseException as exc:
        if getattr(exc, "commit", False) is True:
            await session.commit()
        else:
            await session.rollback()
        raise
    await session.commit()
