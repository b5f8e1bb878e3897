"""A receiving FHIR server in its own process, and a clinic that exports to it."""

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from services.clinics.schemas import ClinicCreated
from services.core.config import Settings
from services.core.db import Database
from services.intake import service as intake
from services.intake.schemas import IntakeIn
from tests.factories import committed_clinic, intake_body, secret_principal
from tests.live import serve


@dataclass
class Receiver:
    base: str

    @property
    def fhir_base(self) -> str:
        return f"{self.base}/fhir"

    def control(self, **settings: Any) -> None:
        httpx.post(f"{self.base}/_control", json=settings).raise_for_status()

    def state(self) -> dict[str, Any]:
        response = httpx.get(f"{self.base}/_state")
        response.raise_for_status()
        state: dict[str, Any] = response.json()
        return state


@pytest.fixture(scope="session")
def receiver_process() -> Iterator[Receiver]:
    with serve({}, app="tests.fhir_receiver:app") as base:
        yield Receiver(base)


@pytest.fixture
def receiver(receiver_process: Receiver) -> Receiver:
    httpx.post(f"{receiver_process.base}/_reset").raise_for_status()
    return receiver_process


@pytest.fixture
def fast_settings(settings: Settings) -> Settings:
    """Retries in milliseconds rather than minutes."""
    return settings.model_copy(
        update={"export_retry_base_seconds": 0.01, "export_retry_max_seconds": 0.05, "export_max_attempts": 20}
    )


@pytest.fixture
async def exporting_clinic(database: Database, receiver: Receiver) -> AsyncIterator[ClinicCreated]:
    """A committed clinic whose FHIR integration points at the receiver; deleted afterwards."""
    integration = {"base_url": receiver.fhir_base, "auth": {"type": "bearer", "token": "rcv-token"}, "enabled": True}
    async with committed_clinic(database, integration) as clinic:
        yield clinic


async def submit_committed(database: Database, clinic: ClinicCreated, count: int, **changes: Any) -> list[str]:
    """Intakes in their own committed transactions, as the API would make them; their referral ids."""
    referral_ids = []
    for n in range(count):
        async with database.sessionmaker() as session, session.begin():
            body = IntakeIn.model_validate(intake_body(patient={"given_name": f"Runner{n}"}, **changes))
            created, _ = await intake.submit(session, secret_principal(clinic), body, None)
            referral_ids.append(str(created.referral.id))
    return referral_ids
