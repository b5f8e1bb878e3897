"""Referral shapes shared with other services."""

from datetime import timedelta

from services.triage.schemas import Urgency

# SPEC §6: how soon a referral of each urgency must be seen.
DUE_AFTER: dict[Urgency, timedelta] = {
    "emergency": timedelta(0),
    "urgent": timedelta(hours=24),
    "routine": timedelta(days=5),
    "self_care": timedelta(days=14),
}
URGENCY_RANK: dict[Urgency, int] = {"emergency": 0, "urgent": 1, "routine": 2, "self_care": 3}
