"""In-process domain events, so a referral change can queue its export in the same
transaction without the referrals service importing the export service (which reads
referrals to build Bundles)."""

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from sqlalchemy.ext.asyncio import AsyncSession


@dataclass(frozen=True)
class ReferralChanged:
    clinic_id: uuid.UUID
    referral_id: uuid.UUID
    event: Literal["referral.created", "referral.status_changed", "referral.retriaged", "referral.urgency_changed"]
    at: datetime
    # The referral's urgency after the change, when the publisher has it at hand: subscribers that
    # care only about some urgencies (notifications) then skip the rest without a query.
    urgency: str | None = None


Subscriber = Callable[[AsyncSession, ReferralChanged], Awaitable[None]]
_subscribers: list[Subscriber] = []


def subscribe(subscriber: Subscriber) -> Subscriber:
    """Register a subscriber (at import time); it runs inside the publisher's transaction."""
    if subscriber not in _subscribers:
        _subscribers.append(subscriber)
    return subscriber


async def publish(session: AsyncSession, change: ReferralChanged) -> None:
    # Subscribers register when their module is imported (the app, CLI and worker all import
    # services.export.service); none at all means a process was wired wrongly: fail loudly
    # rather than change a referral and silently owe its clinic nothing.
    if not _subscribers:
        raise RuntimeError("no subscribers for referral changes: import services.export.service")
    for subscriber in _subscribers:
        await subscriber(session, change)
