"""Referrals, one per intake, worked by physios through the queue; and their audit trail."""

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Column, Index, SmallInteger, String, Text, text
from sqlmodel import Field, SQLModel

from services.core.db import JSONType, UTCDateTime, utcnow

OPEN_CONDITION = text("status IN ('new', 'in_review')")
# Open emergency and urgent referrals: the notifier's overdue scan reads them by due time.
OPEN_URGENT_CONDITION = text("status IN ('new', 'in_review') AND urgency_rank <= 1")
# An event that took a referral out of `new`: its claim (the dashboard's time to claim).
CLAIM_EVENT = text("from_status = 'new' AND action IN ('claimed', 'transitioned')")


class Referral(SQLModel, table=True):
    __tablename__ = "referrals"
    __table_args__ = (
        # The queue's order (urgency, then age) within one clinic, for each way it is filtered:
        # unfiltered or by urgency; by status; by assignee.
        Index("ix_referrals_queue", "clinic_id", "urgency_rank", "created_at", "id"),
        Index("ix_referrals_queue_status", "clinic_id", "status", "urgency_rank", "created_at", "id"),
        Index("ix_referrals_queue_assignee", "clinic_id", "assignee_id", "urgency_rank", "created_at", "id"),
        # FHIR search and sync: what changed since when.
        Index("ix_referrals_updated", "clinic_id", "updated_at", "id"),
        # The open queue (new + in review, and so overdue) stays small however many are closed.
        Index(
            "ix_referrals_queue_open",
            "clinic_id",
            "urgency_rank",
            "created_at",
            "id",
            postgresql_where=OPEN_CONDITION,
            sqlite_where=OPEN_CONDITION,
        ),
        Index(
            "ix_referrals_open_urgent_due",
            "due_at",
            postgresql_where=OPEN_URGENT_CONDITION,
            sqlite_where=OPEN_URGENT_CONDITION,
        ),
        # The dashboard's windows of received referrals, read from the index alone on PostgreSQL
        # (its other columns ride along as INCLUDEd, unsearched; SQLite, at its scale, reads the rows).
        Index(
            "ix_referrals_received",
            "clinic_id",
            "created_at",
            postgresql_include=["urgency_rank", "status", "due_at", "id", "focus_areas"],
        ),
        # The dashboard's "overdue now": open referrals by urgency and due time, read from the index alone.
        Index(
            "ix_referrals_open_due",
            "clinic_id",
            "urgency_rank",
            "due_at",
            postgresql_where=OPEN_CONDITION,
            sqlite_where=OPEN_CONDITION,
        ),
    )

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    clinic_id: uuid.UUID = Field(foreign_key="clinics.id", ondelete="CASCADE")
    intake_id: uuid.UUID = Field(foreign_key="intakes.id", unique=True, ondelete="CASCADE")
    urgency: str = Field(sa_column=Column(String(16), nullable=False))
    # 0 = emergency ... 3 = self_care, so the queue sorts on an index.
    urgency_rank: int = Field(sa_column=Column(SmallInteger, nullable=False))
    # Where the person should be seen (SPEC §5 v2); referrals from before v2 have their urgency's usual one.
    pathway: str = Field(sa_column=Column(String(32), nullable=False))
    status: str = Field(default="new", sa_column=Column(String(16), nullable=False))
    assignee_id: uuid.UUID | None = Field(default=None, foreign_key="users.id", ondelete="SET NULL")
    focus_areas: list[str] = Field(default_factory=list, sa_column=Column(JSONType, nullable=False))
    # The whole TriageResult as given at intake time, with its ruleset_version.
    triage: dict[str, Any] = Field(sa_column=Column(JSONType, nullable=False))
    ruleset_version: str = Field(sa_column=Column(String(32), nullable=False))
    # The ruleset an open referral was last re-triaged or checked against (None: ruleset_version).
    rules_checked_version: str | None = Field(default=None, sa_column=Column(String(32), nullable=True))
    # The last urgency a person set: {by, at, from, to, reason}; None while triage's stands.
    urgency_override: dict[str, Any] | None = Field(default=None, sa_column=Column(JSONType, nullable=True))
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime, nullable=False))
    updated_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime, nullable=False))
    due_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    # Bumped on every change; the ETag, checked by If-Match.
    version: int = Field(default=1, nullable=False)
    # When it was declined: a declined referral that is then closed was still never done.
    declined_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime, nullable=True))
    # Set when the patient's data was erased: triage then holds de-identified statistics only.
    erased_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime, nullable=True))


class ReferralEvent(SQLModel, table=True):
    """One line of the audit trail: who did what to a referral, and when (reads included)."""

    __tablename__ = "referral_events"
    __table_args__ = (
        Index("ix_referral_events_referral", "referral_id", "at", "id"),
        # The dashboard's claims by time: one row per claimed referral, however long its trail.
        Index(
            "ix_referral_events_claims",
            "clinic_id",
            "at",
            "referral_id",
            postgresql_where=CLAIM_EVENT,
            sqlite_where=CLAIM_EVENT,
        ),
    )

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    clinic_id: uuid.UUID = Field(foreign_key="clinics.id", ondelete="CASCADE")
    referral_id: uuid.UUID = Field(foreign_key="referrals.id", ondelete="CASCADE")
    at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime, nullable=False))
    actor_type: str = Field(sa_column=Column(String(8), nullable=False))  # "user" | "key" | "system"
    actor_id: uuid.UUID | None = Field(default=None)
    # An email or a key prefix, kept as it was when the event happened.
    actor_label: str = Field(sa_column=Column(String(254), nullable=False))
    # created|viewed|claimed|transitioned|noted|exported|erased|retriaged|retriage_suggested|urgency_changed
    action: str = Field(sa_column=Column(String(32), nullable=False))
    from_status: str | None = Field(default=None, sa_column=Column(String(16), nullable=True))
    to_status: str | None = Field(default=None, sa_column=Column(String(16), nullable=True))
    note: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    # What changed, for re-triage and urgency changes: {from, to} or the suggested result.
    detail: dict[str, Any] | None = Field(default=None, sa_column=Column(JSONType, nullable=True))
