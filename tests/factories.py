"""Small factories for test data."""

import copy
import json
import re
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from services.accounts import service as accounts
from services.accounts.models import User
from services.accounts.schemas import Role
from services.clinics import service as clinics
from services.clinics.models import Clinic
from services.clinics.schemas import ClinicCreated
from services.core.config import Settings
from services.core.db import Database
from services.core.principal import Principal
from services.export import service as export
from services.export.fhir.identifiers import QUESTIONNAIRE_URL, QUESTIONNAIRE_VERSION
from services.export.fhir.questionnaire import to_questionnaire_response
from services.export.models import ExportItem
from services.export.schemas import IntegrationIn
from services.intake import service as intake
from services.intake.schemas import IntakeIn, StoredIntake
from services.triage import service as triage_service
from services.triage.schemas import Answers, TriageResult, age_on

# The settings the tests' app and workers run with (see conftest.settings), where a test needs
# them outside a fixture: sealed keys open only with the same SECRET_KEY.
TEST_SETTINGS = Settings(environment="test", secret_key="t" * 40)

VIGNETTES = Path(__file__).parent / "triage" / "vignettes.jsonl"
VIGNETTES_V2 = Path(__file__).parent / "triage" / "vignettes-v2.jsonl"
# The v1 vignettes carry no intake date: their ages are those of the day they were published.
V1_VIGNETTES_DATE = date(2026, 11, 28)


def vignettes(path: Path = VIGNETTES) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


# The v2 questions of SPEC §4, each answered "no" (or none).
V2_NO: dict[str, dict[str, Any]] = {
    "pain": {
        "night_pain": False,
        "morning_stiffness_minutes": 0,
        "eases_with_exercise": False,
        "worse_bending_backwards": False,
        "hurts_to_hop_or_bear_weight": False,
    },
    "neuro": {"sexual_function_change": False, "walking_difficulty": False},
    "history": {
        "fever": False,
        "iv_drug_use": False,
        "recent_infection_or_procedure": False,
        "abdominal_pain_or_faintness": False,
        "bone_stress_risk": [],
    },
}
_V1_BASE = vignettes()[0]["intake"]


def _updated(body: dict[str, Any], sections: dict[str, Any]) -> dict[str, Any]:
    for section, fields in sections.items():
        if isinstance(fields, dict) and isinstance(body.get(section), dict):
            body[section].update(fields)
        else:
            body[section] = fields
    return body


def intake_body(**sections: Any) -> dict[str, Any]:
    """A complete, benign intake body with every question asked (v2): self-care. Keyword
    arguments update whole sections' fields, e.g. intake_body(neuro={"saddle_numbness": True})."""
    return _updated(_updated(copy.deepcopy(_V1_BASE), copy.deepcopy(V2_NO)), sections)


def v1_body(**sections: Any) -> dict[str, Any]:
    """The same benign body as a v1 client sends it: no v2 question asked."""
    return _updated(copy.deepcopy(_V1_BASE), sections)


def questionnaire_response(
    body: dict[str, Any], version: str = QUESTIONNAIRE_VERSION, authored: datetime | None = None
) -> dict[str, Any]:
    """An intake body as a QuestionnaireResponse to the intake Questionnaire `version`, as an EHR
    would send it (no subject: the Patient is not on this server)."""
    stored = StoredIntake.model_validate(
        {**body, "id": uuid.uuid4(), "created_at": authored or datetime.now(UTC)}, context={"stored": True}
    )
    resource = to_questionnaire_response(stored, None)
    resource["questionnaire"] = f"{QUESTIONNAIRE_URL}|{version}"
    return resource


# The intake date the engine-level triage tests inject (the clock, for the age rules).
TRIAGE_DAY = date(2026, 12, 1)


def evaluate(body: dict[str, Any], age: int | None = 35, *, last_day: bool = False) -> TriageResult:
    """Triage an intake body (patient and consent left aside) on TRIAGE_DAY for someone `age` that
    day (see born); None: no birth date."""
    answers = Answers.model_validate({k: v for k, v in body.items() if k not in ("patient", "consent")})
    birth = None if age is None else date.fromisoformat(born(age, TRIAGE_DAY, last_day=last_day))
    return triage_service.evaluate(answers, birth, TRIAGE_DAY)


def born(age: int, on: date, *, last_day: bool = False) -> str:
    """A birth date (YYYY-MM-DD) of someone who is `age` on `on`: their birthday is that day, or,
    with `last_day`, the next day (so `on` is the last day they are `age`)."""
    birthday = on + timedelta(days=1) if last_day else on
    years = age + 1 if last_day else age
    try:
        return birthday.replace(year=birthday.year - years).isoformat()
    except ValueError:  # 29 February in a year without one: born the day before
        return (birthday - timedelta(days=1)).replace(year=birthday.year - years).isoformat()


