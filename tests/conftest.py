"""Test databases and clients.

Every test runs twice when PostgreSQL is reachable: once on SQLite, once on
PostgreSQL (CI requires it: BACKSTRIDE_REQUIRE_POSTGRES=1). Each database is
built by `alembic upgrade head`, and each test runs inside a transaction that
is rolled back at its end (the app's commits release savepoints).
"""

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Iterator

import asyncpg
import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession

from services.app import create_app
from services.clinics.schemas import ClinicCreated
from services.core import migrations
from services.core.config import Settings
from services.core.db import Database, get_session, unit_of_work
from tests.factories import TEST_SETTINGS, make_clinic
from tests.postgres_cluster import postgres_required

PG_ADMIN_DSN = os.environ.get("BACKSTRIDE_TEST_PG", "postgresql://root@127.0.0.1:5432/postgres")


def _postgres_reachable() -> bool:
    async def probe() -> None:
        connection = await asyncpg.connect(PG_ADMIN_DSN, timeout=3)
        await connection.close()

    try:
        asyncio.run(probe())
    except (OSError, asyncpg.PostgresError, TimeoutError):
        return False
    return True


def _backends() -> list[str]:
    if _postgres_reachable():
        return ["sqlite", "postgresql"]
    if postgres_required():
        raise RuntimeError(f"PostgreSQL is required here but not reachable at {PG_ADMIN_DSN}")
    return ["sqlite"]


BACKENDS = _backends()


def live_backend() -> str:
    """The database for a test that runs the service as a real server: PostgreSQL, as in production.
    SQLite stands in only where PostgreSQL is neither reachable nor required; where it is required
    (BACKSTRIDE_REQUIRE_POSTGRES=1, as .ci/run sets, or CI), its absence fails the test."""
    if "postgresql" in BACKENDS:
        return "postgresql"
    if postgres_required():
        pytest.fail(f"PostgreSQL is required here but not reachable at {PG_ADMIN_DSN}")
    return "sqlite"


def pytest_report_header() -> str:
    return f"backstride databases: {', '.join(BACKENDS)}"


async def _pg_admin(sql: str) -> None:
    connection = await asyncpg.connect(PG_ADMIN_DSN)
    try:
        await connection.execute(sql)
    finally:
        await connection.close()


def create_scratch_database(kind: str, tmp_dir: str) -> tuple[str, str | None]:
    """An empty database of `kind`: (async URL, PostgreSQL name to drop later)."""
    if kind == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_dir}/backstride-{uuid.uuid4().hex[:8]}.db", None
    name = f"backstride_test_{uuid.uuid4().hex[:12]}"
    asyncio.run(_pg_admin(f'CREATE DATABASE "{name}"'))
    base = PG_ADMIN_DSN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://", 1)
    return f"{base}/{name}", name


def drop_scratch_database(name: str | None) -> None:
    if name:
        asyncio.run(_pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(scope="session", params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    url, pg_name = create_scratch_database(request.param, str(tmp_path_factory.mktemp("db")))
    migrations.upgrade(url)
    yield url
    drop_scratch_database(pg_name)


@pytest.fixture(scope="session")
def settings(database_url: str) -> Settings:
    return Settings(environment="test", database_url=database_url, secret_key=TEST_SETTINGS.secret_key)


@pytest.fixture(scope="session")
async def database(settings: Settings) -> AsyncIterator[Database]:
    db = Database(settings.database_url)
    yield db
    await db.dispose()


@pytest.fixture
async def session(database: Database) -> AsyncIterator[AsyncSession]:
    """A session inside a transaction that is rolled back after the test."""
    async with database.engine.connect() as connection:
        transaction = await connection.begin()
        session = AsyncSession(bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False)
        try:
            yield session
        finally:
            await session.close()
            await transaction.rollback()


@pytest.fixture
def app(settings: Settings, database: Database, session: AsyncSession) -> FastAPI:
    application = create_app(settings, database=database)

    async def same_session() -> AsyncIterator[AsyncSession]:
        # Each request gets a savepoint of its own: what the test wrote before it is kept
        # even when the request fails and rolls back.
        await session.commit()
        async with unit_of_work(session):
            yield session

    application.dependency_overrides[get_session] = same_session
    return application


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        yield http


@pytest.fixture
async def clinic(session: AsyncSession) -> ClinicCreated:
    return await make_clinic(session, origins=["https://clinic.example"])


@pytest.fixture
def sk(clinic: ClinicCreated) -> dict[str, str]:
    """Headers authenticating with the clinic's secret key."""
    return {"Authorization": f"Bearer {clinic.secret_key}"}


@pytest.fixture(autouse=True, scope="session")
def cheap_argon2() -> Iterator[None]:
    """Argon2 with minimal cost: still the real algorithm, without 50 ms per hash in every test."""
    from argon2 import PasswordHasher

    from services.accounts import security

    original = security._hasher
    security._hasher = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    yield
    security._hasher = original
