"""Test connection: one harmless request to the clinic's FHIR server (GET {base}/metadata), with
the integration's credentials (a SMART token fetched first, as the worker would), through the
same sender and outbound guard as the worker, told in the words the export uses."""

import asyncio
import json
from typing import Any

import aiohttp

from services.core import outbound
from services.core.config import Settings
from services.export.delivery import Sender, outcome
from services.export.models import FhirIntegration
from services.export.schemas import ConnectionTest
from services.export.smart import KeyLoader, TokenRefused, Tokens, TokenUnavailable


def _clip(value: Any) -> str:
    return "".join(c for c in str(value)[:100] if c.isprintable())


def _about(body: bytes) -> str:
    """What the CapabilityStatement says of the server: its FHIR version and software."""
    try:
        statement = json.loads(body)
    except (ValueError, RecursionError):
        statement = None
    if not isinstance(statement, dict) or statement.get("resourceType") != "CapabilityStatement":
        return "connected, but the answer was not a FHIR CapabilityStatement"
    found = statement.get("software")
    software: dict[str, Any] = found if isinstance(found, dict) else {}
    said = [f"FHIR {_clip(statement['fhirVersion'])}" if statement.get("fhirVersion") else "",
            " ".join(_clip(software[k]) for k in ("name", "version") if software.get(k))]  # fmt: skip
    words = ", ".join(s for s in said if s)
    return f"connected ({words})" if words else "connected"


async def probe(integration: FhirIntegration, settings: Settings, load_key: KeyLoader) -> ConnectionTest:
    """GET the server's CapabilityStatement. Guarded in production exactly as deliveries are: names
    resolved by the guarded resolver and connected to as checked, IP literals checked, no redirects;
    failures say only "could not connect" or "timed out", nothing that would map a network."""
    guarded = settings.environment == "production"
    allowed = outbound.parse_networks(settings.outbound_allowed_networks)
    tokens = Tokens(settings.secret_key.get_secret_value(), load_key, guarded, allowed)
    seconds = settings.export_http_timeout_seconds
    connector = aiohttp.TCPConnector(resolver=outbound.GuardedResolver(allowed)) if guarded else None
    try:
        async with (
            asyncio.timeout(2 * seconds),  # a token request and the metadata request at most
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=seconds), connector=connector) as http,
        ):
            sender = Sender(http, tokens, guarded, allowed, settings.export_receiver_concurrency)
            answer = await sender.request(integration, "GET", f"{integration.base_url}/metadata", {})
    except TimeoutError:
        return ConnectionTest(connected=False, message="timed out")
    except (aiohttp.ClientError, OSError):
        return ConnectionTest(connected=False, message="could not connect")
    except (TokenUnavailable, TokenRefused) as exc:
        return ConnectionTest(connected=False, message=str(exc))
    if not answer.ok:
        return ConnectionTest(connected=False, message=outcome(answer))
    return ConnectionTest(connected=True, message=_about(answer.body))
