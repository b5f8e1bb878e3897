"""Logging in: access tokens for physios and clinic admins."""

from typing import Annotated

from fastapi import APIRouter, Form, Request, Response

from services.accounts import service
from services.accounts.schemas import TokenOut
from services.core.auth import BearerCredentials, Session, client_address
from services.core.errors import Unauthorized, responses

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
    short-lived bearer token naming a new session. Failures answer 401 without saying whether the
    email exists. Failed logins delay further attempts, by client address and by account, with
    delays that double (429 with Retry-After); a stranger's failures from elsewhere do not keep
    the real user out for long."""
    settings = request.app.state.settings
    return await service.issue_token(session, settings, username, password, client_address(request))


@auth_router.post("/logout", status_code=204, response_class=Response, responses=responses(401, 503))
async def logout(request: Request, session: Session, credentials: BearerCredentials) -> Response:
    """End the session of the bearer token (from `POST /v1/auth/token`): the token stops working at once."""
    settings = request.app.state.settings
    if credentials is None or not await service.logout(session, settings, credentials.credentials):
        raise Unauthorized("send the access token whose session is to end")
    return Response(status_code=204)
