"""FastAPI dependencies that turn `Authorization: Bearer ...` into a Principal."""

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.ext.asyncio import AsyncSession

from services.accounts import service as accounts
from services.clinics import service as clinics
from services.core.config import Settings
from services.core.db import get_session
from services.core.errors import Unauthorized
from services.core.principal import Principal, authorize

# auto_error=False: a missing header must be our 401 problem, not FastAPI's 403.
_bearer = HTTPBearer(
    auto_error=False,
    description="A clinic key (sk_... or pk_...) or a user access token from POST /v1/auth/token",
)

Session = Annotated[AsyncSession, Depends(get_session, scope="function")]
BearerCredentials = Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]


def client_address(request: Request) -> str:
    """The client's address; behind a trusted proxy (FORWARDED_ALLOW_IPS), the one it reports."""
    return request.client.host if request.client else "-"


async def authenticate(session: AsyncSession, settings: Settings, token: str) -> Principal:
    """A clinic key (sk_..., pk_...) or a user's access token, as the caller it stands for."""
    if token.startswith(("sk_", "pk_")):
        return await clinics.authenticate_key(session, settings, token)
    return await accounts.authenticate_token(session, settings, token)


def require(scope: str | None = None) -> Callable[..., Awaitable[Principal]]:
    """Dependency: valid credentials holding `scope` (None: any secret key or user)."""

    async def dependency(
        request: Request,
        session: Session,
        credentials: BearerCredentials,
    ) -> Principal:
        if credentials is None or credentials.scheme.lower() != "bearer":
            raise Unauthorized("send Authorization: Bearer <key or token>")
        principal = await authenticate(session, request.app.state.settings, credentials.credentials)
        own_origin = str(request.base_url).rstrip("/").lower()
        authorize(principal, scope, request.headers.get("origin"), own_origin)
        return principal

    return dependency
