"""The referral queue's rules: ordering, claims, the transition table, optimistic
concurrency and the audit trail."""

import uuid
from collections.abc import Callable
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, not_
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from services.core import events
from services.core.db import InsertBatch, utcnow
from services.core.errors import Unprocessable
from services.core.events import ReferralChanged
from services.core.pagination import decode_cursor, page
from services.core.principal import Principal
from services.core.schemas import PageQuery
from services.referrals import audit, repository
from services.referrals.guards import IfMatchRequired as IfMatchRequired
from services.referrals.guards import IllegalTransition as IllegalTransition
from services.referrals.guards import NeedsUser as NeedsUser
from services.referrals.guards import ReferralClaimed as ReferralClaimed
from services.referrals.guards import ReferralNotFound as ReferralNotFound
from services.referrals.guards import StaleVersion as StaleVersion
from services.referrals.guards import check_version, fetch
from services.referrals.guards import etag as etag
from services.referrals.models import Referral
from services.referrals.patient_data import ReferralErased as ReferralErased
from services.referrals.patient_data import current_many as current_many
from services.referrals.patient_data import erase as erase
from services.referrals.patient_data import for_intakes as for_intakes
from services.referrals.patient_data import record_exported as record_exported
from services.referrals.patient_data import trails as trails
from services.referrals.repository import ReferralRepository
from services.referrals.schemas import (
    OPEN_STATUSES,
    TRANSITIONS,
    URGENCY_RANK,
    EventOut,
    EventPage,
    QueueQuery,
    ReferralOut,
    ReferralPage,
    Status,
)
from services.referrals.stats import ClaimCounts, ClaimTimes, OpenCounts, ReferralStatsRepository
from services.referrals.urgency import apply_retriage as apply_retriage
from services.referrals.urgency import change_urgency as change_urgency
from services.referrals.views import to_out as to_out
from services.triage.schemas import TriageResult, Urgency


async def open_referral(
    session: AsyncSession,
    principal: Principal,
    intake_id: uuid.UUID,
    triage: TriageResult,
    now: datetime,
    batch: InsertBatch | None = None,
) -> Referral:
    """Create the `new` referral for an intake, due within the triage's due time (SPEC §5, §6).
    The referral and its first event go in `batch` (with the intake, when it is there), sent
    in one round trip before the change is published."""
    referral = Referral(
        clinic_id=principal.clinic_id,
        intake_id=intake_id,
        urgency=triage.urgency,
        urgency_rank=URGENCY_RANK[triage.urgency],
        pathway=triage.pathway,
        focus_areas=[f.code for f in triage.focus_areas],
        triage=triage.model_dump(mode="json"),
        ruleset_version=triage.ruleset_version,
        created_at=now,
        updated_at=now,
        due_at=now + timedelta(hours=triage.due_within_hours),
    )
    batch = batch or InsertBatch()
    event = audit.event(referral.id, principal, "created", now, to_status="new")
    ReferralRepository(session, principal.clinic_id).stage(batch, referral, event)
    await batch.send(session)
    created = ReferralChanged(principal.clinic_id, referral.id, "referral.created", now, referral.urgency)
    await events.publish(session, created)
    return referral


def queue_conditions(principal: Principal, queue: QueueQuery, now: datetime) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = []
    if queue.status:
        conditions.append(col(Referral.status).in_(queue.status))
    if queue.urgency:
        conditions.append(col(Referral.urgency_rank).in_([URGENCY_RANK[u] for u in queue.urgency]))
    if queue.assignee == "none":
        conditions.append(col(Referral.assignee_id).is_(None))
    elif queue.assignee == "me":
        if principal.user_id is None:
            raise Unprocessable("assignee=me needs a user's access token, not a key")
        conditions.append(col(Referral.assignee_id) == principal.user_id)
    elif queue.assignee is not None:
        conditions.append(col(Referral.assignee_id) == queue.assignee)
    if queue.overdue is not None:
        overdue = and_(col(Referral.status).in_(OPEN_STATUSES), col(Referral.due_at) < now)
        conditions.append(overdue if queue.overdue else not_(overdue))
    return conditions


async def queue(session: AsyncSession, principal: Principal, query: QueueQuery) -> ReferralPage:
    """The clinic's referrals, most urgent first, then oldest first (keyset-paginated)."""
    now = utcnow()
    after = decode_cursor(query.cursor, int, datetime, uuid.UUID) if query.cursor else None
    rows = await ReferralRepository(session, principal.clinic_id).page(
        queue_conditions(principal, query, now), after, query.limit + 1
    )
    items, next_cursor = page(rows, query.limit, lambda r: (r.urgency_rank, r.created_at, r.id))
    return ReferralPage(items=[to_out(r, now) for r in items], next_cursor=next_cursor)


async def open_counts(session: AsyncSession, clinic_id: uuid.UUID) -> dict[str, dict[str, int]]:
    """Open referrals by urgency, then status (new, in_review): what the queue's header counts."""
    counts: dict[str, dict[str, int]] = {u: dict.fromkeys(OPEN_STATUSES, 0) for u in URGENCY_RANK}
    by_rank = {rank: urgency for urgency, rank in URGENCY_RANK.items()}
    for rank, status, count in await ReferralRepository(session, clinic_id).open_counts(OPEN_STATUSES):
        counts[by_rank[rank]][status] = count
    return counts


