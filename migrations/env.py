"""Alembic environment: runs migrations on the async engine of DATABASE_URL."""

import asyncio
import logging.config
import os

from alembic import context
from sqlalchemy.engine import Connection

import services.models  # noqa: F401 - registers every table on the metadata
from services.core.config import DEFAULT_DATABASE_URL, async_url
from services.core.db import Database, metadata

config = context.config
if config.config_file_name is not None and config.attributes.get("configure_logging", True):
    logging.config.fileConfig(config.config_file_name, disable_existing_loggers=False)


def _url() -> str:
    # Only the URL: migrating needs no SECRET_KEY, so Settings (which insists on one) is not built.
    return str(config.attributes.get("database_url") or async_url(os.environ.get("DATABASE_URL", DEFAULT_DATABASE_URL)))


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=connection.dialect.name == "sqlite",  # SQLite alters tables by copying them
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


async def _run_async() -> None:
    database = Database(_url(), pooled=False)
    try:
        async with database.engine.connect() as connection:
            await connection.run_sync(_run)
            await connection.commit()
    finally:
        await database.dispose()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:  # called from code that already holds a connection
        _run(connection)
    else:
        asyncio.run(_run_async())


if context.is_offline_mode():
    context.configure(url=_url(), target_metadata=metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()
else:
    run_migrations_online()
