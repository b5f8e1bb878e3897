"""Health, readiness and metrics."""

import hmac

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from services.core import migrations, observability
from services.core.auth import Session
from services.core.db import Database

health_router = APIRouter(tags=["health"])


class Health(BaseModel):
    status: str
    detail: str | None = None


@health_router.get("/healthz", response_model=Health)
async def healthz() -> Health:
    """The process is up. Touches nothing else."""
    return Health(status="ok")


@health_router.get("/readyz", response_model=Health, responses={503: {"model": Health, "description": "Not ready"}})
async def readyz(request: Request) -> Health | JSONResponse:
    """Ready for traffic: the database answers and its schema is at the migrations' head."""
    database: Database = request.app.state.db
    try:
        current = await migrations.current_revision(database.engine)
    except Exception:  # noqa: BLE001 - any failure to reach the database means "not ready"
        return _not_ready("database unreachable")
    head = request.app.state.migration_head
    if current != head:
        return _not_ready(f"schema at {current}, expected {head}")
    return Health(status="ok")


def _not_ready(detail: str) -> JSONResponse:
    return JSONResponse({"status": "unavailable", "detail": detail}, status_code=503, headers={"Retry-After": "5"})


@health_router.get("/metrics", include_in_schema=False)
async def metrics(request: Request, session: Session) -> Response:
    """Prometheus metrics: requests by route and status, latency, intakes by urgency, exports.
    In production only for `Authorization: Bearer <METRICS_TOKEN>` (not served without one)."""
    settings = request.app.state.settings
    if settings.environment == "production":
        token = settings.metrics_token.get_secret_value() if settings.metrics_token else None
        sent = request.headers.get("authorization", "")
        if token is None or not hmac.compare_digest(sent.encode(), f"Bearer {token}".encode()):
            return Response(status_code=404)
    body, content_type = await observability.scrape(session)
    return Response(body, media_type=content_type)
