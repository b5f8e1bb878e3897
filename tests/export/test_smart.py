"""SMART Backend Services against the receiver's token endpoint (tests/fhir_receiver.py), which
checks client assertions as an EHR's authorisation server does: the clinic's JWKS, the audience,
a lifetime of at most 5 minutes and a jti used once. Only the tokens it issued reach /fhir."""

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from pydantic import SecretStr
from sqlalchemy import select
from sqlmodel import col

from services.clinics.schemas import ClinicCreated
from services.core.config import Settings
from services.core.db import Database, utcnow
from services.export import keys
from services.export import service as export
from services.export.models import ExportItem
from services.export.schemas import IntegrationIn
from services.export.worker import Worker
from tests.export.conftest import Receiver, submit_committed
from tests.factories import committed_clinic

CLIENT_ID = "backstride-test-client"


def smart_integration(receiver: Receiver, algorithm: str = "RS384") -> dict[str, Any]:
    auth = {"type": "smart_backend", "token_url": f"{receiver.base}/token", "client_id": CLIENT_ID,
            "scope": "system/Patient.write system/ServiceRequest.write", "algorithm": algorithm}  # fmt: skip
    return {"base_url": receiver.fhir_base, "auth": auth, "enabled": True}


@pytest.fixture(params=["RS384", "ES384"])
async def smart_clinic(
    request: pytest.FixtureRequest, database: Database, receiver: Receiver
) -> AsyncIterator[ClinicCreated]:
    """A clinic exporting with SMART, whose JWKS the receiver has registered (as an EHR would
    from the jwks_url), and a receiver that wants a token it issued."""
    async with committed_clinic(database, smart_integration(receiver, request.param)) as clinic:
        async with database.sessionmaker() as session:
            jwks = await export.public_keys(session, clinic.clinic_id)
        receiver.control(jwks=jwks, client_id=CLIENT_ID, require_token=True)
        yield clinic


async def items(database: Database, clinic: ClinicCreated) -> list[ExportItem]:
    async with database.sessionmaker() as session:
        found = await session.execute(select(ExportItem).where(col(ExportItem.clinic_id) == clinic.clinic_id))
        return list(found.scalars())


async def statuses(database: Database, clinic: ClinicCreated) -> list[str]:
    return sorted(item.status for item in await items(database, clinic))


async def test_one_token_serves_every_delivery_while_it_lasts(
    database: Database, fast_settings: Settings, smart_clinic: ClinicCreated, receiver: Receiver
) -> None:
    worker = Worker(database, fast_settings)
    await submit_committed(database, smart_clinic, 3)
    await worker.run(drain=True)
    await submit_committed(database, smart_clinic, 2)
    await worker.run(drain=True)
    assert await statuses(database, smart_clinic) == ["delivered"] * 5
    state = receiver.state()
    assert state["token_requests"] == 1 and state["refused_tokens"] == 0
    assert state["auth"][0].startswith("Bearer ")


async def test_a_token_about_to_expire_is_replaced_with_a_new_assertion(
    database: Database, fast_settings: Settings, smart_clinic: ClinicCreated, receiver: Receiver
) -> None:
    receiver.control(token_lifetime=2)  # fetched again after 1.6 s
    worker = Worker(database, fast_settings)
    await submit_committed(database, smart_clinic, 1)
    await worker.run(drain=True)
    await asyncio.sleep(1.7)
    await submit_committed(database, smart_clinic, 1)
    await worker.run(drain=True)
    assert await statuses(database, smart_clinic) == ["delivered"] * 2
    state = receiver.state()
    assert state["tokens_issued"] == 2 and state["refused_tokens"] == 0
    assert len(set(state["jtis"])) == 2  # each assertion is single use


