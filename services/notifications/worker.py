"""The notifier: queue overdue announcements now and then, lease due outbox items, send each
(e-mail or signed webhook), record what happened.

Delivery is at least once: an answer lost after the receiver did the work means a second send.
Each item has one id, sent as the webhook's X-Backstride-Delivery and the e-mail's Message-ID,
so a receiver (or a person) can tell the second from a new message. A worker that dies holds
its items only until their lease runs out.
"""

import asyncio
import contextlib
import logging
import random
import socket
import time
import uuid
from datetime import timedelta
from typing import Any

import aiohttp
from sqlalchemy.exc import DBAPIError

from services.core import mail, outbound
from services.core.config import Settings
from services.core.db import Database, utcnow
from services.notifications import message, sealing, service
from services.notifications.models import NotificationItem, NotificationSettings
from services.notifications.repository import OutboxRepository

log = logging.getLogger("backstride.notifier")
MAX_RETRY_AFTER = 24 * 3600.0


class Failed(Exception):
    """An attempt that did not deliver: `error` for last_error (never network detail)."""

    def __init__(self, error: str, retry: bool, retry_after: float | None = None) -> None:
        super().__init__(error)
        self.error, self.retry, self.retry_after = error, retry, retry_after


def _retry_after(header: str) -> float | None:
    value = header.strip()
    return float(value) if value.isascii() and value.isdigit() else None


