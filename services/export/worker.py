"""The export worker: lease due outbox items, POST their Bundles, record what happened.

Delivery is at-least-once and made idempotent by the Bundles themselves (conditional
creates and a conditional update), so a retry after a lost response creates nothing
twice. A worker that dies holds its items only until their lease runs out.
"""

import asyncio
import contextlib
import logging
import random
import socket
import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Literal

import aiohttp
import orjson
from sqlalchemy.exc import DBAPIError

from services.core import outbound
from services.core.config import Settings
from services.core.db import Database, utcnow
from services.core.observability import EXPORTS
from services.export import service
from services.export.delivery import Sender, outcome
from services.export.delivery import retry_after as parse_retry_after
from services.export.fhir.transaction import UnreadableResponse
from services.export.models import ExportItem, FhirIntegration, IntegrationKey
from services.export.repository import OutboxRepository
from services.export.smart import TokenRefused, Tokens, TokenUnavailable

log = logging.getLogger("backstride.worker")
# An item's turn in a batch: the receiver took it; it was attempted and not taken (recorded on
# the item); or it was given back unsent (the worker stopping, or no turn at the server in time).
Outcome = Literal["delivered", "failed", "returned"]
MAX_RETRY_AFTER = 24 * 3600.0


@dataclass(frozen=True)
class Job:
    """A claimed item, with its clinic's integration and what it sends (both read with the batch;
    None when not found there)."""

    item: ExportItem
    integration: FhirIntegration | None
    record: service.DeliveryRecord | None


