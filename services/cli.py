"""The `backstride` command: migrate, serve, manage clinics and users, print the OpenAPI document."""

import asyncio
import json
import logging.config
import secrets
import signal
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
import uvicorn
from sqlalchemy.ext.asyncio import AsyncSession

from services.accounts import service as accounts
from services.accounts.schemas import Role
from services.app import create_app, tune_collector
from services.clinics import service as clinics
from services.clinics.schemas import ClinicCreated
from services.core import migrations
from services.core.config import get_settings
from services.core.db import Database
from services.core.errors import ServiceError
from services.core.observability import log_config
from services.export.worker import Worker
from services.notifications.worker import Notifier
from services.rulechange import service as rulechange
from services.rulechange.impact import impact as rulechange_impact
from services.rulechange.text import impact_table
from services.triage import service as triage

T = TypeVar("T")

DEMO_SLUG = "demo"
DEMO_USERS: dict[str, Role] = {"physio@demo.example": "physio", "admin@demo.example": "clinic_admin"}
DEMO_ORIGINS = ["http://127.0.0.1:8000", "http://localhost:8000"]

app = typer.Typer(help="Backstride: intake, triage and referrals for runners with low back pain.", no_args_is_help=True)
clinic_app = typer.Typer(help="Manage clinics.", no_args_is_help=True)
user_app = typer.Typer(help="Manage physios and clinic admins.", no_args_is_help=True)
triage_app = typer.Typer(help="Change the triage rules safely.", no_args_is_help=True)
app.add_typer(clinic_app, name="clinic")
app.add_typer(user_app, name="user")
app.add_typer(triage_app, name="triage")


@app.command()
def migrate() -> None:
    """Bring the database schema to the latest migration (alembic upgrade head)."""
    migrations.upgrade(None)  # DATABASE_URL; migrating needs no SECRET_KEY
    typer.echo("database at migration head")


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to bind")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port")] = 8000,
    workers: Annotated[int, typer.Option(help="Worker processes (PostgreSQL only)")] = 1,
) -> None:
    """Serve the API."""
    settings = get_settings()
    if settings.is_sqlite and workers > 1:
        raise typer.BadParameter("SQLite serves one worker process; use PostgreSQL for more")
    uvicorn.run(
        "services.asgi:app",
        host=host,
        port=port,
        workers=workers,
        log_config=log_config(settings.log_level),
        proxy_headers=True,
    )


@app.command()
def worker(
    drain: Annotated[bool, typer.Option("--drain", help="Exit when nothing is due")] = False,
) -> None:
    """Deliver queued FHIR exports and send notifications (the notifier runs beside the export
    worker, so a deployment gets both from one process). SIGTERM/SIGINT: finish what is in hand, then exit."""
    settings = get_settings()
    logging.config.dictConfig(log_config(settings.log_level))

    tune_collector()

    async def work() -> int:
        # Every item of a batch is delivered at once, each with its own sessions.
        pool = max(settings.db_pool_size, settings.export_batch_size + settings.notify_batch_size + 2)
        database = Database(settings.database_url, pool_size=pool)
        runners = (Worker(database, settings), Notifier(database, settings))
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, lambda: [runner.stop() for runner in runners])
        try:
            exported, notified = await asyncio.gather(*(runner.run(drain=drain) for runner in runners))
            return int(exported) + int(notified)
        finally:
            await database.dispose()

    attempted = asyncio.run(work())
    typer.echo(f"worker stopped after {attempted} delivery attempts")


@app.command()
def notifier(
    drain: Annotated[bool, typer.Option("--drain", help="Exit when nothing is due")] = False,
) -> None:
    """Send notifications only (e-mail, signed webhooks) and queue overdue ones: to run it apart
    from the export worker. SIGTERM/SIGINT: finish the sends in hand, then exit."""
    settings = get_settings()
    logging.config.dictConfig(log_config(settings.log_level))
    tune_collector()

    async def work() -> int:
        database = Database(settings.database_url, pool_size=max(settings.db_pool_size, settings.notify_batch_size + 1))
        runner = Notifier(database, settings)
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, runner.stop)
        try:
            return await runner.run(drain=drain)
        finally:
            await database.dispose()

    attempted = asyncio.run(work())
    typer.echo(f"notifier stopped after {attempted} attempts")


