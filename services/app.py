"""The ASGI application: routers, error handlers and middleware wired together."""

import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.staticfiles import StaticFiles
from sqlalchemy.exc import SQLAlchemyError

from services.accounts.router import auth_router
from services.clinics.router import clinic_router
from services.core import migrations
from services.core.config import Settings, get_settings
from services.core.db import Database
from services.core.errors import install_handlers, problems_in_openapi
from services.core.middleware import BodyLimit, SecurityHeaders
from services.core.observability import RequestContext, silence_data_loggers
from services.core.ratelimit import Limiter
from services.core.router import health_router
from services.export.fhir_router import router as fhir_router
from services.export.router import router as export_router
from services.intake.router import router as intake_router
from services.notifications.router import router as notifications_router
from services.privacy.router import router as privacy_router
from services.referrals.router import router as referrals_router
from services.rulechange import service as rulechange
from services.triage.router import router as triage_router
from services.web.admin.router import router as admin_ui_router
from services.web.dashboard.router import router as dashboard_ui_router
from services.web.pages import HERE as WEB_DIR
from services.web.router import router as web_router

LOG = logging.getLogger("backstride")

DESCRIPTION = """
Clinician intake and referral service for runners with low back pain.

Authenticate with `Authorization: Bearer <key>`: a clinic's secret key (`sk_...`)
for server-to-server use, or its publishable key (`pk_...`) from an embedded form
(intake submission and triage dry runs only). Errors are RFC 9457
`application/problem+json`.
"""


def tune_collector() -> None:
    """For a long-lived process, once everything is imported. Python's collector was a fifth of
    the API's CPU and most of its slowest requests (bench/): what is loaded by now lives as long
    as the process, so it is frozen out of the collector's sight, and the young generation is
    collected every 20,000 allocations rather than every 700 (a request allocates thousands of
    short-lived objects; reference counting frees them, the collector is only for cycles)."""
    gc.freeze()
    gc.set_threshold(20_000, 20, 100)


async def retriage_at_startup(db: Database) -> None:
    """Waiting referrals are re-triaged under the deployed ruleset before the first request.
    A database that is not reachable or not migrated yet is left alone (readyz says so);
    `backstride triage retriage` does the same work later."""
    try:
        if await migrations.current_revision(db.engine) != migrations.head_revision():
            LOG.warning("re-triage skipped at start-up: the database is not at the migrations' head")
            return
        await rulechange.retriage(db)
    except (OSError, SQLAlchemyError) as exc:
        LOG.warning("re-triage skipped at start-up: %s; run `backstride triage retriage`", type(exc).__name__)


def create_app(settings: Settings | None = None, database: Database | None = None) -> FastAPI:
    """Build the app. Tests pass their own `database`; otherwise one is made from settings."""
    settings = settings or get_settings()
    silence_data_loggers()
    owns_database = database is None
    db = database or Database(settings.database_url, pool_size=settings.db_pool_size)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        if settings.retriage_on_startup:
            await retriage_at_startup(db)
        yield
        if owns_database:
            await db.dispose()

    docs = settings.docs_enabled  # off in production unless DOCS=true: its assets come from a CDN
    app = FastAPI(
        title="Backstride",
        version="1.0.0",
        description=DESCRIPTION,
        lifespan=lifespan,
        docs_url="/docs" if docs else None,
        redoc_url="/redoc" if docs else None,
    )
    app.state.settings = settings
    app.state.db = db
    app.state.migration_head = migrations.head_revision()
    app.state.limiter = Limiter()
    install_handlers(app)
    app.include_router(health_router)
    app.include_router(auth_router)
    app.include_router(clinic_router)
    app.include_router(intake_router)
    app.include_router(triage_router)
    app.include_router(referrals_router)
    app.include_router(export_router)
    app.include_router(privacy_router)
    app.include_router(notifications_router)
    app.include_router(fhir_router)
    app.include_router(web_router)
    app.include_router(admin_ui_router)
    app.include_router(dashboard_ui_router)
    app.mount("/static", StaticFiles(directory=WEB_DIR / "static"), name="static")
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes)
    app.add_middleware(SecurityHeaders)
    app.add_middleware(RequestContext)

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = problems_in_openapi(
                get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
            )
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app
