"""The dashboard's statistics (services/referrals/stats.py, export counts) against seeded data whose
answers are known by hand (tests/referrals/dashboard_seed.py), on both databases. Another clinic
holds the same data: were any query not scoped, every figure would double."""

from datetime import date, timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from services.clinics.schemas import ClinicCreated
from services.export import service as export
from services.referrals import service as referrals
from services.web.dashboard.service import gather, windows
from tests.factories import make_clinic, secret_principal
from tests.referrals import dashboard_seed as seeded
from tests.referrals.dashboard_seed import NOW, seed


@pytest.fixture
async def seeded_clinic(session: AsyncSession, clinic: ClinicCreated) -> ClinicCreated:
    await seed(session, clinic.clinic_id)
    other = await make_clinic(session)
    await seed(session, other.clinic_id)
    return clinic


def test_windows() -> None:
    window = windows(NOW)
    assert window.week_starts[0] == date(2026, 9, 7) and window.week_starts[-1] == date(2026, 11, 23)
    assert len(window.week_starts) == 12
    assert window.weeks_start.isoformat() == "2026-09-07T00:00:00+00:00"
    assert window.focus_start == NOW - timedelta(days=90)


async def test_intakes_per_week_by_urgency(session: AsyncSession, seeded_clinic: ClinicCreated) -> None:
    window = windows(NOW)
    days = await referrals.received_by_day(session, secret_principal(seeded_clinic), window.weeks_start, NOW)
    weeks: dict[str, dict[str, int]] = {}
    for day, urgency, n in days:
        monday = (day - timedelta(days=day.weekday())).isoformat()
        weeks.setdefault(monday, {}).setdefault(urgency, 0)
        weeks[monday][urgency] += n
    assert weeks == seeded.WEEKS


async def test_time_to_claim_against_due(session: AsyncSession, seeded_clinic: ClinicCreated) -> None:
    window = windows(NOW)
    found = await referrals.claim_times(session, secret_principal(seeded_clinic), window.weeks_start, NOW)
    assert [t.counts.urgency for t in found] == ["emergency", "urgent", "routine", "self_care"]
    for times in found:
        c = times.counts
        expected = seeded.CLAIMS[c.urgency]
        assert (c.received, c.claimed, c.claimed_by_due, c.waiting) == expected[:4], c.urgency
        assert (round(c.due_min_seconds / 3600), round(c.due_max_seconds / 3600)) == expected[4:6], c.urgency
        median = None if times.median_seconds is None else round(times.median_seconds)
        p90 = None if times.p90_seconds is None else round(times.p90_seconds)
        assert (median, p90) == expected[6:], c.urgency


async def test_percentiles_are_nearest_rank(session: AsyncSession, clinic: ClinicCreated) -> None:
    """Ten routine referrals claimed after 1..10 hours: median the 5th, 90th percentile the 9th."""
    specs = [seeded.Seeded(timedelta(days=2), "routine", 120, "in_review", timedelta(hours=h)) for h in range(1, 11)]
    await seed(session, clinic.clinic_id, referrals_=specs)
    window = windows(NOW)
    [times] = await referrals.claim_times(session, secret_principal(clinic), window.weeks_start, NOW)
    assert (round(times.median_seconds or 0), round(times.p90_seconds or 0)) == (5 * 3600, 9 * 3600)


async def test_overdue_now(session: AsyncSession, seeded_clinic: ClinicCreated) -> None:
    found = await referrals.open_by_urgency(session, secret_principal(seeded_clinic), NOW)
    assert {c.urgency: (c.open, c.overdue) for c in found} == seeded.OPEN


async def test_top_focus_areas(session: AsyncSession, seeded_clinic: ClinicCreated) -> None:
    window = windows(NOW)
    found = await referrals.focus_counts(session, secret_principal(seeded_clinic), window.focus_start, NOW)
    assert found == seeded.FOCUS


async def test_exports_by_status(session: AsyncSession, seeded_clinic: ClinicCreated) -> None:
    window = windows(NOW)
    found = await export.counts_by_status(session, secret_principal(seeded_clinic), window.weeks_start, NOW)
    assert found == seeded.EXPORT_COUNTS


async def test_an_empty_clinic(session: AsyncSession, clinic: ClinicCreated) -> None:
    board = await gather(session, secret_principal(clinic), NOW)
    assert board.received_total == 0 and board.claims == [] and board.open == [] and board.focus == []
    assert board.exports == {"delivered": 0, "pending": 0, "dead": 0}
