"""The clinic dashboard's referral statistics: small aggregated rows, each query one clinic's and
over a bounded window, so its cost follows the referrals in the window, not the clinic's history
(docs/dashboard-query-plans.md, made by bench/dashboard.py, shows the plans on a million referrals).

SQLite and PostgreSQL differ in date arithmetic (two expressions compile per dialect), in how a JSON
list is unnested and in percentiles (a branch each); everything else is plain SQL both run."""

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import ColumnElement, case, func, or_, select, true
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement
from sqlalchemy.types import Float
from sqlmodel import col

from services.core.tenancy import ClinicScopedRepository
from services.referrals.models import CLAIM_EVENT, OPEN_CONDITION, Referral, ReferralEvent
from services.referrals.schemas import URGENCY_RANK
from services.triage.schemas import Urgency

# A referral is claimed when it first leaves `new`: a claim (or `next`), or the new -> in_review move.
# It never returns to `new` and only one conditional UPDATE can take it, so there is one such event.
# The same literal SQL as the partial index ix_referral_events_claims, so both databases (and
# PostgreSQL's generic plans, where a bound value would be unknown) can prove the index applies.
CLAIM_CONDITION = CLAIM_EVENT
RANK_URGENCY = {rank: urgency for urgency, rank in URGENCY_RANK.items()}


class utc_day(FunctionElement[Any]):  # noqa: N801 - an SQL function, named as one
    """The UTC calendar day of a timestamp."""

    inherit_cache = True


@compiles(utc_day)
def _utc_day_sqlite(element: utc_day, compiler: SQLCompiler, **kw: Any) -> str:
    return f"date({compiler.process(element.clauses, **kw)})"  # stored as UTC text


@compiles(utc_day, "postgresql")
def _utc_day_postgresql(element: utc_day, compiler: SQLCompiler, **kw: Any) -> str:
    return f"CAST(({compiler.process(element.clauses, **kw)} AT TIME ZONE 'UTC') AS DATE)"


class seconds_between(FunctionElement[float]):  # noqa: N801
    """Seconds from the second timestamp to the first."""

    type = Float()
    inherit_cache = True


@compiles(seconds_between)
def _seconds_sqlite(element: seconds_between, compiler: SQLCompiler, **kw: Any) -> str:
    later, earlier = (compiler.process(c, **kw) for c in element.clauses)
    return f"((julianday({later}) - julianday({earlier})) * 86400.0)"


@compiles(seconds_between, "postgresql")
def _seconds_postgresql(element: seconds_between, compiler: SQLCompiler, **kw: Any) -> str:
    later, earlier = (compiler.process(c, **kw) for c in element.clauses)
    return f"EXTRACT(EPOCH FROM ({later} - {earlier}))"


@dataclass(frozen=True)
class ClaimCounts:
    urgency: Urgency
    received: int
    claimed: int
    claimed_by_due: int
    waiting: int  # still new now
    due_min_seconds: float
    due_max_seconds: float


@dataclass(frozen=True)
class ClaimTimes:
    """Time from intake to claim of one urgency's referrals, next to their due window (seconds)."""

    counts: ClaimCounts
    median_seconds: float | None  # None: none claimed
    p90_seconds: float | None


@dataclass(frozen=True)
class OpenCounts:
    urgency: Urgency
    open: int
    overdue: int


def as_day(value: date | str) -> date:
    """A day as either database gives it (PostgreSQL a date, SQLite its text)."""
    return value if isinstance(value, date) else date.fromisoformat(value)


