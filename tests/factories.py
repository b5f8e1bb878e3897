"""Small factories for test data."""

import copy
import json
import uuid
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from services.core import service as core
from services.core.models import User
from services.core.schemas import ClinicCreated, Role
from services.core.service import Principal

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
