"""Who is calling, and what they may do: the Principal every endpoint receives, and the scope
and origin checks shared by all of them."""

import re
import uuid
from dataclasses import dataclass
from typing import Literal

from services.core.errors import Forbidden, Unprocessable

_ORIGIN = re.compile(r"^https?://[a-z0-9.-]+(?::\d{1,5})?$")
_DEFAULT_PORTS = {"http": ":80", "https": ":443"}


@dataclass(frozen=True)
class Principal:
    """Who is calling, for which clinic, allowed to do what."""

    clinic_id: uuid.UUID
    kind: Literal["secret", "publishable", "user", "system"]  # system: Backstride itself (re-triage)
    scopes: frozenset[str]
    allowed_origins: tuple[str, ...] = ()
    key_id: uuid.UUID | None = None
    user_id: uuid.UUID | None = None
    # What the audit trail shows: an email, or a key's public prefix.
    label: str = ""


def normalise_origin(origin: str) -> str:
    """scheme://host[:port], lower case, without a trailing slash or the scheme's default port."""
    origin = origin.strip().rstrip("/").lower()
    if not _ORIGIN.match(origin):
        raise Unprocessable(f"not an origin (scheme://host[:port]): {origin!r}")
    return origin.removesuffix(_DEFAULT_PORTS[origin.split(":", 1)[0]])


def authorize(principal: Principal, scope: str | None, origin: str | None, own_origin: str | None = None) -> None:
    """Scope and origin checks, shared by every protected endpoint (scope None: any secret key or user).

    A publishable key's requests may come from the clinic's allowed origins, or from this
    service's own origin: the embedded form's iframe, which only allowed origins can frame.
    """
    if principal.kind == "publishable":
        if scope is None or scope not in principal.scopes:
            raise Forbidden("a publishable key cannot be used for this operation")
        allowed = principal.allowed_origins + ((own_origin,) if own_origin else ())
        if origin is not None and not _origin_allowed(origin, allowed):
            raise Forbidden("this origin is not allowed to use the key")
    elif scope is not None and scope not in principal.scopes:
        raise Forbidden(f"this operation needs the {scope} scope")


def _origin_allowed(origin: str, allowed: tuple[str, ...]) -> bool:
    try:
        return normalise_origin(origin) in allowed
    except Unprocessable:  # "null" (sandboxed frames, file://) or garbage is never allowed
        return False
