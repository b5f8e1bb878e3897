"""FastAPI dependencies that turn `Authorization: Bearer ...` into a Principal."""

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.ext.asyncio import AsyncSession

from services.core import service
from services.core.db import get_session
from services.core.errors import Unauthorized
from services.core.service import Principal

# auto_error=False: a missing header must be our 401 problem, not FastAPI's 403.
_bearer = HTTPBearer(
    auto_error=False,
    description="A clinic key (sk_... or pk_...) or a user access token from POST /v1/auth/token",
)

Session = Annotated[AsyncSession, Depends(get_session, scope="function")]


def require(scope: str | None = None) -> Callable[..., Awaitable[Principal]]:
    """Dependency: valid credentials holding `scope` (None: any secret key or user)."""

    async def dependency(
        request: Request,
        session: Session,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    ) -> Principal:
        if credentials is None or credentials.scheme.lower() != "bearer":
            raise Unauthorized("send Authorization: Bearer <key or token>")
        principal = await service.authenticate(session, request.app.state.settings, credentials.credentials)
        own_origin = str(request.base_url).rstrip("/").lower()
        service.authorize(principal, scope, request.headers.get("origin"), own_origin)
        return principal

    return dependency
