"""Health endpoints for load balancers and orchestrators."""

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from services.core import migrations
from services.core.db import Database

router = APIRouter(tags=["health"])


class Health(BaseModel):
    status: str
    detail: str | None = None


@router.get("/healthz", response_model=Health)
async def healthz() -> Health:
    """The process is up. Touches nothing else."""
    return Health(status="ok")


@router.get("/readyz", response_model=Health, responses={503: {"model": Health, "description": "Not ready"}})
async def readyz(request: Request) -> Health | JSONResponse:
    """Ready for traffic: the database answers and its schema is at the migrations' head."""
    database: Database = request.app.state.db
    try:
        current = await migrations.current_revision(database.engine)
    except Exception:  # noqa: BLE001 - any failure to reach the database means "not ready"
        return JSONResponse(
            {"status": "unavailable", "detail": "database unreachable"}, status_code=503, headers={"Retry-After": "5"}
        )
    head = request.app.state.migration_head
    if current != head:
        return JSONResponse(
            {"status": "unavailable", "detail": f"schema at {current}, expected {head}"},
            status_code=503,
            headers={"Retry-After": "5"},
        )
    return Health(status="ok")
