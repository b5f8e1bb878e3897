"""Attack 3: the guard on FHIR destinations was bypassed by IP literals in other forms and by
names (never resolved), and `last_error` told open, closed and non-TLS ports apart."""

import socket
import threading
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlmodel import col

from services.core.config import Settings
from services.core.db import Database
from services.export import service as export
from services.export.models import ExportItem
from services.export.schemas import IntegrationIn
from services.export.worker import Worker
from services.intake import service as intake
from services.intake.schemas import IntakeIn
from tests.factories import intake_body, secret_principal
from tests.live import free_port
from tests.security.conftest import Tenant, token


class Listener:
    """A TCP listener on 127.0.0.1 that counts who connects (and answers nothing)."""

    def __init__(self) -> None:
        self.port = free_port()
        self.connections = 0
        self.sock = socket.create_server(("127.0.0.1", self.port))
        self.sock.settimeout(0.2)
        self.running = True
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self) -> None:
        while self.running:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            self.connections += 1
            conn.close()

    def close(self) -> None:
        self.running = False
        self.thread.join(timeout=2)
        self.sock.close()


@pytest.fixture
def listener() -> Iterator[Listener]:
    made = Listener()
    yield made
    made.close()


def bypasses(port: int) -> list[str]:
    """Every form the review got accepted, and a name that resolves to this machine."""
    hostname = socket.gethostname()
    resolved = {str(info[4][0]) for info in socket.getaddrinfo(hostname, None)}
    assert any(a.startswith("127.") or a == "::1" for a in resolved), resolved  # this machine's own name
    return [
        f"https://0x7f000001:{port}/fhir",
        f"https://127.1:{port}/fhir",
        f"https://2130706433:{port}/fhir",
        f"https://0177.0.0.1:{port}/fhir",
        f"https://0:{port}/fhir",
        f"https://[::ffff:127.0.0.1]:{port}/fhir",
        f"https://localhost.:{port}/fhir",
        f"https://ip6-localhost:{port}/fhir",
        "https://metadata.google.internal./computeMetadata/v1/",
        "https://169.254.169.254.nip.io/latest/meta-data/",
        "https://169.254.169.254/latest/meta-data/",
        f"https://{hostname}:{port}/fhir",  # a name that resolves to 127.0.0.1
        f"http://127.0.0.1:{port}/fhir",
    ]


async def test_every_form_of_a_local_destination_is_refused(
    server: str, tenants: tuple[Tenant, Tenant], listener: Listener
) -> None:
    bodies = {url: {"base_url": url, "auth": {"type": "none"}, "enabled": True} for url in bypasses(listener.port)}
    await all_refused(server, tenants[0], bodies)
    assert listener.connections == 0


async def all_refused(server: str, clinic: Tenant, bodies: dict[str, dict[str, Any]]) -> None:
    admin = {"Authorization": f"Bearer {await token(server, clinic.admin, clinic.admin_password)}"}
    async with httpx.AsyncClient(base_url=server, timeout=30) as http:
        for url, body in bodies.items():
            response = await http.put("/v1/integrations/fhir", json=body, headers=admin)
            assert response.status_code == 422, (url, response.text)
            # Refused as unsafe, or (an IPv6 literal) as not a URL this API takes at all.
            assert response.json()["type"] in ("/problems/unsafe-destination", "/problems/validation"), url


async def test_a_smart_token_url_is_guarded_like_the_fhir_base(
    server: str, tenants: tuple[Tenant, Tenant], listener: Listener
) -> None:
    """The token URL gets the clinic's signed assertion: it must not reach this machine either."""

    def smart(token_url: str) -> dict[str, Any]:
        auth = {"type": "smart_backend", "token_url": token_url, "client_id": "backstride", "scope": "system/*.write"}
        return {"base_url": "https://93.184.215.14/fhir", "auth": auth, "enabled": True}

    await all_refused(server, tenants[0], {url: smart(url) for url in bypasses(listener.port)})
    assert listener.connections == 0


async def deliver_to(
    database: Database, settings: Settings, tenant: Tenant, url: str, token_url: str | None = None
) -> str:
    """An integration set straight in the database (as if its name resolved elsewhere when it was
    checked), one intake, and a production worker's delivery; returns the export's last_error.
    With a token_url, the integration uses SMART and the token is fetched from there."""
    auth: dict[str, str] = {"type": "none"}
    if token_url is not None:
        auth = {"type": "smart_backend", "token_url": token_url, "client_id": "backstride", "scope": "system/*.write"}
    async with database.sessionmaker() as session, session.begin():
        body = IntegrationIn.model_validate({"base_url": url, "auth": auth, "enabled": True})
        await export.put_integration(session, tenant.clinic.clinic_id, body, settings)
    async with database.sessionmaker() as session, session.begin():  # its export is queued with it
        body_in = IntakeIn.model_validate(intake_body())
        created, _ = await intake.submit(session, secret_principal(tenant.clinic), body_in, None)
    production = settings.model_copy(update={"environment": "production", "export_max_attempts": 1})
    await Worker(database, production).run(drain=True)
    async with database.sessionmaker() as session:
        item = (
            await session.execute(select(ExportItem).where(col(ExportItem.referral_id) == created.referral.id))
        ).scalar_one()
    assert item.status != "delivered"
    return str(item.last_error)


async def test_the_worker_refuses_at_delivery_what_resolves_here(
    database: Database, settings: Settings, tenants: tuple[Tenant, Tenant], listener: Listener
) -> None:
    """DNS can change after a destination was checked: the worker resolves and checks again, and
    connects only to what it checked."""
    clinic, _ = tenants
    for url in (f"https://{socket.gethostname()}:{listener.port}/fhir", f"https://0x7f000001:{listener.port}/fhir",
                f"https://127.0.0.1:{listener.port}/fhir"):  # fmt: skip
        assert (await deliver_to(database, settings, clinic, url)).startswith("could not connect")
    assert listener.connections == 0


async def test_the_worker_refuses_a_token_url_that_resolves_here(
    database: Database, settings: Settings, tenants: tuple[Tenant, Tenant], listener: Listener
) -> None:
    clinic, _ = tenants
    port = listener.port
    for token_url in (f"https://{socket.gethostname()}:{port}/token", f"https://0x7f000001:{port}/token",
                      f"http://127.0.0.1:{port}/token"):  # fmt: skip
        error = await deliver_to(database, settings, clinic, "https://93.184.215.14/fhir", token_url)
        assert error.startswith("could not connect"), error
    assert listener.connections == 0


async def test_last_error_does_not_tell_ports_apart(
    database: Database, settings: Settings, tenants: tuple[Tenant, Tenant], listener: Listener
) -> None:
    """Even where the network is allowed, an open port that is not TLS and a closed port read the same."""
    clinic, _ = tenants
    allowed = settings.model_copy(update={"outbound_allowed_networks": "127.0.0.0/8"})
    closed = free_port()
    errors = {await deliver_to(database, allowed, clinic, f"https://127.0.0.1:{port}/fhir")
              for port in (listener.port, closed)}  # fmt: skip
    assert errors == {"could not connect (gave up after 1 attempts)"}
    assert listener.connections >= 1  # the open port was reached, and still reads as the closed one