class Notifier:
    def __init__(self, database: Database, settings: Settings, owner: str | None = None) -> None:
        self.database = database
        self.settings = settings
        self.owner = owner or f"{socket.gethostname()}:{uuid.uuid4().hex[:8]}"
        self.stopping = asyncio.Event()
        # Calls on a clinic's behalf reach public hosts only, in production (core/outbound.py).
        self.guarded = settings.environment == "production"
        self.allowed = outbound.parse_networks(settings.outbound_allowed_networks)

    def stop(self) -> None:
        """Finish the sends in hand, give back the rest, then return from run()."""
        self.stopping.set()

    async def run(self, drain: bool = False) -> int:
        """Send until stopped (or, with drain, until nothing is due). Returns attempts made."""
        attempted = 0
        next_scan = 0.0
        timeout = aiohttp.ClientTimeout(total=self.settings.export_http_timeout_seconds)
        # In production names resolve through a resolver that refuses non-public addresses, and the
        # connection goes to the addresses it checked (no DNS rebinding).
        connector = aiohttp.TCPConnector(resolver=outbound.GuardedResolver(self.allowed)) if self.guarded else None
        async with aiohttp.ClientSession(timeout=timeout, connector=connector) as http:
            while not self.stopping.is_set():
                try:
                    if time.monotonic() >= next_scan:
                        await self._scan()
                        next_scan = time.monotonic() + self.settings.notify_overdue_scan_seconds
                    items, by_clinic = await self._claim()
                except (DBAPIError, ConnectionError, TimeoutError) as exc:  # the database is away: wait, go on
                    if drain:
                        raise
                    log.warning("cannot claim notifications: %s", type(exc).__name__)
                    await self._sleep(self.settings.notify_poll_seconds)
                    continue
                if not items:
                    if drain:
                        break
                    await self._sleep(self.settings.notify_poll_seconds)
                    continue
                await asyncio.gather(*(self._deliver_safely(http, i, by_clinic.get(i.clinic_id)) for i in items))
                attempted += len(items)
        return attempted

    async def _sleep(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):  # woken early by stop()
            await asyncio.wait_for(self.stopping.wait(), timeout=seconds)

    async def _scan(self) -> None:
        async with self.database.sessionmaker() as session, session.begin():
            added = await service.queue_overdue(session, utcnow())
        if added:
            log.info("queued %d overdue notifications", added)

    async def _claim(self) -> tuple[list[NotificationItem], dict[uuid.UUID, NotificationSettings]]:
        lease = timedelta(seconds=self.settings.notify_lease_seconds)
        async with self.database.sessionmaker() as session, session.begin():
            outbox = OutboxRepository(session)
            now = utcnow()
            await outbox.bury_abandoned(now, self.settings.notify_max_attempts)
            items = await outbox.claim(self.owner, now, lease, self.settings.notify_batch_size)
            return items, await outbox.settings({item.clinic_id for item in items})

    async def _deliver_safely(
        self, http: aiohttp.ClientSession, item: NotificationItem, settings: NotificationSettings | None
    ) -> None:
        """One item's attempt, its outcome recorded on the item; nothing escapes to stop the batch."""
        try:
            if self.stopping.is_set():  # not started: hand it back untouched
                async with self.database.sessionmaker() as session, session.begin():
                    await OutboxRepository(session).release(item.id, self.owner)
                return
            try:
                # Well inside the lease, so no other worker takes the item while this one still sends it.
                async with asyncio.timeout(self.settings.notify_lease_seconds / 2):
                    await self._deliver(http, item, settings)
            except Failed as failed:
                await (self._retry(item, failed) if failed.retry else self._dead(item, failed.error))
                return
            except TimeoutError:
                await self._retry(item, Failed("timed out", retry=True))
                return
            except Exception as exc:
                log.exception("notification %s failed unexpectedly", item.id)
                await self._retry(item, Failed(f"internal error: {type(exc).__name__}", retry=True))
                return
            await self._finish(item, status="delivered", delivered_at=utcnow(), last_error=None)
        except Exception as exc:  # noqa: BLE001 - not even the outcome could be stored (database away)
            log.warning("notification %s: outcome not recorded: %s", item.id, type(exc).__name__)

    async def _deliver(
        self, http: aiohttp.ClientSession, item: NotificationItem, settings: NotificationSettings | None
    ) -> None:
        if settings is None or (item.channel, item.target) not in service.targets(settings):
            raise Failed("no longer a destination of the clinic", retry=False)
        url = message.link(self.settings.public_base_url, item.referral_id)
        if item.channel == "email":
            await self._email(item, url)
        else:
            await self._webhook(http, item, settings, url)

    async def _email(self, item: NotificationItem, url: str) -> None:
        try:
            letter = message.mail(item.id, item.target, item.kind, item.urgency, item.due_at, url)
            await mail.send(self.settings, letter)
        except mail.MailNotConfigured as exc:  # the deployment may set SMTP_HOST yet
            raise Failed("e-mail is not configured (SMTP_HOST)", retry=True) from exc
        except mail.MailFailed as exc:
            raise Failed(str(exc), retry=exc.retry) from exc

    async def _webhook(
        self, http: aiohttp.ClientSession, item: NotificationItem, settings: NotificationSettings, url: str
    ) -> None:
        try:
            secret = sealing.unseal(settings.sealed_webhook_secret or "", self.settings.secret_key.get_secret_value(),
                                    settings.clinic_id)  # fmt: skip
        except (sealing.SecretUnreadable, ValueError) as exc:
            raise Failed("the webhook secret does not open (SECRET_KEY changed): rotate it", retry=False) from exc
        now = utcnow()
        body = message.webhook_body(
            item.id, item.clinic_id, item.referral_id, item.kind, item.urgency, item.due_at, url, now
        )
        headers = message.headers(item.id, secret, int(now.timestamp()), body)
        try:
            if self.guarded:  # https only; an IP literal skips the guarded resolver, so it is checked here
                if not item.target.startswith("https://"):
                    raise Failed("the URL must use https", retry=False)
                outbound.check_literal(item.target, self.allowed)
            proxy = outbound.proxy_for(item.target)
            async with http.post(item.target, data=body, headers=headers, allow_redirects=False, proxy=proxy) as got:
                status, wait = got.status, got.headers.get("retry-after", "")
                await got.content.read(4096)  # the answer is not ours to keep
        except TimeoutError as exc:
            raise Failed("timed out", retry=True) from exc
        except (aiohttp.ClientError, OSError) as exc:
            # Refused, reset, not TLS, an address refused by the guard: one message for all, so
            # last_error cannot be used to map a network.
            raise Failed("could not connect", retry=True) from exc
        if not 200 <= status < 300:
            raise Failed(f"HTTP {status}", retry=status in outbound.RETRYABLE, retry_after=_retry_after(wait))

    async def _retry(self, item: NotificationItem, failed: Failed) -> None:
        if item.attempts >= self.settings.notify_max_attempts:
            await self._dead(item, f"{failed.error} (gave up after {item.attempts} attempts)")
            return
        backoff = min(
            self.settings.notify_retry_max_seconds, self.settings.notify_retry_base_seconds * 2 ** (item.attempts - 1)
        )
        delay = backoff * random.uniform(0.5, 1.5)  # noqa: S311 - jitter, not security
        if failed.retry_after is not None:
            delay = max(delay, min(failed.retry_after, MAX_RETRY_AFTER))
        await self._finish(item, last_error=failed.error, next_attempt_at=utcnow() + timedelta(seconds=delay))

    async def _dead(self, item: NotificationItem, error: str) -> None:
        log.warning("notification %s dead after %d attempts", item.id, item.attempts)
        await self._finish(item, status="dead", last_error=error)

    async def _finish(self, item: NotificationItem, **values: Any) -> None:
        async with self.database.sessionmaker() as session, session.begin():
            if not await OutboxRepository(session).finish(item.id, self.owner, **values):
                log.warning("notification %s: lease lost before the outcome was recorded", item.id)