async def view(session: AsyncSession, principal: Principal, referral_id: uuid.UUID) -> ReferralOut:
    """A referral, its reading recorded on the audit trail (who looked at which patient's data)."""
    repo = ReferralRepository(session, principal.clinic_id)
    return await _viewed(repo, principal, await fetch(repo, referral_id))


async def view_for_intake(session: AsyncSession, principal: Principal, intake_id: uuid.UUID) -> ReferralOut:
    """The referral of an intake whose answers are being read; the read goes on its audit trail."""
    repo = ReferralRepository(session, principal.clinic_id)
    referral = await repo.for_intake(intake_id)
    if referral is None:
        raise ReferralNotFound(f"no referral for intake {intake_id}")
    return await _viewed(repo, principal, referral)


async def current(session: AsyncSession, clinic_id: uuid.UUID, referral_id: uuid.UUID) -> ReferralOut:
    """The referral as it is now, for machines (the export worker); not an audited read."""
    return to_out(await fetch(ReferralRepository(session, clinic_id), referral_id), utcnow())


async def changed(
    session: AsyncSession,
    principal: Principal,
    statuses: tuple[str, ...],
    start: datetime | None,
    end: datetime | None,
    cursor: str | None,
    limit: int,
) -> tuple[list[ReferralOut], str | None]:
    """Referrals by time of last change (FHIR search). The results identify patients, so each
    one returned is recorded as viewed."""
    repo = ReferralRepository(session, principal.clinic_id)
    after = decode_cursor(cursor, datetime, uuid.UUID) if cursor else None
    rows = await repo.changed(statuses, start, end, after, limit + 1)
    items, next_cursor = page(rows, limit, lambda r: (r.updated_at, r.id))
    return [await _viewed(repo, principal, r) for r in items], next_cursor


async def for_intake(session: AsyncSession, clinic_id: uuid.UUID, intake_id: uuid.UUID) -> ReferralOut:
    """The intake's referral as it is now (for replaying an idempotent submission)."""
    referral = await ReferralRepository(session, clinic_id).for_intake(intake_id)
    if referral is None:
        raise ReferralNotFound(f"no referral for intake {intake_id}")
    return to_out(referral, utcnow())


async def _viewed(repo: ReferralRepository, principal: Principal, referral: Referral) -> ReferralOut:
    now = utcnow()
    await repo.add_event(audit.event(referral.id, principal, "viewed", now))
    return to_out(referral, now)


async def clinics_with_open_referrals(session: AsyncSession, version: str) -> list[uuid.UUID]:
    """Clinics with open referrals not triaged or checked against ruleset `version` (re-triage's work)."""
    return await repository.clinics_due_for_retriage(session, version)


async def due_for_retriage(
    session: AsyncSession, clinic_id: uuid.UUID, version: str, after: uuid.UUID | None, limit: int
) -> list[Referral]:
    """The clinic's open referrals (not erased) not yet triaged or checked against `version`, by id."""
    return await ReferralRepository(session, clinic_id).due_for_retriage(version, after, limit)


async def open_urgent_past_due(
    session: AsyncSession,
    now: datetime,
    unannounced: Callable[[Any, Any], ColumnElement[bool]],
    limit: int,
) -> list[tuple[uuid.UUID, uuid.UUID, str, datetime]]:
    """Open emergency and urgent referrals past due, across clinics, for the notifier:
    (clinic_id, referral_id, urgency, due_at). `unannounced(clinic_id, referral_id)` is the
    caller's condition on each (correlated to these columns), so its own tables stay its own."""
    also = unannounced(col(Referral.clinic_id), col(Referral.id))
    return await repository.open_urgent_past_due(session, now, also, limit)


async def claim(session: AsyncSession, principal: Principal, referral_id: uuid.UUID) -> ReferralOut:
    repo = ReferralRepository(session, principal.clinic_id)
    if principal.user_id is None:
        await fetch(repo, referral_id)  # another clinic's id is a 404 whoever asks
        raise NeedsUser("a referral is claimed by a physio's access token, not a key")
    now = utcnow()
    claimed = await repo.claim(referral_id, principal.user_id, now)
    if claimed is None:
        current = await fetch(repo, referral_id)
        raise ReferralClaimed(f"the referral is {current.status.replace('_', ' ')}; it can no longer be claimed")
    await _claimed(session, repo, principal, claimed, now)
    return to_out(claimed, now)


async def claim_next(session: AsyncSession, principal: Principal) -> ReferralOut | None:
    """Claim the most urgent, oldest unclaimed referral; None when the queue is empty."""
    if principal.user_id is None:
        raise NeedsUser("a referral is claimed by a physio's access token, not a key")
    repo = ReferralRepository(session, principal.clinic_id)
    now = utcnow()
    claimed = await repo.claim_next(principal.user_id, now)
    if claimed is None:
        return None
    await _claimed(session, repo, principal, claimed, now)
    return to_out(claimed, now)


