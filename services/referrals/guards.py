"""The queue's errors and the checks several of its operations share: finding a referral in the
caller's clinic, and optimistic concurrency (ETag / If-Match, RFC 9110)."""

import re
import uuid

from services.core.errors import Conflict, Forbidden, NotFound, PreconditionFailed, PreconditionRequired
from services.referrals.models import Referral
from services.referrals.repository import ReferralRepository


class ReferralNotFound(NotFound):
    title, slug = "Referral not found", "referral-not-found"


class ReferralClaimed(Conflict):
    title, slug = "Referral claimed", "referral-claimed"


class IllegalTransition(Conflict):
    title, slug = "Illegal transition", "illegal-transition"


class StaleVersion(PreconditionFailed):
    title, slug = "Stale version", "stale-version"


class IfMatchRequired(PreconditionRequired):
    title, slug = "If-Match required", "if-match-required"


class NeedsUser(Forbidden):
    title, slug = "A user must do this", "needs-user"


def etag(version: int) -> str:
    return f'"{version}"'


_ETAG = re.compile(r'(?:W/)?"?([0-9]{1,18})"?')


def _matches(if_match: str, version: int) -> bool:
    """RFC 9110 If-Match: `*` or a list of ETags, one of which must be the current one."""
    tags = [tag.strip() for tag in if_match.split(",")]
    if "*" in tags:
        return True
    return any((m := _ETAG.fullmatch(tag)) is not None and int(m.group(1)) == version for tag in tags)


async def fetch(repo: ReferralRepository, referral_id: uuid.UUID) -> Referral:
    """The clinic's referral; another clinic's id is not found, like a made-up one."""
    referral = await repo.get(referral_id)
    if referral is None:
        raise ReferralNotFound(f"no referral {referral_id}")
    return referral


def check_version(referral: Referral, if_match: str | None) -> None:
    """428 without If-Match, 412 when it is not the referral's current ETag."""
    if if_match is None:
        raise IfMatchRequired(f"send If-Match: {etag(referral.version)} (the ETag you last read)")
    if not _matches(if_match, referral.version):
        raise StaleVersion(f"the referral changed; it is now at {etag(referral.version)}")
