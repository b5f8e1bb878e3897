"""Clinic shapes: the clinic, its allowed origins and its keys."""

import uuid
from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, Field, StringConstraints

from services.core.schemas import StrictModel


class ClinicCreated(BaseModel):
    clinic_id: uuid.UUID
    slug: str
    secret_key: str
    publishable_key: str


class ClinicOut(BaseModel):
    id: uuid.UUID
    slug: str
    name: str
    allowed_origins: list[str]
    created_at: datetime


class OriginsIn(StrictModel):
    allowed_origins: list[
        Annotated[str, StringConstraints(max_length=300, pattern=r"^https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?/?$")]
    ] = Field(max_length=50, description="Origins (scheme://host[:port]) allowed to use the publishable keys")


class KeyIn(StrictModel):
    kind: Literal["secret", "publishable"]


class KeyOut(BaseModel):
    id: uuid.UUID
    kind: Literal["secret", "publishable"]
    prefix: str = Field(description="The key's first characters, to recognise it")
    scopes: list[str]
    created_at: datetime
    revoked_at: datetime | None


class KeyCreated(KeyOut):
    key: str = Field(description="The whole key. Shown only in this response; store it now.")


class KeyList(BaseModel):
    items: list[KeyOut]
    next_cursor: str | None = None


class AdminEventOut(BaseModel):
    actor: str = Field(description="The admin's email (or a key's prefix) at the time")
    action: str
    target: str
    at: datetime
