"""Account shapes: roles and access tokens."""

from typing import Literal

from pydantic import BaseModel, Field

Role = Literal["physio", "clinic_admin"]


class TokenOut(BaseModel):
    access_token: str
    token_type: Literal["bearer"]
    expires_in: int = Field(description="Seconds until the token expires")