async def _claimed(
    session: AsyncSession, repo: ReferralRepository, principal: Principal, referral: Referral, now: datetime
) -> None:
    await repo.add_event(audit.event(referral.id, principal, "claimed", now, from_status="new", to_status="in_review"))
    await events.publish(session, ReferralChanged(principal.clinic_id, referral.id, "referral.status_changed", now))


async def transition(
    session: AsyncSession,
    principal: Principal,
    referral_id: uuid.UUID,
    to: Status,
    note: str | None,
    if_match: str | None,
) -> ReferralOut:
    """Move a referral along the transition table, if the caller's version is current."""
    repo = ReferralRepository(session, principal.clinic_id)
    referral = await fetch(repo, referral_id)
    check_version(referral, if_match)
    if to not in TRANSITIONS[referral.status]:
        raise IllegalTransition(f"a referral cannot go from {referral.status} to {to}")
    extra: dict[str, object] = {}
    if referral.status == "new":  # taking it into review is claiming it
        if principal.user_id is None:
            raise NeedsUser("a referral is taken into review by a physio's access token, not a key")
        extra["assignee_id"] = principal.user_id
    elif referral.status == "in_review":
        if principal.user_id is None:
            raise NeedsUser("only the physio reviewing a referral can accept or decline it")
        if referral.assignee_id != principal.user_id and "clinic:admin" not in principal.scopes:
            raise ReferralClaimed("another physio is reviewing this referral")
    now = utcnow()
    if to == "declined":
        extra["declined_at"] = now
    # The UPDATE refreshes `referral` in place (same identity), so keep where it came from.
    from_status = referral.status
    moved = await repo.move(referral.id, referral.version, from_status, to, now, **extra)
    if moved is None:
        raise StaleVersion("the referral changed while this request was made; read it again")
    await repo.add_event(
        audit.event(moved.id, principal, "transitioned", now, from_status=from_status, to_status=to, note=note)
    )
    await events.publish(session, ReferralChanged(principal.clinic_id, moved.id, "referral.status_changed", now))
    return to_out(moved, now)


async def add_note(session: AsyncSession, principal: Principal, referral_id: uuid.UUID, text: str) -> EventOut:
    repo = ReferralRepository(session, principal.clinic_id)
    referral = await repo.get_locked(referral_id)  # see patient_data.erase
    if referral is None:
        raise ReferralNotFound(f"no referral {referral_id}")
    if referral.erased_at is not None:
        raise ReferralErased("the patient's data was erased; the referral takes no more notes")
    event = audit.event(referral.id, principal, "noted", utcnow(), note=text)
    await repo.add_event(event)
    return audit.event_out(event)


async def list_events(
    session: AsyncSession, principal: Principal, referral_id: uuid.UUID, query: PageQuery
) -> EventPage:
    """The referral's audit trail, oldest first."""
    repo = ReferralRepository(session, principal.clinic_id)
    await fetch(repo, referral_id)
    after = decode_cursor(query.cursor, datetime, uuid.UUID) if query.cursor else None
    rows = await repo.events(referral_id, after, query.limit + 1)
    items, next_cursor = page(rows, query.limit, lambda e: (e.at, e.id))
    return EventPage(items=[audit.event_out(e) for e in items], next_cursor=next_cursor)


# --- the clinic dashboard (services/web/dashboard): statistics over bounded windows ---


async def received_by_day(
    session: AsyncSession, principal: Principal, start: datetime, end: datetime
) -> list[tuple[date, Urgency, int]]:
    """(UTC day, urgency, referrals received) over [start, end), days with none left out."""
    return await ReferralStatsRepository(session, principal.clinic_id).received_by_day(start, end)


async def claim_times(session: AsyncSession, principal: Principal, start: datetime, end: datetime) -> list[ClaimTimes]:
    """Per urgency (those with referrals received over [start, end)), how soon they were claimed:
    counts, median and 90th percentile time to claim, and the due window."""
    repo = ReferralStatsRepository(session, principal.clinic_id)
    claimed = await repo.claimed(start, end)
    found = []
    for urgency, received, waiting, due_min, due_max in await repo.received_counts(start, end):
        n, by_due, median, p90 = claimed.get(urgency, (0, 0, None, None))
        counts = ClaimCounts(urgency, received, n, by_due, waiting, due_min, due_max)
        found.append(ClaimTimes(counts, median, p90))
    return sorted(found, key=lambda t: URGENCY_RANK[t.counts.urgency])


async def open_by_urgency(session: AsyncSession, principal: Principal, now: datetime) -> list[OpenCounts]:
    """Per urgency, the open referrals (new, in review) and how many of them are past due at `now`."""
    found = await ReferralStatsRepository(session, principal.clinic_id).open_by_urgency(now)
    return sorted(found, key=lambda c: URGENCY_RANK[c.urgency])


async def focus_counts(
    session: AsyncSession, principal: Principal, start: datetime, end: datetime
) -> tuple[int, dict[str, int]]:
    """The referrals received over [start, end), and how many of them name each focus area."""
    return await ReferralStatsRepository(session, principal.clinic_id).focus_counts(start, end)
