"""Logging in: access tokens for physios and clinic admins."""

from typing import Annotated

from fastapi import APIRouter, Form, Request

from services.accounts import service
from services.accounts.schemas import TokenOut
from services.core.auth import Session
from services.core.errors import responses

auth_router = APIRouter(prefix="/v1/auth", tags=["auth"])


@auth_router.post("/token", response_model=TokenOut, responses=responses(401, 413, 422, 429, 503))
async def token(
    request: Request,
    session: Session,
    username: Annotated[str, Form(max_length=254, description="The user's email")],
    password: Annotated[str, Form(max_length=1024)],
    grant_type: Annotated[str | None, Form(pattern="^password$")] = None,
) -> TokenOut:
    """OAuth2 password grant: exchange a physio's or clinic admin's email and password for a
    short-lived bearer token. Failures answer 401 without saying whether the email exists;
    repeated failures lock the account for a while; attempts per account are rate-limited (429)."""
    settings = request.app.state.settings
    request.app.state.limiter.hit("login", username.strip().lower(), settings.rate_limit_logins_per_minute)
    return await service.login(session, settings, username, password)
