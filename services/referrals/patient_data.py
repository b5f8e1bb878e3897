"""A patient's referrals for the data-rights requests: gathered with their audit trails for
an export, or erased down to de-identified statistics."""

import uuid
from collections import defaultdict
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from services.core.db import utcnow
from services.core.errors import Gone
from services.core.principal import Principal
from services.referrals import audit
from services.referrals.repository import ReferralRepository
from services.referrals.schemas import EventOut, ReferralOut
from services.referrals.views import to_out


class ReferralErased(Gone):
    title, slug = "Referral erased", "referral-erased"


def erased_triage(triage: dict[str, Any]) -> dict[str, Any]:
    """What is kept of a triage result: the urgency and which rules (of which ruleset version)
    set it. Reasons, advice and citations go: they describe the person's answers in words."""
    return {
        "erased": True,
        "ruleset_version": triage["ruleset_version"],
        "urgency": triage["urgency"],
        "rules": [reason["rule"] for reason in triage.get("reasons", [])],
    }


async def for_intakes(session: AsyncSession, clinic_id: uuid.UUID, intake_ids: list[uuid.UUID]) -> list[ReferralOut]:
    """The referrals of these intakes as they are now (not an audited read: the caller records why)."""
    now = utcnow()
    return [to_out(r, now) for r in await ReferralRepository(session, clinic_id).for_intakes(intake_ids)]


async def current_many(
    session: AsyncSession, clinic_id: uuid.UUID, referral_ids: list[uuid.UUID]
) -> dict[uuid.UUID, ReferralOut]:
    """These referrals as they are now, by id, in one query (the export worker's batch; not an
    audited read). Another clinic's ids are not found."""
    now = utcnow()
    return {r.id: to_out(r, now) for r in await ReferralRepository(session, clinic_id).by_ids(referral_ids)}


async def trails(
    session: AsyncSession, clinic_id: uuid.UUID, referral_ids: list[uuid.UUID]
) -> dict[uuid.UUID, list[EventOut]]:
    """Each referral's whole audit trail, oldest first."""
    found: dict[uuid.UUID, list[EventOut]] = defaultdict(list)
    for event in await ReferralRepository(session, clinic_id).all_events(referral_ids):
        found[event.referral_id].append(audit.event_out(event))
    return {referral_id: found[referral_id] for referral_id in referral_ids}


async def record_exported(
    session: AsyncSession, principal: Principal, referral_ids: list[uuid.UUID], now: datetime
) -> None:
    repo = ReferralRepository(session, principal.clinic_id)
    for referral_id in referral_ids:
        await repo.add_event(audit.event(referral_id, principal, "exported", now))


async def erase(
    session: AsyncSession, principal: Principal, referral_ids: list[uuid.UUID], reason: str, now: datetime
) -> tuple[list[uuid.UUID], int]:
    """Close the referrals, keep only statistics of their triage, remove every note on their
    audit trails and record the erasure with its reason. Returns the referrals erased (not
    those erased before) and how many notes were removed.

    The referrals are updated first: on PostgreSQL that locks them, so a note being added at
    the same moment is either committed before its removal or refused afterwards (add_note
    share-locks the referral). No export is queued: the erasure is not sent anywhere."""
    repo = ReferralRepository(session, principal.clinic_id)
    was: dict[uuid.UUID, str] = {}
    for referral_id in referral_ids:
        referral = await repo.get(referral_id)
        if referral is None or referral.erased_at is not None:
            continue
        status = referral.status
        # None: another erasure of the same referral committed first (PostgreSQL re-checks the row).
        if await repo.erase(referral_id, erased_triage(referral.triage), now) is not None:
            was[referral_id] = status
    removed = await repo.clear_notes(list(was))
    for referral_id, status in was.items():
        erased = audit.event(referral_id, principal, "erased", now, from_status=status, to_status="closed", note=reason)
        await repo.add_event(erased)
    return list(was), removed