class Worker:
    def __init__(self, database: Database, settings: Settings, owner: str | None = None) -> None:
        self.database = database
        self.settings = settings
        self.owner = owner or f"{socket.gethostname()}:{uuid.uuid4().hex[:8]}"
        self.stopping = asyncio.Event()
        # Calls on a clinic's behalf reach public hosts only, in production (core/outbound.py).
        self.guarded = settings.environment == "production"
        self.allowed = outbound.parse_networks(settings.outbound_allowed_networks)
        # SMART access tokens, kept across batches for as long as they last.
        self.tokens = Tokens(settings.secret_key.get_secret_value(), self._signing_key, self.guarded, self.allowed)

    def stop(self) -> None:
        """Finish the deliveries in hand, give back the rest, then return from run()."""
        self.stopping.set()

    async def run(self, drain: bool = False) -> int:
        """Deliver until stopped (or, with drain, until nothing is due). Returns deliveries attempted."""
        attempted = 0
        timeout = aiohttp.ClientTimeout(total=self.settings.export_http_timeout_seconds)
        # In production every name is resolved by a resolver that refuses non-public addresses,
        # and the connection goes to the addresses it checked (no DNS rebinding).
        connector = aiohttp.TCPConnector(resolver=outbound.GuardedResolver(self.allowed)) if self.guarded else None
        # HTTP(S)_PROXY and NO_PROXY are honoured per request (outbound.proxy_for).
        async with aiohttp.ClientSession(timeout=timeout, json_serialize=_json, connector=connector) as http:
            sender = Sender(http, self.tokens, self.guarded, self.allowed, self.settings.export_receiver_concurrency)
            while not self.stopping.is_set():
                try:
                    jobs = await self._claim()
                except (DBAPIError, ConnectionError, TimeoutError) as exc:  # the database is away: wait, go on
                    if drain:  # a one-off run reports it rather than waiting
                        raise
                    log.warning("cannot claim exports: %s", type(exc).__name__)
                    await self._sleep(self.settings.export_poll_seconds)
                    continue
                if not jobs:
                    if drain:
                        break
                    await self._sleep(self.settings.export_poll_seconds)
                    continue
                outcomes = await asyncio.gather(*(self._deliver_safely(sender, job) for job in jobs))
                done = zip(jobs, outcomes, strict=True)
                await self._record_delivered([job.item.id for job, result in done if result == "delivered"])
                attempted += sum(result != "returned" for result in outcomes)
        return attempted

    async def _sleep(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):  # woken early by stop()
            await asyncio.wait_for(self.stopping.wait(), timeout=seconds)

    async def _claim(self) -> list[Job]:
        """A batch of due items, each with its clinic's integration and what it sends, read once
        per batch, not per item."""
        lease = timedelta(seconds=self.settings.export_lease_seconds)
        async with self.database.sessionmaker() as session, session.begin():
            outbox = OutboxRepository(session)
            now = utcnow()
            await outbox.bury_abandoned(now, self.settings.export_max_attempts)
            items = await outbox.claim(self.owner, now, lease, self.settings.export_batch_size)
            wanted: dict[uuid.UUID, list[uuid.UUID]] = {}
            for item in items:
                wanted.setdefault(item.clinic_id, []).append(item.referral_id)
            integrations = await outbox.integrations(set(wanted))
            try:
                records = await service.delivery_records(session, wanted)
            except DBAPIError:
                raise
            except Exception as exc:  # noqa: BLE001 - a row that cannot be read: each item is read alone,
                # so only its own export fails (and says why), not the batch
                log.warning("batch read failed (%s): reading each export alone", type(exc).__name__)
                records = {}
            return [Job(i, integrations.get(i.clinic_id), records.get(i.referral_id)) for i in items]

    async def _signing_key(self, clinic_id: uuid.UUID, algorithm: str) -> IntegrationKey | None:
        async with self.database.sessionmaker() as session:
            return await service.signing_key(session, clinic_id, algorithm)

    async def _deliver_safely(self, sender: Sender, job: Job) -> Outcome:
        """One item's delivery: "delivered" is recorded with the batch; any other outcome is
        recorded on the item here, never lost in the batch."""
        item = job.item
        turn = sender.turn(job.integration.base_url) if job.integration is not None else None
        try:
            if not await self._wait_for(turn):  # stopping, or no turn at the server in time: nothing was
                await self._release(item)  # sent, so the item goes back untouched
                return "returned"
            try:
                # Well inside the lease, so no other worker takes the item while this one still sends it.
                async with asyncio.timeout(self.settings.export_lease_seconds / 2):
                    return "delivered" if await self._deliver(sender, job) else "failed"
            except TimeoutError:
                await self._retry(item, "timed out delivering", None)
            except Exception as exc:
                log.exception("export %s failed unexpectedly", item.id)
                await self._retry(item, f"internal error: {type(exc).__name__}", None)
            finally:
                if turn is not None:
                    turn.release()
        except Exception as exc:  # noqa: BLE001 - not even the outcome could be stored (database away)
            # The lease runs out and the item is tried again; nothing is lost.
            log.warning("export %s: outcome not recorded: %s", item.id, type(exc).__name__)
        return "failed"

    async def _wait_for(self, turn: asyncio.Semaphore | None) -> bool:
        """Take a turn at the receiving server (a quarter of the lease at most, so the delivery
        still fits in it); False, holding nothing, if the worker is stopping or none came."""
        if self.stopping.is_set():
            return False
        if turn is None:
            return True
        try:
            async with asyncio.timeout(self.settings.export_lease_seconds / 4):
                await turn.acquire()
        except TimeoutError:
            return False
        if self.stopping.is_set():  # stop() came while it waited
            turn.release()
            return False
        return True

    async def _release(self, item: ExportItem) -> None:
        async with self.database.sessionmaker() as session, session.begin():
            await OutboxRepository(session).release(item.id, self.owner)

    async def _deliver(self, sender: Sender, job: Job) -> bool:
        """Send the item's Bundle; True if the receiver took it, else the outcome is recorded here."""
        item, integration, record = job.item, job.integration, job.record
        if integration is None or not integration.enabled:  # disabled (as read with the batch): wait
            await self._finish(item, attempts=item.attempts - 1, last_error="integration disabled")
            return False
        try:
            if record is not None:
                bundle = service.bundle_of(record, integration.mrn_system)
            else:  # not found with the batch: read alone (it says why)
                async with self.database.sessionmaker() as session:
                    bundle = await service.delivery_bundle(
                        session, item.clinic_id, item.referral_id, integration.mrn_system
                    )
            if bundle is None:  # erased since it was queued; normally already stopped by the erasure
                await self._dead(item, service.ERASED)
                return False
            limit = self.settings.export_transaction_max_entries
            answer = await sender.send(integration, str(item.id), bundle, limit)
        except TimeoutError:
            await self._retry(item, "timed out", None)
            return False
        except (aiohttp.ClientError, OSError):
            # Refused, reset, not TLS, an address refused by the guard, a malformed answer: one
            # message for all, so last_error cannot be used to map a network (a port scanner).
            await self._retry(item, "could not connect", None)
            return False
        except (TokenUnavailable, UnreadableResponse) as exc:
            await self._retry(item, str(exc), None)
            return False
        except TokenRefused as exc:  # wrong key, client or scope: trying again will not help
            await self._dead(item, str(exc))
            return False
        if answer.ok:
            EXPORTS.labels("delivered").inc()
            return True
        if answer.status in outbound.RETRYABLE:
            await self._retry(item, f"HTTP {answer.status}", parse_retry_after(answer.retry_after))
        else:  # the server refused the Bundle itself: retrying the same Bundle will not help
            await self._dead(item, outcome(answer))
        return False

    async def _record_delivered(self, delivered: list[uuid.UUID]) -> None:
        """One UPDATE for the batch's successes: per item, its own transaction was a third of a
        delivery's database work (bench/). If it cannot be stored, the leases run out and the
        items are sent again, which the Bundles' conditional requests make harmless."""
        if not delivered:
            return
        try:
            async with self.database.sessionmaker() as session, session.begin():
                recorded = await OutboxRepository(session).finish_delivered(delivered, self.owner, utcnow())
        except Exception as exc:  # noqa: BLE001 - the database is away: the leases cover it
            log.warning("%d deliveries not recorded: %s", len(delivered), type(exc).__name__)
            return
        if recorded < len(delivered):
            log.warning("%d deliveries: lease lost before the outcome was recorded", len(delivered) - recorded)

    async def _retry(self, item: ExportItem, error: str, retry_after: float | None) -> None:
        EXPORTS.labels("retry").inc()
        if item.attempts >= self.settings.export_max_attempts:
            await self._dead(item, f"{error} (gave up after {item.attempts} attempts)")
            return
        backoff = min(
            self.settings.export_retry_max_seconds, self.settings.export_retry_base_seconds * 2 ** (item.attempts - 1)
        )
        delay = backoff * random.uniform(0.5, 1.5)  # noqa: S311 - jitter, not security
        if retry_after is not None:  # the server knows best, within reason
            delay = max(delay, min(retry_after, MAX_RETRY_AFTER))
        await self._finish(item, last_error=error, next_attempt_at=utcnow() + timedelta(seconds=delay))

    async def _dead(self, item: ExportItem, error: str) -> None:
        EXPORTS.labels("dead").inc()
        log.warning("export %s dead after %d attempts", item.id, item.attempts)
        await self._finish(item, status="dead", last_error=error)

    async def _finish(self, item: ExportItem, **values: Any) -> None:
        async with self.database.sessionmaker() as session, session.begin():
            if not await OutboxRepository(session).finish(item.id, self.owner, **values):
                log.warning("export %s: lease lost before the outcome was recorded", item.id)


def _json(value: Any) -> str:
    return orjson.dumps(value).decode()  # a sixteenth of a delivery's CPU with json.dumps (bench/)
