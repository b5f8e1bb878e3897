"""Export shapes: a clinic's FHIR destination and the outbox items."""

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, StrictBool, StringConstraints, model_validator

from services.core.schemas import PageQuery, StrictModel

ExportStatus = Literal["pending", "delivered", "dead"]
ExportEvent = Literal["referral.created", "referral.status_changed", "referral.retriaged", "referral.urgency_changed"]
BaseUrl = Annotated[
    str, StringConstraints(max_length=500, pattern=r"^https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?(/[!-~]*)?$")
]


AuthType = Literal["none", "bearer", "smart_backend"]
SigningAlgorithm = Literal["RS384", "ES384"]
Printable = Annotated[str, StringConstraints(min_length=1, max_length=255, pattern=r"^[\x21-\x7e]+$")]
# A URI, without the characters FHIR search escapes (servers that mishandle the escapes would
# search for another identifier than the clinic's).
IdentifierSystem = Annotated[str, StringConstraints(max_length=255, pattern=r"^[A-Za-z][A-Za-z0-9+.-]*:[^\s|\\,$]+$")]
Scope = Annotated[str, StringConstraints(min_length=1, max_length=1000, pattern=r"^[\x21-\x7e]+( [\x21-\x7e]+)*$")]
SMART_FIELDS = ("token_url", "client_id", "scope")


class AuthIn(StrictModel):
    type: AuthType
    token: Annotated[str, StringConstraints(min_length=1, max_length=4000, pattern=r"^[\x21-\x7e]+$")] | None = None
    token_url: BaseUrl | None = Field(default=None, description="smart_backend: the EHR's OAuth 2.0 token endpoint")
    client_id: Printable | None = Field(default=None, description="smart_backend: Backstride's client id at the EHR")
    scope: Scope | None = Field(
        default=None, description="smart_backend: the scopes asked for, e.g. system/ServiceRequest.write ..."
    )
    algorithm: SigningAlgorithm | None = Field(
        default=None, description="smart_backend: how client assertions are signed (RS384 unless ES384)"
    )

    @model_validator(mode="after")
    def _fields_of_the_type(self) -> "AuthIn":
        if (self.type == "bearer") != (self.token is not None):
            raise ValueError("a token is given with type bearer, and only then")
        smart = [getattr(self, name) for name in SMART_FIELDS]
        if self.type == "smart_backend" and None in smart:
            raise ValueError("type smart_backend needs token_url, client_id and scope")
        if self.type != "smart_backend" and (any(v is not None for v in smart) or self.algorithm):
            raise ValueError("token_url, client_id, scope and algorithm are given with type smart_backend only")
        return self


class IntegrationIn(StrictModel):
    base_url: BaseUrl = Field(description="The FHIR server's base; transaction Bundles are POSTed to it")
    auth: AuthIn
    enabled: StrictBool
    mrn_system: IdentifierSystem | None = Field(
        default=None,
        description="The URI of the clinic's MRNs in its EHR (an OID as urn:oid:..., or https://...): the "
        "MRNs of intakes from the EHR or staff go out under it, so the EHR's patient is found. "
        "Without it they go out under Backstride's own system for the clinic.",
    )


class AuthOut(BaseModel):
    type: AuthType
    token_set: bool = Field(description="Whether a token is stored; the token itself is never shown")
    token_url: str | None = None
    client_id: str | None = None
    scope: str | None = None
    algorithm: SigningAlgorithm | None = None
    jwks_url: str | None = Field(
        default=None, description="smart_backend: Backstride's public keys, to register with the EHR"
    )


class IntegrationOut(BaseModel):
    base_url: str
    auth: AuthOut
    enabled: bool
    mrn_system: str | None
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


class Jwks(BaseModel):
    keys: list[dict[str, Any]] = Field(
        description="Public keys (RS384 RSA and ES384 P-384), each with kid, alg, use 'sig'; never a private part"
    )


class ConnectionTest(BaseModel):
    """How a test request to the clinic's FHIR server went, in the export's words."""

    connected: bool
    message: str = Field(description='"connected (FHIR 4.0.1, ...)", "HTTP 401: ...", "could not connect", "timed out"')
