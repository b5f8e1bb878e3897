"""Referral shapes: the queue's items, filters, transitions and audit events."""

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag

from services.core.schemas import Note2000, PageQuery, StrictModel
from services.intake.schemas import StoredIntake
from services.triage.schemas import FocusCode, Pathway, TriageResult, Urgency

Status = Literal["new", "in_review", "accepted", "declined", "scheduled", "closed"]

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


class ErasedTriage(BaseModel):
    """What is kept of a triage result once the patient's data is erased: de-identified statistics."""

    model_config = ConfigDict(extra="forbid")  # so a whole TriageResult is never read as this

    erased: Literal[True]
    ruleset_version: str
    urgency: Urgency
    rules: list[str] = Field(description="Ids of the rules that set the urgency")


def _triage_kind(value: Any) -> str:
    erased = value.get("erased") if isinstance(value, dict) else getattr(value, "erased", False)
    return "erased" if erased else "full"


# Tagged, so pydantic validates each stored result against one shape, not both in turn:
# a queue page validates fifty of these, and trying both cost four times as much (bench/).
StoredTriage = Annotated[
    Annotated[TriageResult, Tag("full")] | Annotated[ErasedTriage, Tag("erased")], Discriminator(_triage_kind)
]


class UrgencySetting(BaseModel):
    urgency: Urgency
    pathway: Pathway


class UrgencyOverride(BaseModel):
    """The last urgency a person set on the referral, over triage's."""

    by: str = Field(description="The user's email")
    at: datetime
    from_: UrgencySetting = Field(alias="from")
    to: UrgencySetting
    reason: str

    model_config = ConfigDict(populate_by_name=True, serialize_by_alias=True)


class ReferralOut(BaseModel):
    id: uuid.UUID
    intake_id: uuid.UUID
    clinic_id: uuid.UUID
    urgency: Urgency
    pathway: Pathway = Field(description="Where the person should be seen (triage v2)")
    status: Status
    assignee: uuid.UUID | None = Field(description="The user who claimed it")
    focus_areas: list[FocusCode]
    triage: StoredTriage = Field(description="The triage result; only statistics once erased")
    created_at: datetime
    updated_at: datetime
    due_at: datetime = Field(description="created_at + the triage's due_within_hours")
    overdue: bool = Field(description="Still new or in review after due_at")
    version: int = Field(description="Changes with every update; sent as the ETag")
    declined_at: datetime | None = Field(
        default=None, description="When it was declined (a declined referral, closed, stays declined)"
    )
    erased_at: datetime | None = Field(description="When the patient's data was erased (POST /v1/patient-data/erase)")
    urgency_override: UrgencyOverride | None = Field(
        description="Set when a person changed the urgency (POST /v1/referrals/{id}/urgency): who, when, from, to, why"
    )


class ReferralDetail(ReferralOut):
    intake: StoredIntake | None = Field(
        description="The runner's answers the referral was made from; null once the patient's data is erased"
    )


class ReferralPage(BaseModel):
    items: list[ReferralOut]
    next_cursor: str | None


class TransitionIn(StrictModel):
    to: Status
    note: Note2000 | None = None


class NoteIn(StrictModel):
    text: Note2000 = Field(min_length=1)


class UrgencyIn(StrictModel):
    urgency: Urgency
    pathway: Pathway | None = Field(
        default=None, description="Defaults to the urgency's usual pathway; must belong to the urgency"
    )
    reason: Note2000 = Field(min_length=1, description="Why: goes on the audit trail and into the export")


class EventOut(BaseModel):
    id: uuid.UUID
    at: datetime
    actor_type: Literal["user", "key", "system"]
    actor_id: uuid.UUID | None
    actor: str = Field(description="The user's email, the key's prefix, or Backstride itself (re-triage)")
    action: Literal[
        "created",
        "viewed",
        "claimed",
        "transitioned",
        "noted",
        "exported",
        "erased",
        "retriaged",
        "retriage_suggested",
        "urgency_changed",
    ]
    from_status: Status | None
    to_status: Status | None
    note: str | None = Field(
        description="A note, the reason given for an erasure or an urgency change; notes are removed by erasure"
    )
    detail: dict[str, Any] | None = Field(
        default=None,
        description="retriaged and urgency_changed: {from, to} (urgency, pathway, due_at, ruleset_version); "
        "retriage_suggested: {from, suggested: the new TriageResult}",
    )


class EventPage(BaseModel):
    items: list[EventOut]
    next_cursor: str | None