@triage_app.command("impact")
def triage_impact(
    rules: Annotated[Path, typer.Option(help="The candidate rules file (YAML, like services/triage/rules.yaml)")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON")] = False,
) -> None:
    """What a candidate rules file would change: every stored intake (not erased) re-triaged with
    the deployed rules and with the candidate, per urgency and per rule. Writes nothing."""
    try:
        candidate = triage.parse_rules(rules.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, triage.RulesError) as exc:
        typer.echo(f"error: {rules} does not load: {exc}", err=True)
        raise typer.Exit(2) from exc
    report = _run(_with_database(lambda database: rulechange_impact(database, candidate)))
    typer.echo(report.model_dump_json(indent=2) if as_json else impact_table(report))


@triage_app.command("retriage")
def triage_retriage(as_json: Annotated[bool, typer.Option("--json", help="Print JSON")] = False) -> None:
    """Re-triage open referrals (new, in review) with the deployed rules, as API start-up does:
    more urgent results escalate, less urgent ones are suggested for a person to decide."""
    report = _run(_with_database(rulechange.retriage))
    if as_json:
        typer.echo(report.model_dump_json())
    else:
        counts = ", ".join(f"{n} {o}" for o, n in report.counts().items())
        typer.echo(f"re-triaged with rules {report.ruleset_version}: {counts}")


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
    created = _run(_create_clinic(name, slug, origin or []))
    if as_json:
        typer.echo(created.model_dump_json())
    else:
        typer.echo(f"clinic {created.slug} ({created.clinic_id})")
        typer.echo(f"  secret key:      {created.secret_key}")
        typer.echo(f"  publishable key: {created.publishable_key}")


@user_app.command("create")
def user_create(
    clinic: Annotated[str, typer.Option(help="The clinic's slug")],
    email: Annotated[str, typer.Option(help="Login email")],
    role: Annotated[Role, typer.Option(help="physio or clinic_admin")],
    password_stdin: Annotated[bool, typer.Option("--password-stdin", help="Read the password from stdin")] = False,
) -> None:
    """Create a physio or clinic admin. The password is read from stdin (never from the command line)."""
    if not password_stdin:
        raise typer.BadParameter("pass --password-stdin and send the password on standard input")
    password = sys.stdin.readline().rstrip("\r\n")
    _run(_create_user(clinic, email, role, password))
    typer.echo(f"user {email.strip().lower()} ({role}) created in {clinic}")


@user_app.command("set-password")
def user_set_password(
    email: Annotated[str, typer.Option(help="Login email")],
    password_stdin: Annotated[bool, typer.Option("--password-stdin", help="Read the password from stdin")] = False,
) -> None:
    """Set a user's password (read from stdin); every session of theirs ends at once."""
    if not password_stdin:
        raise typer.BadParameter("pass --password-stdin and send the password on standard input")
    password = sys.stdin.readline().rstrip("\r\n")
    _run(_account(lambda session: accounts.set_password(session, email, password)))
    typer.echo(f"password of {email.strip().lower()} set; their sessions are ended")


@user_app.command("role")
def user_role(
    email: Annotated[str, typer.Option(help="Login email")],
    role: Annotated[Role, typer.Option(help="physio or clinic_admin")],
) -> None:
    """Give a user another role; every session of theirs ends at once."""
    _run(_account(lambda session: accounts.set_role(session, email, role)))
    typer.echo(f"{email.strip().lower()} is now {role}; their sessions are ended")


@user_app.command("disable")
def user_disable(
    email: Annotated[str, typer.Option(help="Login email")],
    enable: Annotated[bool, typer.Option("--enable", help="Enable the account again instead")] = False,
) -> None:
    """Disable a user (every session ends at once), or enable them again with --enable."""
    _run(_account(lambda session: accounts.set_disabled(session, email, not enable)))
    typer.echo(f"{email.strip().lower()} {'enabled' if enable else 'disabled; their sessions are ended'}")


@app.command()
def demo() -> None:
    """Create the demo clinic, physio and admin (or give them fresh keys and passwords) and print them."""
    created, passwords = _run(_demo())
    typer.echo(
        "Demo clinic ready. Earlier demo keys and passwords no longer work; these do until the next `backstride demo`."
    )
    typer.echo(f"  clinic:          {created.slug} ({created.clinic_id})")
    typer.echo(f"  secret key:      {created.secret_key}")
    typer.echo(f"  publishable key: {created.publishable_key}")
    for email, password in passwords.items():
        typer.echo(f"  user:            {email}  password: {password}")


@app.command()
def openapi() -> None:
    """Print the OpenAPI document (openapi/openapi.json is kept equal to it)."""
    typer.echo(openapi_json(), nl=False)


def openapi_json() -> str:
    return json.dumps(create_app().openapi(), indent=2, sort_keys=True) + "\n"


async def _create_clinic(name: str, slug: str, origins: list[str]) -> ClinicCreated:
    async with _session() as session:
        return await clinics.create_clinic(session, name=name, slug=slug, origins=origins)


async def _account(change: Callable[[AsyncSession], Awaitable[None]]) -> None:
    async with _session() as session:
        await change(session)


async def _create_user(clinic: str, email: str, role: Role, password: str) -> None:
    async with _session() as session:
        await accounts.create_user(session, clinic_slug=clinic, email=email, role=role, password=password)


async def _demo() -> tuple[ClinicCreated, dict[str, str]]:
    passwords = {email: secrets.token_urlsafe(12) for email in DEMO_USERS}
    async with _session() as session:
        if await clinics.clinic_exists(session, DEMO_SLUG):
            created = await clinics.rotate_keys(session, DEMO_SLUG)
            for email, password in passwords.items():
                await accounts.set_password(session, email, password)
        else:
            created = await clinics.create_clinic(
                session, name="Demo Running Clinic", slug=DEMO_SLUG, origins=DEMO_ORIGINS
            )
            for email, role in DEMO_USERS.items():
                await accounts.create_user(
                    session, clinic_slug=DEMO_SLUG, email=email, role=role, password=passwords[email]
                )
    return created, passwords


def _run(work: Coroutine[Any, Any, T]) -> T:
    """Run a command's database work; service errors become a message and exit status 1."""
    try:
        return asyncio.run(work)
    except ServiceError as exc:
        typer.echo(f"error: {exc.detail}", err=True)
        raise typer.Exit(1) from exc


async def _with_database(work: Callable[[Database], Awaitable[T]]) -> T:
    database = Database(get_settings().database_url, pooled=False)
    try:
        return await work(database)
    finally:
        await database.dispose()


@asynccontextmanager
async def _session() -> AsyncIterator[AsyncSession]:
    """One unit of work for a CLI command: committed if the block succeeds."""
    database = Database(get_settings().database_url, pooled=False)
    try:
        async with database.sessionmaker() as session, session.begin():
            yield session
    finally:
        await database.dispose()
