"""The `backstride` command: migrate, serve, manage clinics, print the OpenAPI document."""

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Annotated

import typer

from services.core.config import get_settings

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from services.core.schemas import ClinicCreated

DEMO_SLUG = "demo"
DEMO_ORIGINS = ["http://127.0.0.1:8000", "http://localhost:8000"]

app = typer.Typer(help="Backstride: intake, triage and referrals for runners with low back pain.", no_args_is_help=True)
clinic_app = typer.Typer(help="Manage clinics.", no_args_is_help=True)
app.add_typer(clinic_app, name="clinic")


@app.command()
def migrate() -> None:
    """Bring the database schema to the latest migration (alembic upgrade head)."""
    from services.core import migrations

    migrations.upgrade(get_settings().database_url)
    typer.echo("database at migration head")


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to bind")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port")] = 8000,
    workers: Annotated[int, typer.Option(help="Worker processes (PostgreSQL only)")] = 1,
) -> None:
    """Serve the API (and, later, the web UI)."""
    import uvicorn

    settings = get_settings()
    if settings.is_sqlite and workers > 1:
        raise typer.BadParameter("SQLite serves one worker process; use PostgreSQL for more")
    uvicorn.run("services.asgi:app", host=host, port=port, workers=workers, log_level=settings.log_level.lower())


@clinic_app.command("create")
def clinic_create(
    name: Annotated[str, typer.Option(help="Display name")],
    slug: Annotated[str, typer.Option(help="Short unique id: lowercase letters, digits, hyphens")],
    origin: Annotated[
        list[str] | None, typer.Option(help="Allowed origin for the publishable key (repeatable)")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON")] = False,
) -> None:
    """Create a clinic with a secret and a publishable key. The keys are shown only now."""
    from services.core.errors import ServiceError

    try:
        created = asyncio.run(_create_clinic(name, slug, origin or []))
    except ServiceError as exc:
        typer.echo(f"error: {exc.detail}", err=True)
        raise typer.Exit(1) from exc
    if as_json:
        typer.echo(created.model_dump_json())
    else:
        typer.echo(f"clinic {created.slug} ({created.clinic_id})")
        typer.echo(f"  secret key:      {created.secret_key}")
        typer.echo(f"  publishable key: {created.publishable_key}")


@app.command()
def demo() -> None:
    """Create the demo clinic (or give it fresh keys) and print its keys."""
    created = asyncio.run(_demo_clinic())
    typer.echo("Demo clinic ready. Earlier demo keys are revoked; these work until the next `backstride demo`.")
    typer.echo(f"  clinic:          {created.slug} ({created.clinic_id})")
    typer.echo(f"  secret key:      {created.secret_key}")
    typer.echo(f"  publishable key: {created.publishable_key}")


@app.command()
def openapi() -> None:
    """Print the OpenAPI document (openapi/openapi.json is kept equal to it)."""
    typer.echo(openapi_json(), nl=False)


def openapi_json() -> str:
    from services.app import create_app

    return json.dumps(create_app().openapi(), indent=2, sort_keys=True) + "\n"


async def _create_clinic(name: str, slug: str, origins: list[str]) -> "ClinicCreated":
    from services.core import service

    async with _session() as session:
        return await service.create_clinic(session, name=name, slug=slug, origins=origins)


async def _demo_clinic() -> "ClinicCreated":
    from services.core import service

    async with _session() as session:
        if await service.clinic_exists(session, DEMO_SLUG):
            return await service.rotate_keys(session, DEMO_SLUG)
        return await service.create_clinic(session, name="Demo Running Clinic", slug=DEMO_SLUG, origins=DEMO_ORIGINS)


@asynccontextmanager
async def _session() -> AsyncIterator["AsyncSession"]:
    """One unit of work for a CLI command: committed if the block succeeds."""
    from services.core.db import Database

    database = Database(get_settings().database_url, pooled=False)
    try:
        async with database.sessionmaker() as session, session.begin():
            yield session
    finally:
        await database.dispose()
