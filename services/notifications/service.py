"""Notification rules: what a clinic announces where, queued in the transaction of the referral
change it announces; the overdue scan; the settings and outbox a clinic admin manages."""

import asyncio
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from services.core import events, outbound
from services.core.config import Settings
from services.core.db import utcnow
from services.core.errors import Conflict, NotFound, Unprocessable
from services.core.pagination import decode_cursor, page
from services.notifications import repository, sealing
from services.notifications.models import NotificationItem, NotificationSettings
from services.notifications.repository import ItemRepository, OutboxRepository, SettingsRepository
from services.notifications.schemas import ItemOut, ItemPage, ItemQuery, SettingsIn, SettingsOut, WebhookSecretOut
from services.referrals import service as referrals

ANNOUNCED = ("emergency", "urgent")
# A referral is announced when it is made, and when re-triage or a person raises its urgency.
ANNOUNCING_EVENTS = ("referral.created", "referral.retriaged", "referral.urgency_changed")
OVERDUE_BATCH = 200


class NotificationItemNotFound(NotFound):
    title, slug = "Notification not found", "notification-not-found"


class NotificationNotDead(Conflict):
    title, slug = "Notification not dead", "notification-not-dead"


class NoDestination(Unprocessable):
    title, slug = "No destination", "no-destination"


class WebhookSecretMissing(Conflict):
    title, slug = "No webhook secret", "webhook-secret-missing"


def targets(settings: NotificationSettings) -> list[tuple[str, str]]:
    """(channel, target) for each destination of the clinic."""
    found = [("email", address) for address in settings.emails]
    if settings.webhook_url and settings.sealed_webhook_secret:
        found.append(("webhook", settings.webhook_url))
    return found


def _rows(
    settings: NotificationSettings, referral_id: uuid.UUID, kind: str, urgency: str, due_at: datetime, now: datetime
) -> list[dict[str, Any]]:
    common = {"clinic_id": settings.clinic_id, "referral_id": referral_id, "kind": kind, "urgency": urgency,
              "due_at": due_at, "status": "pending", "attempts": 0, "created_at": now,
              "next_attempt_at": now}  # fmt: skip
    return [{**common, "id": uuid.uuid4(), "channel": c, "target": t} for c, t in targets(settings)]


@events.subscribe
async def queue_announcement(session: AsyncSession, change: events.ReferralChanged) -> None:
    """An emergency or urgent referral is announced to the clinic's destinations, in the change's
    own transaction: made so, or raised to it. The unique key keeps it to once per destination."""
    if change.event not in ANNOUNCING_EVENTS or (change.urgency is not None and change.urgency not in ANNOUNCED):
        return  # most intakes: routine or self-care, known without a query
    settings = await SettingsRepository(session, change.clinic_id).get()
    if settings is None or not settings.enabled:  # most clinics: one primary-key read, nothing more
        return
    referral = await referrals.current(session, change.clinic_id, change.referral_id)
    if referral.urgency in ANNOUNCED:
        rows = _rows(settings, referral.id, "new", referral.urgency, referral.due_at, change.at)
        await repository.queue(session, rows)


async def queue_overdue(session: AsyncSession, now: datetime) -> int:
    """Open emergency and urgent referrals past due, of clinics that announce, without an overdue
    announcement yet: queue one (the worker's periodic scan). Returns how many items were added;
    concurrent scans add each once (the unique key)."""
    added = 0
    while True:
        found = await referrals.open_urgent_past_due(session, now, repository.unannounced("overdue"), OVERDUE_BATCH)
        by_clinic = await OutboxRepository(session).settings({clinic_id for clinic_id, _, _, _ in found})
        rows = [
            row
            for clinic_id, referral_id, urgency, due_at in found
            for row in _rows(by_clinic[clinic_id], referral_id, "overdue", urgency, due_at, now)
        ]
        batch = await repository.queue(session, rows)
        added += batch
        if len(found) < OVERDUE_BATCH or batch == 0:  # no progress: a clinic without destinations
            return added


def _settings_out(settings: NotificationSettings | None) -> SettingsOut:
    if settings is None:
        return SettingsOut(emails=[], webhook_url=None, webhook_secret_set=False, enabled=False, updated_at=None)
    return SettingsOut(
        emails=settings.emails,
        webhook_url=settings.webhook_url,
        webhook_secret_set=settings.sealed_webhook_secret is not None,
        enabled=settings.enabled,
        updated_at=settings.updated_at,
    )


