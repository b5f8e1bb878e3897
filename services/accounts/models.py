"""Physios and clinic admins: the people who log in."""

import uuid
from datetime import datetime

from sqlalchemy import Column, String
from sqlmodel import Field, SQLModel

from services.core.db import UTCDateTime, utcnow


class User(SQLModel, table=True):
    """A physio or clinic admin; logs in with email and password."""

    __tablename__ = "users"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    clinic_id: uuid.UUID = Field(foreign_key="clinics.id", index=True, ondelete="CASCADE")
    # Stored lower-cased; unique across clinics because login names no clinic.
    email: str = Field(sa_column=Column(String(254), nullable=False, unique=True))
    role: str = Field(sa_column=Column(String(16), nullable=False))  # "physio" | "clinic_admin"
    password_hash: str = Field(sa_column=Column(String(200), nullable=False))
    failed_logins: int = Field(default=0, nullable=False)
    locked_until: datetime | None = Field(default=None, sa_column=Column(UTCDateTime, nullable=True))
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime, nullable=False))
    disabled_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime, nullable=True))
