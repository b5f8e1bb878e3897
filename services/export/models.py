"""Per-clinic FHIR destinations and the export outbox."""

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, Column, Index, String, Text, text
from sqlmodel import Field, SQLModel

from services.core.db import JSONType, UTCDateTime, utcnow


class FhirIntegration(SQLModel, table=True):
    __tablename__ = "fhir_integrations"

    clinic_id: uuid.UUID = Field(foreign_key="clinics.id", primary_key=True, ondelete="CASCADE")
    base_url: str = Field(sa_column=Column(String(500), nullable=False))
    auth_type: str = Field(sa_column=Column(String(16), nullable=False))  # "none" | "bearer" | "smart_backend"
    # Needed in clear to call the clinic's server; never returned by the API.
    auth_token: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    # SMART Backend Services: where to get an access token, as whom, for what, signed how.
    token_url: str | None = Field(default=None, sa_column=Column(String(500), nullable=True))
    client_id: str | None = Field(default=None, sa_column=Column(String(255), nullable=True))
    scope: str | None = Field(default=None, sa_column=Column(String(1000), nullable=True))
    signing_algorithm: str | None = Field(default=None, sa_column=Column(String(8), nullable=True))
    # The URI of the clinic's MRNs in its EHR (SPEC §7); None: Backstride's own system for them.
    mrn_system: str | None = Field(default=None, sa_column=Column(String(255), nullable=True))
    enabled: bool = Field(sa_column=Column(Boolean, nullable=False))
    updated_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime, nullable=False))


class IntegrationKey(SQLModel, table=True):
    """A key pair the export signs SMART client assertions with. The public half is served as a
    JWKS; the private half is kept sealed with a key derived from SECRET_KEY (export/keys.py)."""

    __tablename__ = "integration_keys"

    kid: str = Field(sa_column=Column(String(64), primary_key=True))
    clinic_id: uuid.UUID = Field(foreign_key="clinics.id", index=True, ondelete="CASCADE")
    algorithm: str = Field(sa_column=Column(String(8), nullable=False))  # "RS384" | "ES384"
    public_jwk: dict[str, Any] = Field(sa_column=Column(JSONType, nullable=False))
    sealed_private_key: str = Field(sa_column=Column(Text, nullable=False))
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime, nullable=False))


class ExportItem(SQLModel, table=True):
    """One delivery owed to a clinic's FHIR server: written in the same transaction as
    the referral change it reports, delivered by the worker under a lease."""

    __tablename__ = "export_items"
    __table_args__ = (
        # status INCLUDEd: the dashboard counts a window's items by status from the index alone.
        Index("ix_export_items_clinic", "clinic_id", "created_at", "id", postgresql_include=["status"]),
        # What the worker looks for: due, pending items.
        Index(
            "ix_export_items_due",
            "next_attempt_at",
            postgresql_where=text("status = 'pending'"),
            sqlite_where=text("status = 'pending'"),
        ),
        Index("ix_export_items_referral", "referral_id"),
        # The claim's "no older item of this referral pending" check.
        Index(
            "ix_export_items_pending_referral",
            "referral_id",
            "created_at",
            "id",
            postgresql_where=text("status = 'pending'"),
            sqlite_where=text("status = 'pending'"),
        ),
    )

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    clinic_id: uuid.UUID = Field(foreign_key="clinics.id", ondelete="CASCADE")
    referral_id: uuid.UUID = Field(foreign_key="referrals.id", ondelete="CASCADE")
    event: str = Field(sa_column=Column(String(32), nullable=False))
    status: str = Field(default="pending", sa_column=Column(String(16), nullable=False))
    attempts: int = Field(default=0, nullable=False)
    last_error: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime, nullable=False))
    next_attempt_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime, nullable=False))
    delivered_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime, nullable=True))
    # A worker holds an item until lease_until; a worker that dies lets the lease run out.
    lease_until: datetime | None = Field(default=None, sa_column=Column(UTCDateTime, nullable=True))
    lease_owner: str | None = Field(default=None, sa_column=Column(String(64), nullable=True))