def same_age_today(birth_date: str, intake_date: date, today: date) -> str:
    """The birth date that makes someone as old `today` as they were on `intake_date`, with the same
    days to their next birthday: a case written for one intake date keeps its ages on any day."""
    birth = date.fromisoformat(birth_date)
    age = age_on(birth, intake_date)
    shifted = birth + (today - intake_date)
    while age_on(shifted, today) > age:  # leap days can put the shift one day off
        shifted += timedelta(days=1)
    while age_on(shifted, today) < age:
        shifted -= timedelta(days=1)
    return shifted.isoformat()


async def make_clinic(session: AsyncSession, origins: list[str] | None = None) -> ClinicCreated:
    slug = f"clinic-{uuid.uuid4().hex[:10]}"
    return await clinics.create_clinic(session, name=f"Clinic {slug}", slug=slug, origins=origins or [])


async def make_dead_export(session: AsyncSession, clinic: ClinicCreated, last_error: str = "HTTP 400") -> ExportItem:
    """An intake of the clinic (so a referral), and a dead export of that referral (flushed)."""
    created, _ = await intake.submit(session, secret_principal(clinic), IntakeIn.model_validate(intake_body()), None)
    item = ExportItem(clinic_id=clinic.clinic_id, referral_id=created.referral.id, event="referral.created",
                      status="dead", attempts=8, last_error=last_error)  # fmt: skip
    session.add(item)
    await session.flush()
    return item


def secret_principal(clinic: ClinicCreated) -> Principal:
    """The caller a clinic's secret key authenticates as."""
    return Principal(
        clinic_id=clinic.clinic_id, kind="secret", scopes=frozenset(clinics.SECRET_SCOPES), label="sk_test"
    )


async def make_user(session: AsyncSession, clinic_slug: str, role: Role = "physio") -> tuple[User, str]:
    password = f"pw-{uuid.uuid4().hex}"
    email = f"{role}-{uuid.uuid4().hex[:8]}@{clinic_slug}.example"
    user = await accounts.create_user(session, clinic_slug=clinic_slug, email=email, role=role, password=password)
    return user, password


async def login(client: httpx.AsyncClient, email: str, password: str) -> dict[str, str]:
    """Headers carrying a fresh access token for the user."""
    response = await client.post("/v1/auth/token", data={"username": email, "password": password})
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


async def ui_login(client: httpx.AsyncClient, email: str, password: str) -> httpx.Response:
    """Log in to the physio UI as a browser does: the login page first (its cookie and CSRF token)."""
    page = await client.get("/ui/login")
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert csrf is not None, page.text
    return await client.post("/ui/login", data={"email": email, "password": password, "csrf": csrf.group(1)})


def references(value: Any) -> list[str]:
    """Every FHIR `reference` string anywhere in a resource (or Bundle)."""
    if isinstance(value, dict):
        found = [value["reference"]] if isinstance(value.get("reference"), str) else []
        return found + [r for v in value.values() for r in references(v)]
    if isinstance(value, list):
        return [r for v in value for r in references(v)]
    return []


@dataclass(frozen=True)
class SeededClinic:
    clinic: ClinicCreated
    physio_email: str
    physio_password: str


async def seed_clinic(url: str, origins: list[str] | None = None) -> SeededClinic:
    """A clinic and a physio committed to the (scratch) database at `url`, for a live server."""
    database = Database(url, pooled=False)
    try:
        async with database.sessionmaker() as session, session.begin():
            clinic = await make_clinic(session, origins=origins)
            physio, password = await make_user(session, clinic.slug)
        return SeededClinic(clinic, physio.email, password)
    finally:
        await database.dispose()


@asynccontextmanager
async def committed_clinic(
    database: Database, integration: dict[str, Any] | None = None, settings: Settings | None = None
) -> AsyncIterator[ClinicCreated]:
    """A clinic outside the per-test transaction (for tests that need real commits), with a FHIR
    integration if given; deleted afterwards."""
    async with database.sessionmaker() as session, session.begin():
        clinic = await make_clinic(session)
        if integration is not None:
            body = IntegrationIn.model_validate(integration)
            await export.put_integration(session, clinic.clinic_id, body, settings or TEST_SETTINGS)
    try:
        yield clinic
    finally:
        async with database.sessionmaker() as session, session.begin():
            await session.execute(delete(Clinic).where(col(Clinic.id) == clinic.clinic_id))
