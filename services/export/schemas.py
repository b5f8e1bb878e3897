"""Export shapes: a clinic's FHIR destination and the outbox items."""

import uuid
from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, Field, StrictBool, StringConstraints, model_validator

from services.core.schemas import PageQuery, StrictModel

ExportStatus = Literal["pending", "delivered", "dead"]
ExportEvent = Literal["referral.created", "referral.status_changed", "referral.retriaged", "referral.urgency_changed"]
BaseUrl = Annotated[
    str, StringConstraints(max_length=500, pattern=r"^https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?(/[!-~]*)?$")
]


class AuthIn(StrictModel):
    type: Literal["none", "bearer"]
    token: Annotated[str, StringConstraints(min_length=1, max_length=4000, pattern=r"^[\x21-\x7e]+$")] | None = None

    @model_validator(mode="after")
    def _token_with_bearer(self) -> "AuthIn":
        if (self.type == "bearer") != (self.token is not None):
            raise ValueError("a token is given with type bearer, and only then")
        return self


class IntegrationIn(StrictModel):
    base_url: BaseUrl = Field(description="The FHIR server's base; transaction Bundles are POSTed to it")
    auth: AuthIn
    enabled: StrictBool


class AuthOut(BaseModel):
    type: Literal["none", "bearer"]
    token_set: bool = Field(description="Whether a token is stored; the token itself is never shown")


class IntegrationOut(BaseModel):
    base_url: str
    auth: AuthOut
    enabled: bool
    updated_at: datetime


class ExportItemOut(BaseModel):
    id: uuid.UUID
    referral_id: uuid.UUID
    event: ExportEvent
    status: ExportStatus
    attempts: int
    last_error: str | None
    next_attempt_at: datetime | None = Field(description="When the next try is due (pending items only)")
    delivered_at: datetime | None
    created_at: datetime


class ExportPage(BaseModel):
    items: list[ExportItemOut]
    next_cursor: str | None


class ExportQuery(PageQuery):
    status: ExportStatus | None = None
