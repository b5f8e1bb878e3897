"""Shared API shapes: clinics, keys and pieces every service reuses."""

import uuid
from datetime import datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints


def _plain_text(value: str) -> str:
    # NUL is refused by PostgreSQL text/JSONB and lone surrogates cannot be stored as UTF-8:
    # both must be a 422 here, not a database error later.
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ValueError("must be valid Unicode text") from exc
    return value


# Free text that can be stored on both databases; lengths are per field.
PlainText = AfterValidator(_plain_text)
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100), PlainText]
Note1000 = Annotated[str, StringConstraints(strip_whitespace=True, max_length=1000), PlainText]
Note2000 = Annotated[str, StringConstraints(strip_whitespace=True, max_length=2000), PlainText]


class StrictModel(BaseModel):
    """Request bodies: unknown fields are an error, not silently dropped."""

    model_config = ConfigDict(extra="forbid")


class PageQuery(StrictModel):
    """Query parameters of a paginated list; unknown parameters are a 422, not ignored."""

    limit: int = Field(default=50, ge=1, le=100, description="Page size, at most 100")
    cursor: str | None = Field(
        default=None, min_length=1, max_length=500, description="`next_cursor` of the previous page"
    )


class ClinicCreated(BaseModel):
    clinic_id: uuid.UUID
    slug: str
    secret_key: str
    publishable_key: str


Role = Literal["physio", "clinic_admin"]


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


class TokenOut(BaseModel):
    access_token: str
    token_type: Literal["bearer"]
    expires_in: int = Field(description="Seconds until the token expires")
