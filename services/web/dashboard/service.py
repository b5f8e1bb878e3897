"""What the dashboard shows, gathered from the referral and export services over fixed windows."""

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from services.core.principal import Principal
from services.export import service as export
from services.referrals import service as referrals
from services.referrals.stats import ClaimTimes, OpenCounts
from services.triage import service as triage

WEEKS = 12
FOCUS_DAYS = 90
TOP_FOCUS = 8
URGENCIES = ("emergency", "urgent", "routine", "self_care")


@dataclass(frozen=True)
class Windows:
    now: datetime
    weeks_start: datetime  # Monday 00:00 UTC, WEEKS - 1 weeks before this week's
    week_starts: list[date]
    focus_start: datetime


@dataclass(frozen=True)
class Dashboard:
    window: Windows
    weeks: list[tuple[date, dict[str, int]]]  # each week's Monday, referrals received by urgency
    received_total: int
    claims: list[ClaimTimes]
    open: list[OpenCounts]
    focus_total: int  # referrals received in the focus window
    focus: list[tuple[str, str, int]]  # (code, label, referrals naming it), most named first
    exports: dict[str, int]


def windows(now: datetime) -> Windows:
    """Whole UTC weeks from Monday, this one included (so far), and the last 90 days to the minute."""
    monday = now.astimezone(UTC).date() - timedelta(days=now.astimezone(UTC).weekday())
    first = monday - timedelta(weeks=WEEKS - 1)
    return Windows(
        now=now,
        weeks_start=datetime.combine(first, time(), tzinfo=UTC),
        week_starts=[first + timedelta(weeks=n) for n in range(WEEKS)],
        focus_start=now - timedelta(days=FOCUS_DAYS),
    )


def focus_labels() -> dict[str, str]:
    """Each focus area's name as the ruleset gives it."""
    return {rule.focus.code: rule.focus.label for rule in triage.current_ruleset().rules if rule.focus is not None}


async def gather(session: AsyncSession, principal: Principal, now: datetime) -> Dashboard:
    window = windows(now)
    weeks: dict[date, dict[str, int]] = {monday: dict.fromkeys(URGENCIES, 0) for monday in window.week_starts}
    for day, urgency, n in await referrals.received_by_day(session, principal, window.weeks_start, now):
        weeks[day - timedelta(days=day.weekday())][urgency] += n
    focus_total, focus = await referrals.focus_counts(session, principal, window.focus_start, now)
    labels = focus_labels()
    ranked = sorted(focus.items(), key=lambda item: (-item[1], item[0]))[:TOP_FOCUS]
    return Dashboard(
        window=window,
        weeks=list(weeks.items()),
        received_total=sum(sum(counts.values()) for counts in weeks.values()),
        claims=await referrals.claim_times(session, principal, window.weeks_start, now),
        open=await referrals.open_by_urgency(session, principal, now),
        focus_total=focus_total,
        focus=[(code, labels.get(code, code.replace("_", " ").capitalize()), n) for code, n in ranked],
        exports=await export.counts_by_status(session, principal, window.weeks_start, now),
    )
