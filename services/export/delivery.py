"""One delivery's exchange with the clinic's FHIR server: the Bundle in as many transactions as
the server takes (fhir/transaction.py), each with the integration's credentials, and what the
server's answers mean for the export item."""

import asyncio
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlsplit

import aiohttp

from services.core import outbound
from services.export.fhir import transaction
from services.export.models import FhirIntegration
from services.export.smart import Tokens

MAX_ANSWER_BYTES = 1 << 20
MAX_ERROR = 1000  # characters of last_error


@dataclass(frozen=True)
class Answer:
    status: int
    reason: str
    retry_after: str
    body: bytes

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300


@dataclass
class Sender:
    """Sends for one worker: its HTTP session, token cache and outbound guard, and its turns at
    each receiving server."""

    http: aiohttp.ClientSession
    tokens: Tokens
    guarded: bool
    allowed: tuple[outbound.Network, ...]
    per_server: int  # EXPORT_RECEIVER_CONCURRENCY
    _turns: dict[str, asyncio.Semaphore] = field(default_factory=dict, repr=False)

    def turn(self, base_url: str) -> asyncio.Semaphore:
        """The transactions this worker may have in flight at one server (scheme, host and port:
        clinics on one EHR share them). A server that works one transaction at a time queues
        the rest, and a whole batch queued there outlasts the HTTP timeout; each request that
        timed out is sent again while the server still works on it, and none gets through."""
        where = urlsplit(base_url)
        return self._turns.setdefault(f"{where.scheme}://{where.netloc}".lower(), asyncio.Semaphore(self.per_server))

    async def send(self, integration: FhirIntegration, delivery: str, bundle: dict[str, Any], limit: int) -> Answer:
        """POST the Bundle in parts of at most `limit` entries; the first answer that is not a
        success, or the last one. Raises transaction.UnreadableResponse when a part was taken
        but the server did not say where its resources went (the next parts refer to them)."""
        parts = transaction.split(bundle, limit)
        located: dict[str, str] = {}
        for number, part in enumerate(parts, 1):
            answer = await self.post(integration, delivery, transaction.relink(part, located))
            if not answer.ok or number == len(parts):
                return answer
            located |= transaction.locations(part, _json(answer.body))
        raise AssertionError("a Bundle has at least one entry")

    async def post(self, integration: FhirIntegration, delivery: str, body: dict[str, Any]) -> Answer:
        """One transaction, with a fresh SMART token once if the server refuses the one it got."""
        headers = {"Content-Type": "application/fhir+json", "X-Backstride-Delivery": delivery}
        return await self.request(integration, "POST", integration.base_url, headers, body)

    async def request(
        self, integration: FhirIntegration, method: str, url: str, extra: dict[str, str], body: Any = None
    ) -> Answer:
        """One request to the clinic's FHIR server with the integration's credentials (and a fresh
        SMART token once if the server refuses the one it got)."""
        smart = integration.auth_type == "smart_backend"
        for attempt in (1, 2):
            headers = {"Accept": "application/fhir+json", **extra}
            token = integration.auth_token if integration.auth_type == "bearer" else None
            if smart:
                token = await self.tokens.get(self.http, integration)
            if token:
                headers["Authorization"] = f"Bearer {token}"
            if self.guarded:  # an IP literal skips the guarded resolver: checked here
                outbound.check_literal(url, self.allowed)
            proxy = outbound.proxy_for(url)
            async with self.http.request(
                method, url, json=body, headers=headers, allow_redirects=False, proxy=proxy
            ) as got:
                answer = Answer(got.status, got.reason or "", got.headers.get("retry-after", ""),
                                await read_some(got.content, MAX_ANSWER_BYTES))  # fmt: skip
            if answer.status == 401 and smart and attempt == 1 and token:
                self.tokens.forget(integration, token)  # revoked or expired early: fetch another
                continue
            return answer
        raise AssertionError("unreachable")


async def read_some(stream: aiohttp.StreamReader, limit: int) -> bytes:
    """The answer's body, up to `limit` bytes (a receiver's answer is not ours to hoard).
    StreamReader.read(n) returns what has arrived so far, so it is read until the end or the limit."""
    chunks: list[bytes] = []
    size = 0
    while size < limit and (chunk := await stream.read(limit - size)):
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)


def _json(body: bytes) -> Any:
    try:
        return json.loads(body)
    except (ValueError, RecursionError):  # UnicodeDecodeError included; RecursionError: nested too deep
        return None


def retry_after(header: str) -> float | None:
    """Retry-After in seconds, given as seconds or as an HTTP date."""
    value = header.strip()
    if value.isascii() and value.isdigit():  # "²".isdigit() too, and float() refuses it
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, (when - datetime.now(UTC)).total_seconds()) if when.tzinfo else None


def _clip(value: Any, length: int = 300) -> str:
    return str(value)[:length] if value is not None else ""


def _issue(issue: dict[str, Any]) -> str:
    """`error invariant: <details.text>; <diagnostics> (at <expression>)`, each part clipped."""
    details = issue.get("details")
    texts = [_clip(details.get("text")) if isinstance(details, dict) else "", _clip(issue.get("diagnostics"))]
    where = issue.get("expression") or issue.get("location")
    at = ", ".join(_clip(w, 100) for w in where[:3]) if isinstance(where, list) else ""
    said = "; ".join(dict.fromkeys(t for t in texts if t))
    head = " ".join(_clip(issue.get(k), 30) for k in ("severity", "code") if issue.get(k))
    return f"{head}: {said}" + (f" (at {at})" if at else "") if said or at else head


def outcome(answer: Answer) -> str:
    """`HTTP 400: ` and a summary of the server's OperationOutcome (severity, code, details.text,
    diagnostics, expression of each issue), clipped. Any other body is not kept: it is not ours
    to store, and it could be anything the URL answers."""
    body = _json(answer.body)
    summary = answer.reason
    if isinstance(body, dict) and body.get("resourceType") == "OperationOutcome":
        issues = body.get("issue")
        found = [_issue(i) for i in (issues if isinstance(issues, list) else [])[:10] if isinstance(i, dict)]
        summary = "; ".join(f for f in found if f) or summary
    return f"HTTP {answer.status}: {summary}"[:MAX_ERROR]