async def test_a_token_the_server_revoked_is_replaced_once_and_the_delivery_goes_through(
    database: Database, fast_settings: Settings, smart_clinic: ClinicCreated, receiver: Receiver
) -> None:
    worker = Worker(database, fast_settings)
    await submit_committed(database, smart_clinic, 1)
    await worker.run(drain=True)
    receiver.control(revoke=True)
    await submit_committed(database, smart_clinic, 1)
    await worker.run(drain=True)
    assert await statuses(database, smart_clinic) == ["delivered"] * 2
    state = receiver.state()
    assert state["refused_tokens"] == 1 and state["tokens_issued"] == 2


async def test_an_assertion_signed_with_a_key_the_ehr_does_not_know_is_dead_with_the_reason(
    database: Database, fast_settings: Settings, smart_clinic: ClinicCreated, receiver: Receiver
) -> None:
    secret = fast_settings.secret_key.get_secret_value()
    stranger = keys.new_key(smart_clinic.clinic_id, "ES384", secret, utcnow())
    receiver.control(jwks=keys.jwks([stranger]))  # the EHR registered another key set
    await submit_committed(database, smart_clinic, 1)
    await Worker(database, fast_settings).run(drain=True)
    [item] = await items(database, smart_clinic)
    assert item.status == "dead" and item.attempts == 1
    assert item.last_error == (
        "token endpoint refused the client assertion: HTTP 401 invalid_client no such key in the registered JWKS"
    )
    assert receiver.state()["requests"] == 0  # no patient data went out without a token


async def test_an_assertion_for_another_client_id_is_refused(
    database: Database, fast_settings: Settings, smart_clinic: ClinicCreated, receiver: Receiver
) -> None:
    receiver.control(client_id="someone-else")
    await submit_committed(database, smart_clinic, 1)
    await Worker(database, fast_settings).run(drain=True)
    [item] = await items(database, smart_clinic)
    assert item.status == "dead" and item.last_error
    assert item.last_error.startswith("token endpoint refused the client assertion: HTTP 401 invalid_client")


async def test_a_token_endpoint_that_is_down_is_tried_again_later(
    database: Database, fast_settings: Settings, smart_clinic: ClinicCreated, receiver: Receiver
) -> None:
    receiver.control(token_mode="503")
    await submit_committed(database, smart_clinic, 1)
    worker = Worker(database, fast_settings)
    await worker.run(drain=True)
    [item] = await items(database, smart_clinic)
    assert item.status == "pending" and item.last_error == "token endpoint: HTTP 503"
    receiver.control(token_mode="ok")
    await asyncio.sleep(0.1)  # the retry comes due
    await worker.run(drain=True)
    assert await statuses(database, smart_clinic) == ["delivered"]


async def test_after_secret_key_changes_the_export_says_why_and_a_new_put_makes_new_keys(
    database: Database, fast_settings: Settings, smart_clinic: ClinicCreated, receiver: Receiver
) -> None:
    rotated = fast_settings.model_copy(update={"secret_key": SecretStr("another-secret-key-" + "x" * 40)})
    await submit_committed(database, smart_clinic, 1)
    await Worker(database, rotated).run(drain=True)
    [item] = await items(database, smart_clinic)
    assert item.status == "dead" and item.last_error == (
        "the signing key does not open with this SECRET_KEY; PUT the integration again for new keys"
    )
    async with database.sessionmaker() as session:
        before = await export.public_keys(session, smart_clinic.clinic_id)
    async with database.sessionmaker() as session, session.begin():
        body = IntegrationIn.model_validate(smart_integration(receiver))
        await export.put_integration(session, smart_clinic.clinic_id, body, rotated)
    async with database.sessionmaker() as session:
        after = await export.public_keys(session, smart_clinic.clinic_id)
    assert {k["kid"] for k in after["keys"]}.isdisjoint(k["kid"] for k in before["keys"])
    receiver.control(jwks=after)  # the EHR registers the new JWKS
    await submit_committed(database, smart_clinic, 1)
    await Worker(database, rotated).run(drain=True)
    assert sorted(i.status for i in await items(database, smart_clinic)) == ["dead", "delivered"]
