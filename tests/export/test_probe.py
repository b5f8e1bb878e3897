"""Test connection (export/probe.py): one GET {base}/metadata to the receiver process with the
integration's credentials, told in the export's words, guarded in production like deliveries."""

import socket
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from services.clinics.schemas import ClinicCreated
from services.core.config import Settings
from services.export import service as export
from services.export.schemas import ConnectionTest, IntegrationIn
from tests.export.conftest import Receiver
from tests.export.test_smart import CLIENT_ID, smart_integration
from tests.live import free_port


async def configure(session: AsyncSession, clinic: ClinicCreated, settings: Settings, **integration: Any) -> None:
    body = {"auth": {"type": "none"}, "enabled": False, **integration}
    await export.put_integration(session, clinic.clinic_id, IntegrationIn.model_validate(body), settings)


async def test_connected_with_the_servers_fhir_version_and_software_and_the_bearer_token(
    session: AsyncSession, clinic: ClinicCreated, settings: Settings, receiver: Receiver
) -> None:
    auth = {"type": "bearer", "token": "rcv-token"}
    await configure(session, clinic, settings, base_url=receiver.fhir_base, auth=auth)
    result = await export.test_connection(session, clinic.clinic_id, settings)
    assert result == ConnectionTest(connected=True, message="connected (FHIR 4.0.1, Test receiver 1.0)")
    assert receiver.state()["auth"] == ["Bearer rcv-token"]
    assert receiver.state()["requests"] == 0  # nothing was POSTed: no Bundle, no patient data


async def test_smart_backend_fetches_a_token_first(
    session: AsyncSession, clinic: ClinicCreated, settings: Settings, receiver: Receiver
) -> None:
    await configure(session, clinic, settings, **smart_integration(receiver))
    receiver.control(jwks=await export.public_keys(session, clinic.clinic_id), client_id=CLIENT_ID,
                     require_token=True)  # fmt: skip
    result = await export.test_connection(session, clinic.clinic_id, settings)
    assert result.connected, result.message
    state = receiver.state()
    assert state["token_requests"] == 1 and state["refused_tokens"] == 0
    # A token endpoint that does not know Backstride's keys: said as the export says it.
    receiver.control(jwks={"keys": []})
    refused = await export.test_connection(session, clinic.clinic_id, settings)
    assert not refused.connected
    assert refused.message.startswith("token endpoint refused the client assertion: HTTP 401 invalid_client")


async def test_the_servers_status_and_its_operation_outcome(
    session: AsyncSession, clinic: ClinicCreated, settings: Settings, receiver: Receiver
) -> None:
    await configure(session, clinic, settings, base_url=receiver.fhir_base, auth={"type": "bearer", "token": "x"})
    receiver.control(require_token=True)  # a token the server did not issue
    result = await export.test_connection(session, clinic.clinic_id, settings)
    assert result == ConnectionTest(
        connected=False, message="HTTP 401: error processing: invalid or expired access token"
    )
    receiver.control(require_token=False, mode="down")
    down = await export.test_connection(session, clinic.clinic_id, settings)
    assert down.message == "HTTP 503: error processing: unavailable"


async def test_a_closed_port_could_not_connect(
    session: AsyncSession, clinic: ClinicCreated, settings: Settings
) -> None:
    await configure(session, clinic, settings, base_url=f"http://127.0.0.1:{free_port()}/fhir")
    result = await export.test_connection(session, clinic.clinic_id, settings)
    assert result == ConnectionTest(connected=False, message="could not connect")


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port that takes connections (the kernel's backlog) and never answers."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        yield listener.getsockname()[1]


async def test_a_server_that_never_answers_timed_out(
    session: AsyncSession, clinic: ClinicCreated, settings: Settings, silent_port: int
) -> None:
    await configure(session, clinic, settings, base_url=f"http://127.0.0.1:{silent_port}/fhir")
    quick = settings.model_copy(update={"export_http_timeout_seconds": 0.5})
    result = await export.test_connection(session, clinic.clinic_id, quick)
    assert result == ConnectionTest(connected=False, message="timed out")


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "2130706433"])
async def test_in_production_a_local_destination_is_never_reached(
    session: AsyncSession, clinic: ClinicCreated, settings: Settings, receiver: Receiver, host: str
) -> None:
    """Set before production checks applied (or through a network since closed): the probe still
    refuses it, as the worker would, and says no more than "could not connect"."""
    port = receiver.base.rsplit(":", 1)[1]
    await configure(session, clinic, settings, base_url=f"http://{host}:{port}/fhir")
    production = settings.model_copy(update={"environment": "production"})
    result = await export.test_connection(session, clinic.clinic_id, production)
    assert result == ConnectionTest(connected=False, message="could not connect")
    assert receiver.state()["auth"] == []  # nothing reached the receiver


async def test_without_an_integration_there_is_nothing_to_test(
    session: AsyncSession, clinic: ClinicCreated, settings: Settings
) -> None:
    with pytest.raises(export.IntegrationNotConfigured):
        await export.test_connection(session, clinic.clinic_id, settings)
