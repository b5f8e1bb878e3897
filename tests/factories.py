"""Small factories for test data."""

import copy
import json
import uuid
from pathlib import Path
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from services.core import service as core
from services.core.schemas import ClinicCreated

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
