"""How a stored referral is shown: shared by the queue and the patient-data functions."""

from datetime import datetime
from typing import Any

from sqlalchemy import Row

from services.referrals.models import Referral
from services.referrals.schemas import OPEN_STATUSES, ReferralOut

# The stored columns a ReferralOut shows as they are (read directly: SQLModel's model_dump is slower).
_SHOWN = tuple(name for name in ReferralOut.model_fields if name not in {"assignee", "overdue"})


def is_overdue(status: str, due_at: datetime, now: datetime) -> bool:
    return status in OPEN_STATUSES and due_at < now


def to_out(referral: Referral | Row[Any], now: datetime) -> ReferralOut:
    """A stored referral (a model, or a plain row from a queue page) as the API shows it."""
    return ReferralOut.model_validate(
        {
            **{name: getattr(referral, name) for name in _SHOWN},
            "assignee": referral.assignee_id,
            "overdue": is_overdue(referral.status, referral.due_at, now),
        }
    )
