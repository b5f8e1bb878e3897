"""FHIR search parameters of ServiceRequest, turned into referral filters."""

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from services.core.errors import Unprocessable

# FHIR ServiceRequest.status -> referral statuses (the mapping's inverse).
STATUSES = {
    "active": ("new", "in_review", "accepted", "scheduled"),
    "revoked": ("declined",),
    "completed": ("closed",),
}


class BadSearch(Unprocessable):
    title, slug = "Unsupported search", "unsupported-search"


@dataclass
class TimeRange:
    start: datetime | None = None  # inclusive
    end: datetime | None = None  # exclusive


def statuses(values: list[str]) -> tuple[str, ...]:
    wanted: list[str] = []
    for value in ",".join(values).split(","):
        if value not in STATUSES:
            raise BadSearch(f"status must be one of {', '.join(STATUSES)}")
        wanted += STATUSES[value]
    return tuple(wanted)


def _instant(text: str) -> tuple[datetime, timedelta]:
    """A FHIR date or dateTime and its precision (a day, or a second)."""
    try:
        if len(text) == 10:
            moment, precision = datetime.combine(date.fromisoformat(text), datetime.min.time(), UTC), timedelta(days=1)
        else:
            parsed = datetime.fromisoformat(text)
            if parsed.tzinfo is None:
                raise BadSearch("_lastUpdated: a dateTime needs a time zone")
            moment, precision = parsed.astimezone(UTC), timedelta(seconds=1)
    except (ValueError, OverflowError) as exc:
        raise BadSearch(f"_lastUpdated: {text!r} is not a FHIR date or dateTime") from exc
    if not 1900 <= moment.year <= 9000:  # and so no overflow when a precision is added
        raise BadSearch("_lastUpdated: out of range")
    return moment, precision


def last_updated(values: list[str]) -> TimeRange:
    """`_lastUpdated` with the prefixes eq (default), gt, ge, lt, le; repeat it for a range."""
    window = TimeRange()
    for value in values:
        prefix, text = (value[:2], value[2:]) if value[:2] in ("eq", "gt", "ge", "lt", "le") else ("eq", value)
        moment, precision = _instant(text)
        start = {"eq": moment, "ge": moment, "gt": moment + precision}.get(prefix)
        end = {"eq": moment + precision, "lt": moment, "le": moment + precision}.get(prefix)
        if start is not None:
            window.start = max(window.start, start) if window.start else start
        if end is not None:
            window.end = min(window.end, end) if window.end else end
    return window
