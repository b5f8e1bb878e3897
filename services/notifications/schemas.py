"""Notification shapes: a clinic's settings and the outbox items."""

import uuid
from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, EmailStr, Field, StrictBool, StringConstraints

from services.core.schemas import PageQuery, StrictModel

ItemStatus = Literal["pending", "delivered", "dead"]
Kind = Literal["new", "overdue"]
Channel = Literal["email", "webhook"]
WebhookUrl = Annotated[
    str, StringConstraints(max_length=500, pattern=r"^https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?(/[!-~]*)?$")
]
MAX_EMAILS = 10


class SettingsIn(StrictModel):
    emails: list[Annotated[EmailStr, StringConstraints(max_length=254)]] = Field(
        default_factory=list, max_length=MAX_EMAILS, description="Addresses that get each announcement (at most 10)"
    )
    webhook_url: WebhookUrl | None = Field(
        default=None, description="Where signed JSON announcements are POSTed; https to a public host in production"
    )
    enabled: StrictBool


class SettingsOut(BaseModel):
    emails: list[str]
    webhook_url: str | None
    webhook_secret_set: bool = Field(description="Whether a signing secret exists; it is shown only when rotated")
    enabled: bool
    updated_at: datetime | None = Field(description="None until the settings are first saved")


class WebhookSecretOut(BaseModel):
    secret: str = Field(description="The signing secret: shown in this answer only; the previous one stops at once")


class ItemOut(BaseModel):
    id: uuid.UUID
    referral_id: uuid.UUID
    kind: Kind
    channel: Channel
    target: str
    status: ItemStatus
    attempts: int
    last_error: str | None
    next_attempt_at: datetime | None = Field(description="When the next try is due (pending items only)")
    delivered_at: datetime | None
    created_at: datetime


class ItemPage(BaseModel):
    items: list[ItemOut]
    next_cursor: str | None


class ItemQuery(PageQuery):
    status: ItemStatus | None = None
