"""Schemathesis against the live ASGI app: generated requests to every operation,
valid keys, and checks that nothing answers 5xx or strays from the OpenAPI document."""

import json
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.generation.modes import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from sqlalchemy import delete, update
from sqlmodel import col

from services.accounts import service as accounts
from services.app import create_app
from services.clinics import service as clinics
from services.clinics.models import Clinic
from services.clinics.schemas import ClinicCreated
from services.core.config import Settings
from services.core.db import Database
from services.export import service as export
from services.export.models import ExportItem
from services.export.schemas import IntegrationIn
from services.intake import service as intake
from services.intake.schemas import IntakeIn
from services.notifications import service as notifications
from services.notifications.models import NotificationItem
from services.notifications.schemas import SettingsIn
from tests.export.test_fhir_router import response_for
from tests.factories import intake_body, make_clinic, make_user, secret_principal

OPENAPI = Path(__file__).parents[1] / "openapi" / "openapi.json"
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    negative_data_rejection,
]


@dataclass
class World:
    """Committed data the generated requests can find: a clinic, its keys, an admin, an intake."""

    clinic: ClinicCreated
    admin_email: str
    admin_password: str
    admin_token: str
    existing: dict[str, str]  # path parameter -> an id that exists


@pytest.fixture
async def world(database: Database, settings: Settings) -> AsyncIterator[World]:
    async with database.sessionmaker() as session, session.begin():
        clinic = await make_clinic(session)
        admin, password = await make_user(session, clinic.slug, "clinic_admin")
        # SMART, so the clinic has signing keys and its JWKS is served.
        smart = {"type": "smart_backend", "token_url": "https://ehr.example/token", "client_id": "backstride",
                 "scope": "system/*.write"}  # fmt: skip
        integration = {"base_url": "https://ehr.example/fhir", "auth": smart, "enabled": True}
        await export.put_integration(session, clinic.clinic_id, IntegrationIn.model_validate(integration), settings)
        created, _ = await intake.submit(
            session, secret_principal(clinic), IntakeIn.model_validate(intake_body()), None
        )
        # A dead export, for the retry operation to revive.
        dead = await session.execute(
            update(ExportItem)
            .where(col(ExportItem.clinic_id) == clinic.clinic_id)
            .values(status="dead")
            .returning(col(ExportItem.id))
        )
        export_id = dead.scalar_one()
        # A dead notification, for its retry operation.
        await notifications.put_settings(
            session, clinic.clinic_id, SettingsIn(emails=["duty@clinic.example"], enabled=True), settings
        )
        body = IntakeIn.model_validate(intake_body(neuro={"saddle_numbness": True}))
        await intake.submit(session, secret_principal(clinic), body, None)
        notification = await session.execute(
            update(NotificationItem)
            .where(col(NotificationItem.clinic_id) == clinic.clinic_id)
            .values(status="dead")
            .returning(col(NotificationItem.id))
        )
        item_id = notification.scalar_one()
        spare_key = await clinics.create_key(session, clinic.clinic_id, "publishable")
        token = await accounts.start_session(session, settings, admin)
    existing = {
        "intake_id": str(created.id),
        "referral_id": str(created.referral.id),
        "key_id": str(spare_key.id),
        "export_id": str(export_id),
        "item_id": str(item_id),
        "response_id": str(created.id),  # every intake is a QuestionnaireResponse
        "version_id": "1",
        "clinic_id": str(clinic.clinic_id),
    }
    yield World(clinic, admin.email, password, token, existing)
    async with database.sessionmaker() as session, session.begin():
        await session.execute(delete(Clinic).where(col(Clinic.id) == clinic.clinic_id))


@pytest.fixture
def contract_app(settings: Settings) -> FastAPI:
    # Schemathesis drives the app from its own thread and event loop: an unpooled
    # engine opens connections on whichever loop asks, so none cross loops.
    return create_app(settings, database=Database(settings.database_url, pooled=False))


# The suite runs a fixed, repeatable sample; `make fuzz` explores with random seeds and more examples.
EXAMPLES = int(os.environ.get("CONTRACT_EXAMPLES", "60"))
RANDOM = os.environ.get("CONTRACT_RANDOM") == "1"
KEY_OPERATIONS = {"/v1/intakes", "/v1/triage/evaluate", "/fhir/QuestionnaireResponse"}
# A random If-Match never names the current version, so success cannot be asked of these.
NEEDS_PRECONDITION = {
    ("POST", "/v1/referrals/{referral_id}/transitions"),
    ("POST", "/v1/referrals/{referral_id}/urgency"),
}

# Negative cases only exist for operations that take input.
OPERATIONS = [
    (method.upper(), path, mode)
    for path, operations in json.loads(OPENAPI.read_text(encoding="utf-8"))["paths"].items()
    for method, operation in operations.items()
    for mode in GenerationMode
    if mode == GenerationMode.POSITIVE or operation.get("parameters") or operation.get("requestBody")
]


@pytest.mark.parametrize(("method", "path", "mode"), OPERATIONS, ids=[f"{m} {p} {g}" for m, p, g in OPERATIONS])
def test_api_contract(contract_app: FastAPI, world: World, method: str, path: str, mode: GenerationMode) -> None:
    # Built per operation with Hypothesis directly: schemathesis' pytest plugin
    # does not yet run under pytest 9.
    operation = schemathesis.openapi.from_asgi("/openapi.json", contract_app)[path][method]
    # Intakes come from the clinic's key; everything else is a clinic admin's work.
    key = world.clinic.secret_key if path in KEY_OPERATIONS else world.admin_token
    headers = {"Authorization": f"Bearer {key}"}
    strategy = operation.as_strategy(generation_mode=mode)
    if mode == GenerationMode.POSITIVE:
        # Random ids and passwords only ever find nothing; also send ones that exist.
        known = {name: value for name, value in world.existing.items() if f"{{{name}}}" in path}
        if known:
            strategy = strategy | operation.as_strategy(generation_mode=mode, path_parameters=known)
        known_body = {
            "/v1/auth/token": {"username": world.admin_email, "password": world.admin_password},
            "/v1/intakes": intake_body(),  # generated bodies rarely get past the age and consistency rules
            "/v1/triage/evaluate": intake_body(),
            "/fhir/QuestionnaireResponse": response_for(intake_body()),
            # Generated names and emails match nobody; the world's referral names its patient.
            "/v1/patient-data/export": {"referral_id": world.existing["referral_id"]},
            "/v1/patient-data/erase": {"referral_id": world.existing["referral_id"], "reason": "contract test"},
        }.get(path)
        if known_body is not None:
            strategy = strategy | operation.as_strategy(generation_mode=mode, body=known_body)

    # Hypothesis' health checks all stay on: none fired with none suppressed (every operation,
    # both databases, the suite's fixed sample and a random one), so none is hidden here.
    @given(case=strategy)
    @settings(max_examples=EXAMPLES, derandomize=not RANDOM, deadline=None, database=None)
    def run(case: schemathesis.Case[Any]) -> None:
        response = case.call_and_validate(headers=headers, checks=CHECKS)
        seen.add(response.status_code)

    seen: set[int] = set()
    run()
    if mode == GenerationMode.POSITIVE and (method, path) not in NEEDS_PRECONDITION:
        assert any(200 <= status < 300 for status in seen), f"no valid request succeeded: {sorted(seen)}"
