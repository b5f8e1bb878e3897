"""One-time links to set a password (an invitation, or a reset): made, found and used up. Only
a hash of the link's token is stored; a link works once, until it expires."""

import asyncio
import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from services.accounts import security
from services.accounts.models import Invitation, User
from services.accounts.repository import InvitationRepository
from services.core.db import utcnow
from services.core.errors import NotFound

LINK_LIFETIME = timedelta(hours=72)


class InvalidLink(NotFound):
    """Unknown, used, expired, or its account disabled: one answer for all."""

    title, slug = "Link not valid", "link-not-valid"

    def __init__(self) -> None:
        super().__init__("this link has expired or has been used")


@dataclass(frozen=True)
class Link:
    """A one-time link's token, shown or sent once: only its hash is stored."""

    user: User
    token: str
    expires_at: datetime


def token_hash(token: str) -> str:
    return hashlib.sha256(f"link:{token}".encode()).hexdigest()


async def unusable_hash() -> str:
    # A real argon2 hash of a secret nobody knows: logging in as someone who has not set a
    # password takes as long as with any other account, and cannot succeed.
    return await asyncio.to_thread(security.hash_password, secrets.token_urlsafe(32))


async def issue(session: AsyncSession, user: User, purpose: str) -> Link:
    repo = InvitationRepository(session)
    await repo.drop_open(user.id)  # the newest link is the only one that works
    token, now = secrets.token_urlsafe(32), utcnow()
    await repo.add(
        Invitation(clinic_id=user.clinic_id, user_id=user.id, purpose=purpose, token_hash=token_hash(token),
                   created_at=now, expires_at=now + LINK_LIFETIME)
    )  # fmt: skip
    return Link(user, token, now + LINK_LIFETIME)
