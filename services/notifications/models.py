"""Where a clinic's emergency and urgent referrals are announced, and the notification outbox."""

import uuid
from datetime import datetime

from sqlalchemy import Boolean, Column, Index, String, Text, UniqueConstraint, text
from sqlmodel import Field, SQLModel

from services.core.db import JSONType, UTCDateTime, utcnow


class NotificationSettings(SQLModel, table=True):
    __tablename__ = "notification_settings"

    clinic_id: uuid.UUID = Field(foreign_key="clinics.id", primary_key=True, ondelete="CASCADE")
    emails: list[str] = Field(default_factory=list, sa_column=Column(JSONType, nullable=False))
    webhook_url: str | None = Field(default=None, sa_column=Column(String(500), nullable=True))
    # AES-GCM under a key derived from SECRET_KEY (sealing.py); never returned after it is made.
    sealed_webhook_secret: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    enabled: bool = Field(default=False, sa_column=Column(Boolean, nullable=False))
    updated_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime, nullable=False))


class NotificationItem(SQLModel, table=True):
    """One message owed to one destination: queued in the transaction of the referral change it
    announces (or by the worker's overdue scan), sent by the worker under a lease."""

    __tablename__ = "notification_items"
    __table_args__ = (
        # Nothing is queued twice: a second insert of the same announcement does nothing.
        UniqueConstraint("referral_id", "kind", "channel", "target"),
        Index("ix_notification_items_clinic", "clinic_id", "created_at", "id"),
        Index(
            "ix_notification_items_due",
            "next_attempt_at",
            postgresql_where=text("status = 'pending'"),
            sqlite_where=text("status = 'pending'"),
        ),
    )

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    clinic_id: uuid.UUID = Field(foreign_key="clinics.id", ondelete="CASCADE")
    referral_id: uuid.UUID = Field(foreign_key="referrals.id", ondelete="CASCADE")
    kind: str = Field(sa_column=Column(String(16), nullable=False))  # "new" | "overdue"
    channel: str = Field(sa_column=Column(String(16), nullable=False))  # "email" | "webhook"
    target: str = Field(sa_column=Column(String(500), nullable=False))  # an address or the webhook URL
    # The referral's urgency and due time when it was queued: all a message says about it.
    urgency: str = Field(sa_column=Column(String(16), nullable=False))
    due_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    status: str = Field(default="pending", sa_column=Column(String(16), nullable=False))
    attempts: int = Field(default=0, nullable=False)
    last_error: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime, nullable=False))
    next_attempt_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime, nullable=False))
    delivered_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime, nullable=True))
    lease_until: datetime | None = Field(default=None, sa_column=Column(UTCDateTime, nullable=True))
    lease_owner: str | None = Field(default=None, sa_column=Column(String(64), nullable=True))
