"""The attacks of the trust-boundary review, each against a live server process in production
mode (PostgreSQL, and SQLite where it applies), with two clinics' worth of committed data."""

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass

import httpx
import pytest
from sqlalchemy import delete
from sqlmodel import col

from services.accounts.models import User
from services.clinics.models import Clinic
from services.clinics.schemas import ClinicCreated
from services.core.config import Settings
from services.core.db import Database
from tests.factories import make_clinic, make_user
from tests.live import serve
from tests.web.conftest import browser, host, host_dir, site  # noqa: F401 - fixtures for the browser attack

PUBLIC_BASE_URL = "https://backstride.example.org"
METRICS_TOKEN = "metrics-" + "m" * 32


def production_env(settings: Settings, **extra: str) -> dict[str, str]:
    return {
        "DATABASE_URL": settings.database_url,
        "SECRET_KEY": settings.secret_key.get_secret_value(),
        "BACKSTRIDE_ENV": "production",
        "PUBLIC_BASE_URL": PUBLIC_BASE_URL,
        "METRICS_TOKEN": METRICS_TOKEN,
        # Tests call from 127.0.0.1 and say which client they speak for (as a proxy would).
        "FORWARDED_ALLOW_IPS": "127.0.0.1",
        "RETRIAGE_ON_STARTUP": "false",
        **extra,
    }


@pytest.fixture
def server(settings: Settings) -> Iterator[str]:
    """A production-mode server (the web fixtures' `server` too, for the browser attack)."""
    with serve(production_env(settings)) as base:
        yield base


@dataclass
class Tenant:
    clinic: ClinicCreated
    admin: User
    admin_password: str
    physio: User
    physio_password: str

    @property
    def sk(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.clinic.secret_key}"}

    @property
    def pk(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.clinic.publishable_key}"}


async def _tenant(database: Database) -> Tenant:
    async with database.sessionmaker() as session, session.begin():
        clinic = await make_clinic(session, origins=["https://clinic.example"])
        admin, admin_password = await make_user(session, clinic.slug, "clinic_admin")
        physio, physio_password = await make_user(session, clinic.slug, "physio")
    return Tenant(clinic, admin, admin_password, physio, physio_password)


@pytest.fixture
async def tenants(database: Database) -> AsyncIterator[tuple[Tenant, Tenant]]:
    """Two committed clinics, deleted afterwards."""
    made = (await _tenant(database), await _tenant(database))
    yield made
    async with database.sessionmaker() as session, session.begin():
        ids = [t.clinic.clinic_id for t in made]
        await session.execute(delete(Clinic).where(col(Clinic.id).in_(ids)))


async def token(base: str, user: User, password: str, address: str = "192.0.2.10") -> str:
    async with httpx.AsyncClient(base_url=base) as http:
        response = await http.post(
            "/v1/auth/token", data={"username": user.email, "password": password}, headers={"X-Forwarded-For": address}
        )
    assert response.status_code == 200, response.text
    access: str = response.json()["access_token"]
    return access