async def get_settings(session: AsyncSession, clinic_id: uuid.UUID) -> SettingsOut:
    """The clinic's destinations (the webhook secret never shown); nothing announced until saved."""
    return _settings_out(await SettingsRepository(session, clinic_id).get())


async def check_destination(url: str, allowed_networks: str = "") -> None:
    """In production a webhook is https to a public host, as a FHIR base URL is (core/outbound.py);
    the worker checks again at every delivery."""
    await asyncio.to_thread(outbound.check_url, url, outbound.parse_networks(allowed_networks))


async def put_settings(session: AsyncSession, clinic_id: uuid.UUID, body: SettingsIn, config: Settings) -> SettingsOut:
    """Save where the clinic's announcements go. Enabled needs a destination, and a webhook needs
    its secret first (POST /v1/notifications/webhook-secret): a message nobody can verify is not sent."""
    if body.webhook_url is not None and config.environment == "production":
        await check_destination(body.webhook_url, config.outbound_allowed_networks)
    emails = list(dict.fromkeys(str(address).lower() for address in body.emails))
    if body.enabled and not emails and body.webhook_url is None:
        raise NoDestination("enabled notifications need an e-mail address or a webhook URL")
    repo = SettingsRepository(session, clinic_id)
    existing = await repo.get()
    sealed = existing.sealed_webhook_secret if existing else None
    if body.enabled and body.webhook_url is not None and sealed is None:
        raise WebhookSecretMissing("make the webhook's secret first: POST /v1/notifications/webhook-secret")
    saved = await repo.save(
        NotificationSettings(
            clinic_id=clinic_id,
            emails=emails,
            webhook_url=body.webhook_url,
            sealed_webhook_secret=sealed,
            enabled=body.enabled,
            updated_at=utcnow(),
        )
    )
    return _settings_out(saved)


async def rotate_secret(session: AsyncSession, clinic_id: uuid.UUID, config: Settings) -> WebhookSecretOut:
    """A new webhook signing secret, shown in this answer only; the old one stops signing at once
    (pending messages are signed with the new one when they are sent)."""
    repo = SettingsRepository(session, clinic_id)
    existing = await repo.get() or NotificationSettings(clinic_id=clinic_id, emails=[], enabled=False)
    secret = sealing.new_secret()
    existing.sealed_webhook_secret = sealing.seal(secret, config.secret_key.get_secret_value(), clinic_id)
    existing.updated_at = utcnow()
    await repo.save(existing)
    return WebhookSecretOut(secret=secret)


def _item_out(item: NotificationItem) -> ItemOut:
    return ItemOut.model_validate(
        {**item.model_dump(), "next_attempt_at": item.next_attempt_at if item.status == "pending" else None}
    )


async def list_items(session: AsyncSession, clinic_id: uuid.UUID, query: ItemQuery) -> ItemPage:
    after = decode_cursor(query.cursor, datetime, uuid.UUID) if query.cursor else None
    rows = await ItemRepository(session, clinic_id).page(query.status, after, query.limit + 1)
    items, next_cursor = page(rows, query.limit, lambda i: (i.created_at, i.id))
    return ItemPage(items=[_item_out(i) for i in items], next_cursor=next_cursor)


async def items_of(session: AsyncSession, clinic_id: uuid.UUID, referral_id: uuid.UUID) -> list[ItemOut]:
    """A referral's notifications, oldest first."""
    return [_item_out(i) for i in await ItemRepository(session, clinic_id).for_referral(referral_id)]


async def retry(session: AsyncSession, clinic_id: uuid.UUID, item_id: uuid.UUID) -> ItemOut:
    """Give a dead notification a fresh set of attempts, due now."""
    repo = ItemRepository(session, clinic_id)
    revived = await repo.revive(item_id, utcnow())
    if revived is None:
        if await repo.get(item_id) is None:
            raise NotificationItemNotFound(f"no notification {item_id}")
        raise NotificationNotDead("only a dead notification can be retried; pending ones are retried by the worker")
    return _item_out(revived)
