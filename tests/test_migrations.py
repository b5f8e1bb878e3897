"""Alembic owns the schema: upgrade and downgrade work on both databases, and match the models."""

from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

import services.models  # noqa: F401 - registers the tables
from services.core import migrations
from services.core.db import Database, metadata
from tests.conftest import BACKENDS, create_scratch_database, drop_scratch_database


@pytest.fixture(params=BACKENDS)
def scratch_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    url, pg_name = create_scratch_database(request.param, str(tmp_path))
    yield url
    drop_scratch_database(pg_name)


async def _tables(url: str) -> set[str]:
    database = Database(url, pooled=False)
    try:
        async with database.engine.connect() as connection:
            return set(await connection.run_sync(lambda c: inspect(c).get_table_names()))
    finally:
        await database.dispose()


async def _diff(url: str) -> list[object]:
    database = Database(url, pooled=False)
    try:
        async with database.engine.connect() as connection:
            return await connection.run_sync(
                lambda c: compare_metadata(MigrationContext.configure(c, opts={"compare_type": True}), metadata)
            )
    finally:
        await database.dispose()


async def test_upgrade_downgrade_upgrade(scratch_url: str) -> None:
    await migrations.upgrade_async(scratch_url)
    assert {"clinics", "api_keys", "intakes", "referrals"} <= await _tables(scratch_url)
    assert await _diff(scratch_url) == [], "models and migrations disagree: write a migration"

    await migrations.downgrade_async(scratch_url)
    assert await _tables(scratch_url) <= {"alembic_version"}

    await migrations.upgrade_async(scratch_url)
    assert "referrals" in await _tables(scratch_url)


def test_single_head() -> None:
    assert migrations.head_revision() is not None
