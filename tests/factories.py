"""Small factories for test data."""

import copy
import json
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from services.core import service as core
from services.core.db import Database
from services.core.models import Clinic, User
from services.core.schemas import ClinicCreated, Role
from services.core.service import Principal
from services.export import service as export
from services.export.schemas import IntegrationIn

VIGNETTES = Path(__file__).parent / "triage" / "vignettes.jsonl"


def vignettes() -> list[dict[str, Any]]:
    return [json.loads(line) for line in VIGNETTES.read_text(encoding="utf-8").splitlines() if line.strip()]


_BASE = vignettes()[0]["intake"]


def intake_body(**sections: Any) -> dict[str, Any]:
    """A complete, benign intake body; keyword arguments update whole sections' fields,
    e.g. intake_body(neuro={"saddle_numbness": True})."""
    body: dict[str, Any] = copy.deepcopy(_BASE)
    for section, fields in sections.items():
        if isinstance(fields, dict) and isinstance(body.get(section), dict):
            body[section].update(fields)
        else:
            body[section] = fields
    return body


async def make_clinic(session: AsyncSession, origins: list[str] | None = None) -> ClinicCreated:
    slug = f"clinic-{uuid.uuid4().hex[:10]}"
    return await core.create_clinic(session, name=f"Clinic {slug}", slug=slug, origins=origins or [])


def secret_principal(clinic: ClinicCreated) -> Principal:
    """The caller a clinic's secret key authenticates as."""
    return Principal(clinic_id=clinic.clinic_id, kind="secret", scopes=frozenset(core.SECRET_SCOPES), label="sk_test")


async def make_user(session: AsyncSession, clinic_slug: str, role: Role = "physio") -> tuple[User, str]:
    password = f"pw-{uuid.uuid4().hex}"
    email = f"{role}-{uuid.uuid4().hex[:8]}@{clinic_slug}.example"
    user = await core.create_user(session, clinic_slug=clinic_slug, email=email, role=role, password=password)
    return user, password


async def login(client: httpx.AsyncClient, email: str, password: str) -> dict[str, str]:
    """Headers carrying a fresh access token for the user."""
    response = await client.post("/v1/auth/token", data={"username": email, "password": password})
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


def references(value: Any) -> list[str]:
    """Every FHIR `reference` string anywhere in a resource (or Bundle)."""
    if isinstance(value, dict):
        found = [value["reference"]] if isinstance(value.get("reference"), str) else []
        return found + [r for v in value.values() for r in references(v)]
    if isinstance(value, list):
        return [r for v in value for r in references(v)]
    return []


@asynccontextmanager
async def committed_clinic(
    database: Database, integration: dict[str, Any] | None = None
) -> AsyncIterator[ClinicCreated]:
    """A clinic outside the per-test transaction (for tests that need real commits), with a FHIR
    integration if given; deleted afterwards."""
    async with database.sessionmaker() as session, session.begin():
        clinic = await make_clinic(session)
        if integration is not None:
            await export.put_integration(
                session, clinic.clinic_id, IntegrationIn.model_validate(integration), production=False
            )
    try:
        yield clinic
    finally:
        async with database.sessionmaker() as session, session.begin():
            await session.execute(delete(Clinic).where(col(Clinic.id) == clinic.clinic_id))