class ReferralStatsRepository(ClinicScopedRepository[Referral]):
    model = Referral

    def _received(self, start: datetime, end: datetime) -> list[ColumnElement[bool]]:
        created = col(Referral.created_at)
        return [created >= start, created < end]

    async def received_by_day(self, start: datetime, end: datetime) -> list[tuple[date, Urgency, int]]:
        """(UTC day, urgency, referrals received) over [start, end)."""
        day = utc_day(col(Referral.created_at))
        statement = (
            self.scoped(select(day, col(Referral.urgency_rank), func.count()))
            .where(*self._received(start, end))
            .group_by(day, col(Referral.urgency_rank))
        )
        rows = (await self.session.execute(statement)).all()
        return [(as_day(d), RANK_URGENCY[rank], int(n)) for d, rank, n in rows]

    def _claims(self, start: datetime) -> Any:
        """Each claim of this clinic since `start`: (referral, when), from the small claims index."""
        return (
            select(col(ReferralEvent.referral_id), col(ReferralEvent.at))
            .where(col(ReferralEvent.clinic_id) == self.clinic_id, CLAIM_CONDITION, col(ReferralEvent.at) >= start)
            .subquery("claims")
        )

    async def received_counts(self, start: datetime, end: datetime) -> list[tuple[Urgency, int, int, float, float]]:
        """Per urgency, of the referrals received over [start, end): how many, how many still wait
        (new), and the shortest and longest due window in seconds."""
        window = seconds_between(col(Referral.due_at), col(Referral.created_at))
        statement = (
            self.scoped(
                select(
                    col(Referral.urgency_rank),
                    func.count(),
                    func.sum(case((col(Referral.status) == "new", 1), else_=0)),
                    func.min(window),
                    func.max(window),
                )
            )
            .where(*self._received(start, end))
            .group_by(col(Referral.urgency_rank))
        )
        rows = (await self.session.execute(statement)).all()
        return [(RANK_URGENCY[rank], int(n), int(waiting or 0), low, high) for rank, n, waiting, low, high in rows]

    def _waits(self, start: datetime, end: datetime) -> Any:
        """Each claimed referral received over [start, end): urgency rank, seconds to claim, claimed by
        its due time. The claims are joined to their referrals (a hash join on PostgreSQL; on SQLite each
        claim of the window finds its referral by id), never the other way round: an outer join from
        the referrals would make SQLite scan the window's claims once per referral."""
        claims = self._claims(start)
        return (
            self.scoped(
                select(
                    col(Referral.urgency_rank).label("rank"),
                    seconds_between(claims.c.at, col(Referral.created_at)).label("wait"),
                    case((claims.c.at <= col(Referral.due_at), 1), else_=0).label("by_due"),
                )
            )
            .join(claims, claims.c.referral_id == col(Referral.id))
            .where(*self._received(start, end))
            .subquery("waits")
        )

    async def claimed(self, start: datetime, end: datetime) -> dict[Urgency, tuple[int, int, float, float]]:
        """Per urgency, of the referrals received over [start, end) and claimed: how many, how many by
        their due time, and the median and 90th percentile (nearest rank: the ceil(p * n)-th smallest)
        of the seconds from intake to claim. PostgreSQL has that percentile as an aggregate
        (percentile_disc), one pass; SQLite ranks with window functions, two rows per urgency back."""
        waits = self._waits(start, end)
        if self.session.get_bind().dialect.name == "postgresql":
            statement = select(
                waits.c.rank,
                func.count(),
                func.sum(waits.c.by_due),
                func.percentile_disc(0.5).within_group(waits.c.wait),
                func.percentile_disc(0.9).within_group(waits.c.wait),
            ).group_by(waits.c.rank)
            rows = (await self.session.execute(statement)).all()
            return {RANK_URGENCY[r]: (int(n), int(by_due), float(p50), float(p90)) for r, n, by_due, p50, p90 in rows}
        ranked = select(
            waits.c.rank,
            waits.c.wait,
            func.row_number().over(partition_by=waits.c.rank, order_by=waits.c.wait).label("n"),
            func.count().over(partition_by=waits.c.rank).label("total"),
            func.sum(waits.c.by_due).over(partition_by=waits.c.rank).label("by_due"),
        ).subquery("ranked")
        median_rank, p90_rank = (ranked.c.total + 1) // 2, (9 * ranked.c.total + 9) // 10
        statement = select(
            ranked.c.rank, ranked.c.n, ranked.c.total, ranked.c.by_due, median_rank, p90_rank, ranked.c.wait
        ).where(or_(ranked.c.n == median_rank, ranked.c.n == p90_rank))
        found: dict[Urgency, tuple[int, int, float, float]] = {}
        for rank, n, total, by_due, at_median, at_p90, wait in (await self.session.execute(statement)).all():
            urgency = RANK_URGENCY[rank]
            _, _, median, p90 = found.get(urgency, (0, 0, 0.0, 0.0))
            found[urgency] = (
                int(total),
                int(by_due),
                float(wait) if n == at_median else median,
                float(wait) if n == at_p90 else p90,
            )
        return found

    async def open_by_urgency(self, now: datetime) -> list[OpenCounts]:
        """Per urgency, the open referrals (new, in review) and those of them past due now: an
        index-only scan of ix_referrals_open_due, which holds the open ones only."""
        statement = (
            self.scoped(
                select(
                    col(Referral.urgency_rank),
                    func.count(),
                    func.sum(case((col(Referral.due_at) < now, 1), else_=0)),
                )
            )
            .where(OPEN_CONDITION)
            .group_by(col(Referral.urgency_rank))
        )
        rows = (await self.session.execute(statement)).all()
        return [OpenCounts(RANK_URGENCY[rank], int(n), int(overdue or 0)) for rank, n, overdue in rows]

    async def focus_counts(self, start: datetime, end: datetime) -> tuple[int, dict[str, int]]:
        """The referrals received over [start, end), and how many of them name each focus area."""
        dialect = self.session.get_bind().dialect.name
        unnest = func.jsonb_array_elements_text if dialect == "postgresql" else func.json_each
        area = unnest(col(Referral.focus_areas)).table_valued("value")
        statement = (
            self.scoped(select(area.c.value, func.count()))
            .select_from(Referral)
            .join(area, true())
            .where(*self._received(start, end))
            .group_by(area.c.value)
        )
        counts = {str(code): int(n) for code, n in (await self.session.execute(statement)).all()}
        total = self.scoped(select(func.count())).select_from(Referral).where(*self._received(start, end))
        return int((await self.session.execute(total)).scalar_one()), counts
