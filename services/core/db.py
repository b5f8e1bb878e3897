"""Engine, sessions and the one-unit-of-work-per-request dependency."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

import orjson
from fastapi import Request
from sqlalchemy import JSON, DateTime, MetaData, Table, event, insert
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


class InsertBatch:
    """Rows bound for several tables, sent in one round trip: on PostgreSQL one statement of
    data-modifying CTEs (`WITH a AS (INSERT ...), b AS (INSERT ...) INSERT ...`), on SQLite one
    INSERT each. For rows that cannot conflict (an insert that may hit a unique key and must say
    so goes on its own). Foreign keys are checked at the end of the statement, so a row may refer
    to another of the same batch.

    The statement goes to the driver as text with its values in column order, prepared once per
    shape: four INSERTs through the ORM session were a third of an intake's CPU (bench/)."""

    def __init__(self) -> None:
        self.rows: list[tuple[Table, dict[str, Any]]] = []

    def add(self, model: type[SQLModel], values: dict[str, Any]) -> None:
        """A row of `model`'s table; columns not in `values` are NULL (no defaults are applied)."""
        table: Table = model.__table__  # type: ignore[attr-defined]
        self.rows.append((table, {column.name: values.get(column.name) for column in table.columns}))

    def add_row(self, row: SQLModel) -> None:
        """A built model's row, every column as the model has it (its defaults applied)."""
        table: Table = type(row).__table__  # type: ignore[attr-defined]
        self.rows.append((table, {column.name: getattr(row, column.name) for column in table.columns}))

    async def send(self, session: AsyncSession) -> None:
        rows, self.rows = self.rows, []
        if not rows:
            return
        connection = await session.connection()
        if connection.dialect.name != "postgresql":
            for table, values in rows:
                await connection.execute(insert(table), values)
            return
        sql, encoders = _batch_statement(tuple(table for table, _ in rows), connection.dialect)
        parameters = [encode(values[name]) for (_, values), table_encoders in zip(rows, encoders, strict=True)
                      for name, encode in table_encoders]  # fmt: skip
        await connection.exec_driver_sql(sql, tuple(parameters))


def _as_is(value: Any) -> Any:
    return value


Encoders = tuple[tuple[tuple[str, Any], ...], ...]


@lru_cache(maxsize=64)
def _batch_statement(tables: tuple[Table, ...], dialect: Dialect) -> tuple[str, Encoders]:
    """The one statement that inserts a row into each table in turn (asyncpg's $n parameters),
    and per table each column with SQLAlchemy's own bind processing for its type (JSON, UTC
    timestamps), so a row is stored exactly as a Core INSERT would store it."""
    parts: list[str] = []
    encoders = []
    number = 0
    for table in tables:
        columns = list(table.columns)
        placeholders = ", ".join(f"${number + i + 1}" for i in range(len(columns)))
        number += len(columns)
        names = ", ".join(f'"{c.name}"' for c in columns)
        # Names from the models' metadata, values as parameters: nothing from a request in the text.
        parts.append(f'INSERT INTO "{table.name}" ({names}) VALUES ({placeholders})')  # noqa: S608
        processors = ((c.name, c.type.dialect_impl(dialect).bind_processor(dialect)) for c in columns)
        encoders.append(tuple((name, processor or _as_is) for name, processor in processors))
    ctes = ", ".join(f"row_{i} AS ({part})" for i, part in enumerate(parts[:-1]))
    return (f"WITH {ctes} {parts[-1]}" if ctes else parts[-1]), tuple(encoders)


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
