"""SMART Backend Services (OAuth 2.0 client credentials with a signed JWT assertion): access
tokens for the export worker, fetched from the integration's token URL and kept until shortly
before they expire. One fetch per integration at a time; a 401 from the FHIR server makes the
worker forget the token and fetch another."""

import asyncio
import json
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import aiohttp
from cryptography.exceptions import InvalidTag

from services.core import outbound
from services.core.db import utcnow
from services.export.keys import ASSERTION_TYPE, client_assertion
from services.export.models import FhirIntegration, IntegrationKey

DEFAULT_LIFETIME = 300  # seconds, when the token endpoint does not say (RFC 6749 leaves it optional)
MAX_ANSWER_BYTES = 64 * 1024

KeyLoader = Callable[[uuid.UUID, str], Awaitable[IntegrationKey | None]]


class TokenUnavailable(Exception):
    """The token endpoint could not answer now (5xx, 429): worth trying again later."""


class TokenRefused(Exception):
    """The token endpoint refused Backstride (wrong key, client id or scope): says why."""


@dataclass(frozen=True)
class _Token:
    value: str
    refresh_at: datetime


def _cache_key(integration: FhirIntegration) -> tuple[object, ...]:
    # A changed integration (another URL, client, scope or algorithm) never reuses a token.
    return (integration.clinic_id, integration.token_url, integration.client_id, integration.scope,
            integration.signing_algorithm)  # fmt: skip


class Tokens:
    def __init__(
        self, secret_key: str, load_key: KeyLoader, guarded: bool, allowed: tuple[outbound.Network, ...]
    ) -> None:
        self.secret_key = secret_key
        self.load_key = load_key
        self.guarded = guarded
        self.allowed = allowed
        self.cache: dict[tuple[object, ...], _Token] = {}
        self.locks: dict[tuple[object, ...], asyncio.Lock] = {}

    async def get(self, http: aiohttp.ClientSession, integration: FhirIntegration) -> str:
        key = _cache_key(integration)
        async with self.locks.setdefault(key, asyncio.Lock()):
            token = self.cache.get(key)
            if token is None or utcnow() >= token.refresh_at:
                token = await self._fetch(http, integration)
                self.cache[key] = token
            return token.value

    def forget(self, integration: FhirIntegration, value: str) -> None:
        """The FHIR server refused this token: the next get() fetches another (unless one has
        been fetched meanwhile)."""
        key = _cache_key(integration)
        if (token := self.cache.get(key)) is not None and token.value == value:
            del self.cache[key]

    async def _fetch(self, http: aiohttp.ClientSession, integration: FhirIntegration) -> _Token:
        token_url, client_id = integration.token_url or "", integration.client_id or ""
        algorithm = integration.signing_algorithm or "RS384"
        signing_key = await self.load_key(integration.clinic_id, algorithm)
        if signing_key is None:
            raise TokenRefused(f"no {algorithm} key for this integration; PUT the integration again")
        now = utcnow()
        try:
            assertion = client_assertion(signing_key, self.secret_key, client_id, token_url, now)
        except InvalidTag as exc:
            raise TokenRefused(
                "the signing key does not open with this SECRET_KEY; PUT the integration again for new keys"
            ) from exc
        form = {
            "grant_type": "client_credentials",
            "scope": integration.scope or "",
            "client_assertion_type": ASSERTION_TYPE,
            "client_assertion": assertion,
        }
        if self.guarded:  # an IP literal skips the guarded resolver: checked here
            outbound.check_literal(token_url, self.allowed)
        headers = {"Accept": "application/json"}
        proxy = outbound.proxy_for(token_url)
        async with http.post(token_url, data=form, headers=headers, allow_redirects=False, proxy=proxy) as answer:
            status = answer.status
            body = await answer.content.read(MAX_ANSWER_BYTES)
        if status in outbound.RETRYABLE:
            raise TokenUnavailable(f"token endpoint: HTTP {status}")
        answered = _json(body)
        if status != 200:
            error = " ".join(str(answered.get(k, ""))[:200] for k in ("error", "error_description")).strip()
            raise TokenRefused(f"token endpoint refused the client assertion: HTTP {status} {error}".strip())
        value = answered.get("access_token")
        if not isinstance(value, str) or not value or str(answered.get("token_type", "")).lower() != "bearer":
            raise TokenRefused("token endpoint answered without a bearer access_token")
        lifetime = answered.get("expires_in")
        seconds = float(lifetime) if isinstance(lifetime, int | float) and lifetime > 0 else DEFAULT_LIFETIME
        # Fetched again a little before it runs out, so no request goes out with a token about to expire.
        return _Token(value, now + timedelta(seconds=seconds - min(60.0, seconds / 5)))


def _json(body: bytes) -> dict[str, object]:
    try:
        value = json.loads(body)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}
