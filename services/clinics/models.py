"""Clinics (the tenants) and their API keys."""

import uuid
from datetime import datetime

from sqlalchemy import Column, Index, String
from sqlmodel import Field, SQLModel

from services.core.db import JSONType, UTCDateTime, utcnow


class Clinic(SQLModel, table=True):
    __tablename__ = "clinics"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    slug: str = Field(sa_column=Column(String(64), nullable=False, unique=True))
    name: str = Field(sa_column=Column(String(200), nullable=False))
    # Origins (scheme://host[:port]) allowed to use the clinic's publishable keys.
    allowed_origins: list[str] = Field(default_factory=list, sa_column=Column(JSONType, nullable=False))
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime, nullable=False))


class ApiKey(SQLModel, table=True):
    __tablename__ = "api_keys"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    clinic_id: uuid.UUID = Field(foreign_key="clinics.id", index=True, ondelete="CASCADE")
    kind: str = Field(sa_column=Column(String(16), nullable=False))  # "secret" | "publishable"
    # First characters of the key, safe to show in lists ("sk_AbCd1234").
    prefix: str = Field(sa_column=Column(String(16), nullable=False))
    # SHA-256 of the whole key: keys are 256-bit random, so a slow hash adds nothing.
    key_hash: str = Field(sa_column=Column(String(64), nullable=False, unique=True))
    scopes: list[str] = Field(default_factory=list, sa_column=Column(JSONType, nullable=False))
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime, nullable=False))
    revoked_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime, nullable=True))


class AdminEvent(SQLModel, table=True):
    """A clinic admin's action on the clinic's users, keys, origins or integration: who, what, on
    what, when. Never a secret (a key's prefix, not the key) and never clinical data."""

    __tablename__ = "admin_events"
    __table_args__ = (Index("ix_admin_events_clinic_id_at", "clinic_id", "at"),)

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    clinic_id: uuid.UUID = Field(foreign_key="clinics.id", ondelete="CASCADE")
    actor_id: uuid.UUID | None = Field(default=None)  # the user; None for a secret key
    # The actor as the trail shows it: an email or a key's prefix, as it was at the time.
    actor_label: str = Field(sa_column=Column(String(254), nullable=False))
    action: str = Field(sa_column=Column(String(32), nullable=False))
    target: str = Field(sa_column=Column(String(300), nullable=False))
    at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime, nullable=False))
