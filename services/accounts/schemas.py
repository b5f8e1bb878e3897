"""Account shapes: roles and access tokens."""

import uuid
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

Role = Literal["physio", "clinic_admin"]


class TokenOut(BaseModel):
    access_token: str
    token_type: Literal["bearer"]
    expires_in: int = Field(description="Seconds until the token expires")


class ClinicUser(BaseModel):
    """A user as the clinic admin sees them."""

    id: uuid.UUID
    email: str
    role: Role
    created_at: datetime
    disabled: bool
    link_expires_at: datetime | None = Field(description="When their unused invitation or reset link expires")
