"""Intakes: a runner's answers, stored as accepted."""

import uuid
from datetime import date, datetime
from typing import Any

from sqlalchemy import Column, Date, Index, String, UniqueConstraint
from sqlmodel import Field, SQLModel

from services.core.db import JSONType, UTCDateTime, utcnow


class Intake(SQLModel, table=True):
    __tablename__ = "intakes"
    __table_args__ = (
        UniqueConstraint("clinic_id", "idempotency_key"),
        # A QuestionnaireResponse's identifier: a conditional create finds the intake it made.
        Index("ix_intakes_response_identifier", "clinic_id", "response_identifier", unique=True),
    )

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    # No index of its own: the unique (clinic_id, idempotency_key) index leads with it.
    clinic_id: uuid.UUID = Field(foreign_key="clinics.id", ondelete="CASCADE")
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime, nullable=False))
    idempotency_key: str | None = Field(default=None, sa_column=Column(String(200), nullable=True))
    # SHA-256 of the canonical body, to tell a retry from a reused key.
    request_hash: str | None = Field(default=None, sa_column=Column(String(64), nullable=True))
    # The validated body (patient, consent, answers, notes); once erased, only {"erased": true}.
    answers: dict[str, Any] = Field(sa_column=Column(JSONType, nullable=False))
    # The day the age was taken on for triage (a QuestionnaireResponse's `authored` date, or the
    # day it arrived); None for intakes stored before triage v2, whose day is created_at's.
    intake_date: date | None = Field(default=None, sa_column=Column(Date, nullable=True))
    # How it came: "publishable" (a web form), "secret", "user" or "fhir"; None from before this was kept.
    # Identifiers from a publishable key were typed by whoever filled in a public form.
    submitted_via: str | None = Field(default=None, sa_column=Column(String(16), nullable=True))
    # What a QuestionnaireResponse said beyond its answers (identifier, subject, author, authored).
    fhir_source: dict[str, Any] | None = Field(default=None, sa_column=Column(JSONType, nullable=True))
    # SHA-256 of the response's identifier (system|value): looked up, never shown.
    response_identifier: str | None = Field(default=None, sa_column=Column(String(64), nullable=True))
    erased_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime, nullable=True))
