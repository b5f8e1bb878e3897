"""Referrals: one per intake, worked by physios through the queue."""

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Column, Index, SmallInteger, String
from sqlmodel import Field, SQLModel

from services.core.db import JSONType, UTCDateTime, utcnow


class Referral(SQLModel, table=True):
    __tablename__ = "referrals"
    __table_args__ = (
        # The queue's order: urgency first, then age, within one clinic.
        Index("ix_referrals_queue", "clinic_id", "urgency_rank", "created_at", "id"),
    )

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    clinic_id: uuid.UUID = Field(foreign_key="clinics.id", ondelete="CASCADE")
    intake_id: uuid.UUID = Field(foreign_key="intakes.id", unique=True, ondelete="CASCADE")
    urgency: str = Field(sa_column=Column(String(16), nullable=False))
    # 0 = emergency ... 3 = self_care, so the queue sorts on an index.
    urgency_rank: int = Field(sa_column=Column(SmallInteger, nullable=False))
    status: str = Field(default="new", sa_column=Column(String(16), nullable=False))
    assignee_id: uuid.UUID | None = Field(default=None)
    focus_areas: list[str] = Field(default_factory=list, sa_column=Column(JSONType, nullable=False))
    # The whole TriageResult as given at intake time, with its ruleset_version.
    triage: dict[str, Any] = Field(sa_column=Column(JSONType, nullable=False))
    ruleset_version: str = Field(sa_column=Column(String(32), nullable=False))
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime, nullable=False))
    updated_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime, nullable=False))
    due_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    version: int = Field(default=1, nullable=False)
