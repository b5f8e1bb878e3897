"""Referral shapes: the queue's items, filters, transitions and audit events."""

import uuid
from datetime import datetime, timedelta
from typing import Literal

from pydantic import BaseModel, Field

from services.core.schemas import Note2000, PageQuery, StrictModel
from services.intake.schemas import StoredIntake
from services.triage.schemas import FocusCode, TriageResult, Urgency

Status = Literal["new", "in_review", "accepted", "declined", "scheduled", "closed"]

# SPEC §6: how soon a referral of each urgency must be seen.
DUE_AFTER: dict[Urgency, timedelta] = {
    "emergency": timedelta(0),
    "urgent": timedelta(hours=24),
    "routine": timedelta(days=5),
    "self_care": timedelta(days=14),
}
URGENCY_RANK: dict[Urgency, int] = {"emergency": 0, "urgent": 1, "routine": 2, "self_care": 3}

# SPEC §6: the legal moves. Anything else is 409.
TRANSITIONS: dict[str, frozenset[str]] = {
    "new": frozenset({"in_review"}),
    "in_review": frozenset({"accepted", "declined"}),
    "accepted": frozenset({"scheduled"}),
    "scheduled": frozenset({"closed"}),
    "declined": frozenset({"closed"}),
    "closed": frozenset(),
}
# Past these, a referral has been seen to: it can no longer be overdue.
OPEN_STATUSES = ("new", "in_review")


class QueueQuery(PageQuery):
    status: list[Status] = Field(default_factory=list, description="Repeat to match several")
    urgency: list[Urgency] = Field(default_factory=list, description="Repeat to match several")
    assignee: Literal["me", "none"] | uuid.UUID | None = Field(
        default=None, description="`me`, `none` (unclaimed) or a user id"
    )
    overdue: bool | None = Field(default=None, description="Only (or no) referrals past due_at while new or in review")


class ReferralOut(BaseModel):
    id: uuid.UUID
    intake_id: uuid.UUID
    clinic_id: uuid.UUID
    urgency: Urgency
    status: Status
    assignee: uuid.UUID | None = Field(description="The user who claimed it")
    focus_areas: list[FocusCode]
    triage: TriageResult
    created_at: datetime
    updated_at: datetime
    due_at: datetime
    overdue: bool = Field(description="Still new or in review after due_at")
    version: int = Field(description="Changes with every update; sent as the ETag")


class ReferralDetail(ReferralOut):
    intake: StoredIntake = Field(description="The runner's answers the referral was made from")


class ReferralPage(BaseModel):
    items: list[ReferralOut]
    next_cursor: str | None


class TransitionIn(StrictModel):
    to: Status
    note: Note2000 | None = None


class NoteIn(StrictModel):
    text: Note2000 = Field(min_length=1)


class EventOut(BaseModel):
    id: uuid.UUID
    at: datetime
    actor_type: Literal["user", "key"]
    actor_id: uuid.UUID | None
    actor: str = Field(description="The user's email or the key's prefix")
    action: Literal["created", "viewed", "claimed", "transitioned", "noted"]
    from_status: Status | None
    to_status: Status | None
    note: str | None


class EventPage(BaseModel):
    items: list[EventOut]
    next_cursor: str | None
