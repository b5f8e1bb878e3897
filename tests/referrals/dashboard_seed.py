"""Referrals, claims and exports at chosen times, with the dashboard's answers known by hand.

`NOW` is a Wednesday, 25 Nov 2026 12:00 UTC. The 12-week window starts on Monday 7 Sep 00:00
(this week's Monday less 11 weeks); the 90-day window at 27 Aug 12:00."""

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from services.export.models import ExportItem
from services.intake.models import Intake
from services.referrals.models import Referral, ReferralEvent
from services.referrals.schemas import URGENCY_RANK
from tests.factories import evaluate, intake_body
from tests.referrals.conftest import URGENCY_CHANGES

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)


@dataclass
class Seeded:
    created: timedelta | datetime  # before `now`, or an exact time
    urgency: str
    due_hours: int
    status: str
    claimed_after: timedelta | None = None
    claim_action: str = "claimed"
    focus: list[str] = field(default_factory=list)
    erased: bool = False


# Numbered as in the expectations below.
REFERRALS = [
    Seeded(HOUR, "emergency", 0, "in_review", timedelta(minutes=10)),  # 1
    Seeded(3 * DAY, "emergency", 0, "accepted", timedelta(minutes=30), "transitioned"),  # 2
    Seeded(2 * HOUR, "emergency", 0, "new"),  # 3
    Seeded(10 * DAY, "urgent", 12, "closed", 6 * HOUR, focus=["core_stability"]),  # 4
    Seeded(20 * DAY, "urgent", 24, "scheduled", 30 * HOUR, focus=["core_stability", "load_management"]),  # 5
    Seeded(5 * HOUR, "urgent", 12, "new", focus=["load_management"]),  # 6
    Seeded(30 * DAY, "routine", 120, "closed", 2 * HOUR, focus=["core_stability", "running_form"]),  # 7
    Seeded(40 * DAY, "routine", 120, "closed", 4 * HOUR, focus=["core_stability"]),  # 8
    Seeded(50 * DAY, "routine", 120, "closed", 8 * HOUR, focus=["running_form"]),  # 9
    Seeded(200 * DAY, "routine", 120, "new", focus=["core_stability"]),  # 10: only overdue now
    Seeded(60 * DAY, "self_care", 336, "new", focus=["warm_up_routine"]),  # 11
    Seeded(100 * DAY, "self_care", 336, "closed", HOUR, focus=["core_stability"]),  # 12: before both windows
    # 13: the first instant of the 12-week window; erased while new (an erasure is no claim)
    Seeded(datetime(2026, 9, 7, tzinfo=UTC), "routine", 120, "closed", focus=["core_stability"], erased=True),
    # 14: the instant before it, claimed inside it
    Seeded(datetime(2026, 9, 6, 23, 59, 59, tzinfo=UTC), "routine", 120, "closed", HOUR, focus=["load_management"]),
]

# (days before `now` it was made, status); the first is before the 12-week window.
EXPORTS = [(100, "delivered"), (30, "delivered"), (20, "delivered"), (1, "delivered"), (0, "pending"), (0, "pending"),
           (2, "dead")]  # fmt: skip

# What the dashboard must show for that clinic at NOW.
WEEKS = {  # week's Monday -> {urgency: referrals received}
    "2026-09-07": {"routine": 1},
    "2026-09-21": {"self_care": 1},
    "2026-10-05": {"routine": 1},
    "2026-10-12": {"routine": 1},
    "2026-10-26": {"routine": 1},
    "2026-11-02": {"urgent": 1},
    "2026-11-09": {"urgent": 1},
    "2026-11-16": {"emergency": 1},
    "2026-11-23": {"emergency": 2, "urgent": 1},
}
# urgency -> (received, claimed, claimed by due, waiting, due window min h, max h, median s, p90 s)
CLAIMS = {
    "emergency": (3, 2, 0, 1, 0, 0, 600, 1800),
    "urgent": (3, 2, 1, 1, 12, 24, 6 * 3600, 30 * 3600),
    "routine": (4, 3, 3, 0, 120, 120, 4 * 3600, 8 * 3600),
    "self_care": (1, 0, 0, 1, 336, 336, None, None),
}
OPEN = {"emergency": (2, 2), "urgent": (1, 0), "routine": (1, 1), "self_care": (1, 1)}  # (open, overdue)
FOCUS = (12, {"core_stability": 5, "load_management": 3, "running_form": 2, "warm_up_routine": 1})
EXPORT_COUNTS = {"delivered": 3, "pending": 2, "dead": 1}


async def seed(
    session: AsyncSession, clinic_id: uuid.UUID, now: datetime = NOW, referrals_: list[Seeded] | None = None
) -> None:
    """REFERRALS and EXPORTS in this clinic, as they would be at `now`."""
    # Real triage results, so the queue and referral pages show these referrals too.
    triaged = {urgency: evaluate(intake_body(**changes)) for urgency, changes in URGENCY_CHANGES.items()}
    actor: dict[str, Any] = {"actor_type": "user", "actor_label": "physio@example.test"}
    for spec in REFERRALS if referrals_ is None else referrals_:
        created = spec.created if isinstance(spec.created, datetime) else now - spec.created
        # The answers an intake has (the queue shows who and what), or an erased one's marker.
        answers = {"erased": True} if spec.erased else intake_body(**URGENCY_CHANGES[spec.urgency])
        intake = Intake(clinic_id=clinic_id, created_at=created, answers=answers,
                        erased_at=created + DAY if spec.erased else None)  # fmt: skip
        session.add(intake)
        await session.flush()
        referral = Referral(
            clinic_id=clinic_id, intake_id=intake.id, urgency=spec.urgency, urgency_rank=URGENCY_RANK[spec.urgency],  # type: ignore[index]
            pathway=triaged[spec.urgency].pathway, status=spec.status, focus_areas=spec.focus,
            triage=triaged[spec.urgency].model_dump(mode="json"),
            ruleset_version="test", created_at=created, updated_at=created, due_at=created + spec.due_hours * HOUR,
            erased_at=created + DAY if spec.erased else None,
        )  # fmt: skip
        session.add(referral)
        await session.flush()
        events = [ReferralEvent(clinic_id=clinic_id, referral_id=referral.id, at=created, action="created",
                                to_status="new", **actor)]  # fmt: skip
        # Reads and notes are on every trail too; none of them is a claim.
        events.append(ReferralEvent(clinic_id=clinic_id, referral_id=referral.id, at=created + HOUR / 60,
                                    action="viewed", **actor))  # fmt: skip
        if spec.claimed_after is not None:
            at = created + spec.claimed_after
            events.append(ReferralEvent(clinic_id=clinic_id, referral_id=referral.id, at=at, action=spec.claim_action,
                                        from_status="new", to_status="in_review", **actor))  # fmt: skip
            if spec.status != "in_review":
                events.append(ReferralEvent(clinic_id=clinic_id, referral_id=referral.id, at=at + HOUR,
                                            action="transitioned", from_status="in_review", to_status="accepted",
                                            **actor))  # fmt: skip
        if spec.erased:
            events.append(ReferralEvent(clinic_id=clinic_id, referral_id=referral.id, at=created + DAY,
                                        action="erased", from_status="new", to_status="closed", **actor))  # fmt: skip
        session.add_all(events)
    await session.flush()
    for days, status in EXPORTS:
        at = now - days * DAY - HOUR
        session.add(ExportItem(clinic_id=clinic_id, referral_id=referral.id, event="referral.created", status=status,
                               created_at=at, next_attempt_at=at))  # fmt: skip
    await session.flush()
