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
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime, nullable=False))
    disabled_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime, nullable=True))


class AuthSession(SQLModel, table=True):
    """One login: every access token (API) and UI cookie names its session, so ending the
    session (logout, a new password, a new role, a disabled account) ends the token at once."""

    __tablename__ = "auth_sessions"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    user_id: uuid.UUID = Field(foreign_key="users.id", index=True, ondelete="CASCADE")
    kind: str = Field(sa_column=Column(String(8), nullable=False))  # "api" | "ui"
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime, nullable=False))
    expires_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    revoked_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime, nullable=True))


class LoginThrottle(SQLModel, table=True):
    """Failed logins counted by address, by account, and by account from one address (HMAC keys),
    shared by every API process."""

    __tablename__ = "login_throttle"

    key: str = Field(sa_column=Column(String(64), primary_key=True))
    failures: int = Field(nullable=False)
    last_failure_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    blocked_until: datetime | None = Field(default=None, sa_column=Column(UTCDateTime, nullable=True))


class Invitation(SQLModel, table=True):
    """A one-time link to set a password: an admin's invitation, or a reset. Only a hash of the
    link's token is kept; the link works once, until it expires."""

    __tablename__ = "invitations"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    clinic_id: uuid.UUID = Field(foreign_key="clinics.id", index=True, ondelete="CASCADE")
    user_id: uuid.UUID = Field(foreign_key="users.id", index=True, ondelete="CASCADE")
    purpose: str = Field(sa_column=Column(String(8), nullable=False))  # "invite" | "reset"
    # SHA-256 of the token: it is 256-bit random, so a slow hash adds nothing.
    token_hash: str = Field(sa_column=Column(String(64), nullable=False, unique=True))
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime, nullable=False))
    expires_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    used_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime, nullable=True))
