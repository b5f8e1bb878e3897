"""Proxies for calls made on a clinic's behalf: HTTP(S)_PROXY and NO_PROXY, read once."""

import uuid
from collections.abc import AsyncIterator, Iterator

import aiohttp
import pytest
from aiohttp import web

from services.core import outbound
from services.export.delivery import Sender
from services.export.models import FhirIntegration

TARGET = "http://fhir.clinic.invalid/fhir"  # .invalid never resolves: only a proxy can reach it


@pytest.fixture
def environment(monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "http_proxy", "https_proxy", "no_proxy", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)
    outbound._environment_proxies.cache_clear()
    yield monkeypatch
    outbound._environment_proxies.cache_clear()


def test_proxy_for_follows_the_environment(environment: pytest.MonkeyPatch) -> None:
    environment.setenv("HTTPS_PROXY", "http://proxy.example:3128")
    environment.setenv("HTTP_PROXY", "http://plain-proxy.example:3128")
    environment.setenv("NO_PROXY", "ehr.internal,.hospital.example")
    assert outbound.proxy_for("https://fhir.example.org/r4") == "http://proxy.example:3128"
    assert outbound.proxy_for("http://fhir.example.org/r4") == "http://plain-proxy.example:3128"
    assert outbound.proxy_for("https://ehr.internal/fhir") is None
    assert outbound.proxy_for("https://fhir.hospital.example/fhir") is None


def test_no_proxy_without_one_in_the_environment(environment: pytest.MonkeyPatch) -> None:
    assert outbound.proxy_for("https://fhir.example.org/r4") is None


@pytest.fixture
async def proxy() -> AsyncIterator[tuple[str, list[str]]]:
    """A forward proxy that answers every request itself and records the URL it was asked for."""
    asked: list[str] = []

    async def answer(request: web.Request) -> web.Response:
        asked.append(str(request.url))
        return web.json_response({"resourceType": "CapabilityStatement"})

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", answer)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    yield f"http://127.0.0.1:{port}", asked
    await runner.cleanup()


def _integration() -> FhirIntegration:
    return FhirIntegration(clinic_id=uuid.uuid4(), base_url=TARGET, auth_type="none", enabled=True)


async def test_a_delivery_goes_through_the_proxy_the_environment_names(
    environment: pytest.MonkeyPatch, proxy: tuple[str, list[str]]
) -> None:
    address, asked = proxy
    environment.setenv("HTTP_PROXY", address)
    async with aiohttp.ClientSession() as http:
        answer = await Sender(http, None, False, [], 1).request(_integration(), "GET", f"{TARGET}/metadata", {})  # type: ignore[arg-type]
    assert answer.status == 200
    assert asked == [f"{TARGET}/metadata"]


async def test_no_proxy_sends_the_delivery_directly(
    environment: pytest.MonkeyPatch, proxy: tuple[str, list[str]]
) -> None:
    address, asked = proxy
    environment.setenv("HTTP_PROXY", address)
    environment.setenv("NO_PROXY", "fhir.clinic.invalid")
    async with aiohttp.ClientSession() as http:
        with pytest.raises(aiohttp.ClientConnectorError):  # the name does not resolve
            await Sender(http, None, False, [], 1).request(_integration(), "GET", f"{TARGET}/metadata", {})  # type: ignore[arg-type]
    assert asked == []
