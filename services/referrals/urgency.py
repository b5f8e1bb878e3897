"""Changing a referral's urgency after it was made: re-triage under a new ruleset (SPEC §5a),
and a person's override.

Re-triage never makes a referral less urgent by itself: a new result more urgent in urgency,
pathway or due time escalates it (taking the more urgent of old and new in each, so due_at
never moves later); a result less urgent in any way and more urgent in none is only suggested,
for a person to act on with an override.
"""

import uuid
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any, Literal, get_args

from sqlalchemy.ext.asyncio import AsyncSession

from services.core import events
from services.core.db import utcnow
from services.core.errors import Conflict, Forbidden, Unprocessable
from services.core.events import ReferralChanged
from services.core.principal import Principal
from services.referrals import audit
from services.referrals.guards import StaleVersion, check_version, fetch
from services.referrals.models import Referral
from services.referrals.repository import ReferralRepository
from services.referrals.schemas import URGENCY_RANK, ReferralOut, UrgencyIn
from services.referrals.views import to_out
from services.triage.schemas import PATHWAY_DUE_HOURS, USUAL_PATHWAY, Pathway, TriageResult, Urgency

PATHWAY_RANK = {p: i for i, p in enumerate(get_args(Pathway))}  # emergency_department first
# The pathways each urgency may take (SPEC §5).
PATHWAYS_OF: dict[Urgency, tuple[Pathway, ...]] = {
    "emergency": ("emergency_department",),
    "urgent": ("same_day_medical", "urgent_medical"),
    "routine": ("medical_review", "physiotherapy"),
    "self_care": ("self_management",),
}
# A person's change is for referrals still being worked; closed and declined ones are history.
CHANGEABLE = ("new", "in_review", "accepted", "scheduled")

Outcome = Literal["escalated", "suggested", "unchanged", "skipped"]


class UrgencyNotChangeable(Conflict):
    title, slug = "Urgency cannot change", "urgency-not-changeable"


class PathwayNotOfUrgency(Unprocessable):
    title, slug = "Pathway does not fit the urgency", "pathway-not-of-urgency"


class NeedsPerson(Forbidden):
    title, slug = "A person must do this", "needs-person"


def system(clinic_id: uuid.UUID, ruleset_version: str) -> Principal:
    """Backstride itself on the audit trail, re-triaging under a ruleset."""
    return Principal(clinic_id=clinic_id, kind="system", scopes=frozenset(), label=f"re-triage ({ruleset_version})")


def _setting(referral: Referral) -> dict[str, Any]:
    return {
        "urgency": referral.urgency,
        "pathway": referral.pathway,
        "due_at": referral.due_at.isoformat(),
        "ruleset_version": referral.ruleset_version,
    }


def _more_urgent(a: str, b: str, rank: Mapping[Any, int]) -> str:
    return a if rank[a] <= rank[b] else b


async def apply_retriage(
    session: AsyncSession, clinic_id: uuid.UUID, referral: Referral, result: TriageResult, now: datetime
) -> Outcome:
    """Apply a new ruleset's result to an open referral (read by the caller): escalate, suggest, or
    record it unchanged. "skipped": another process got there first (or the referral changed)."""
    repo = ReferralRepository(session, clinic_id)
    due = referral.created_at + timedelta(hours=result.due_within_hours)
    # Urgency, pathway and due time, each compared: smaller is more urgent.
    pairs = [
        (URGENCY_RANK[result.urgency], URGENCY_RANK[referral.urgency]),  # type: ignore[index]
        (PATHWAY_RANK[result.pathway], PATHWAY_RANK[referral.pathway]),
        (due.timestamp(), referral.due_at.timestamp()),
    ]
    more = any(new < old for new, old in pairs)
    less = any(new > old for new, old in pairs)
    principal = system(clinic_id, result.ruleset_version)
    before = _setting(referral)
    if less and not more:
        marked = await repo.retriaged(referral, result.ruleset_version, bump=False)
        if marked is None:
            return "skipped"
        detail = {"from": before, "suggested": result.model_dump(mode="json")}
        await repo.add_event(audit.event(referral.id, principal, "retriage_suggested", now, detail=detail))
        return "suggested"
    urgency = _more_urgent(referral.urgency, result.urgency, URGENCY_RANK)
    changed = await repo.retriaged(
        referral,
        result.ruleset_version,
        bump=True,
        urgency=urgency,
        urgency_rank=URGENCY_RANK[urgency],  # type: ignore[index]
        pathway=_more_urgent(referral.pathway, result.pathway, PATHWAY_RANK),
        due_at=min(referral.due_at, due),
        triage=result.model_dump(mode="json"),
        ruleset_version=result.ruleset_version,
        focus_areas=[f.code for f in result.focus_areas],
        updated_at=now,
    )
    if changed is None:
        return "skipped"
    detail = {"from": before, "to": _setting(changed)}
    await repo.add_event(audit.event(changed.id, principal, "retriaged", now, detail=detail))
    if more:
        escalated = ReferralChanged(clinic_id, changed.id, "referral.retriaged", now, changed.urgency)
        await events.publish(session, escalated)
        return "escalated"
    return "unchanged"


async def change_urgency(
    session: AsyncSession, principal: Principal, referral_id: uuid.UUID, body: UrgencyIn, if_match: str | None
) -> ReferralOut:
    """A physio's or clinic admin's urgency (SPEC §5a): pathway defaults to the urgency's usual one,
    due_at = now + that pathway's due time; recorded with who, from, to and why, and exported."""
    if principal.kind != "user":
        raise NeedsPerson("an urgency is changed by a physio or clinic admin, not a key")
    pathway = body.pathway or USUAL_PATHWAY[body.urgency]
    if pathway not in PATHWAYS_OF[body.urgency]:
        raise PathwayNotOfUrgency(f"{pathway} is not a pathway of {body.urgency}")
    repo = ReferralRepository(session, principal.clinic_id)
    referral = await fetch(repo, referral_id)
    check_version(referral, if_match)
    if referral.status not in CHANGEABLE or referral.erased_at is not None:
        raise UrgencyNotChangeable(f"the referral is {referral.status.replace('_', ' ')}; its urgency stays")
    now = utcnow()
    before = _setting(referral)
    override = {
        "by": principal.label,
        "at": now.isoformat(),
        "from": {"urgency": referral.urgency, "pathway": referral.pathway},
        "to": {"urgency": body.urgency, "pathway": pathway},
        "reason": body.reason,
    }
    changed = await repo.set_urgency(
        referral.id,
        referral.version,
        urgency=body.urgency,
        urgency_rank=URGENCY_RANK[body.urgency],
        pathway=pathway,
        due_at=now + timedelta(hours=PATHWAY_DUE_HOURS[pathway]),
        urgency_override=override,
        updated_at=now,
    )
    if changed is None:
        raise StaleVersion("the referral changed while this request was made; read it again")
    detail = {"from": before, "to": _setting(changed)}
    await repo.add_event(audit.event(changed.id, principal, "urgency_changed", now, note=body.reason, detail=detail))
    change = ReferralChanged(principal.clinic_id, changed.id, "referral.urgency_changed", now, changed.urgency)
    await events.publish(session, change)
    return to_out(changed, now)
