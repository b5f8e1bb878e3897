"""Running Alembic from code: the CLI, /readyz and the tests use these."""

import asyncio
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text
from sqlalchemy.ext.asyncio import AsyncEngine

ROOT = Path(__file__).resolve().parents[2]


def alembic_config(database_url: str | None) -> Config:
    """None: migrations/env.py reads DATABASE_URL itself."""
    config = Config(str(ROOT / "alembic.ini"))
    config.attributes["database_url"] = database_url
    config.attributes["configure_logging"] = False
    return config


def upgrade(database_url: str | None, revision: str = "head") -> None:
    command.upgrade(alembic_config(database_url), revision)


def downgrade(database_url: str, revision: str = "base") -> None:
    command.downgrade(alembic_config(database_url), revision)


def head_revision() -> str | None:
    return ScriptDirectory(str(ROOT / "migrations")).get_current_head()


async def current_revision(engine: AsyncEngine) -> str | None:
    """The database's revision; None when it was never migrated. Raises if unreachable."""
    async with engine.connect() as connection:
        await connection.execution_options(sqlite_begin="DEFERRED")
        if not await connection.run_sync(lambda c: inspect(c).has_table("alembic_version")):
            return None
        result = await connection.execute(text("SELECT version_num FROM alembic_version"))
        return result.scalar_one_or_none()


async def upgrade_async(database_url: str, revision: str = "head") -> None:
    """Alembic's env.py runs its own event loop; keep it off the caller's."""
    await asyncio.to_thread(upgrade, database_url, revision)


async def downgrade_async(database_url: str) -> None:
    await asyncio.to_thread(downgrade, database_url)
