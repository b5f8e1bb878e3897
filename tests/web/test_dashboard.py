"""The clinic dashboard in Chromium: its charts drawn from seeded data, the numbers of its text
equivalents equal to what a plain SQL read of the clinic's rows gives, and no serious axe-core
violations. The page's screenshot goes to artifacts/screenshots/dashboard.png."""

import json
import uuid
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
import pytest
from playwright.async_api import Browser, Page, expect
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from services.clinics.schemas import ClinicCreated
from services.core.db import Database, utcnow
from tests.factories import make_clinic, make_user, ui_login
from tests.referrals.dashboard_seed import seed
from tests.web.conftest import Site
from tests.web.test_browser import axe_ready_page, axe_violations, shot

URGENCIES = ["emergency", "urgent", "routine", "self_care"]
WORDS = {"emergency": "Emergency", "urgent": "Urgent", "routine": "Routine", "self_care": "Self-care"}


def when(value: Any) -> datetime:
    """A timestamp as either database returns it from plain SQL (SQLite: text, in UTC)."""
    parsed = value if isinstance(value, datetime) else datetime.fromisoformat(value)
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed


async def expected(database: Database, clinic_id: uuid.UUID, now: datetime) -> dict[str, Any]:
    """The dashboard's figures from the clinic's rows, read with plain SQL and counted here."""
    async with database.sessionmaker() as session:
        params = {"c": clinic_id.hex if database.engine.dialect.name == "sqlite" else clinic_id}
        referrals = (
            await session.execute(
                text("SELECT id, urgency, status, created_at, due_at, focus_areas FROM referrals WHERE clinic_id = :c"),
                params,
            )
        ).all()
        claims = (
            await session.execute(
                text("SELECT referral_id, at FROM referral_events WHERE clinic_id = :c AND from_status = 'new' "
                     "AND action IN ('claimed', 'transitioned')"),
                params,
            )
        ).all()  # fmt: skip
        exports_sql = text("SELECT status, created_at FROM export_items WHERE clinic_id = :c")
        exports = (await session.execute(exports_sql, params)).all()
    monday = now.date() - timedelta(days=now.weekday())
    start = datetime.combine(monday - timedelta(weeks=11), datetime.min.time(), tzinfo=UTC)
    claimed = {str(r).replace("-", ""): when(at) for r, at in claims}
    weeks: dict[str, Counter[str]] = {(monday - timedelta(weeks=11 - n)).isoformat(): Counter() for n in range(12)}
    table2: dict[str, list[int]] = {}
    open_: dict[str, list[int]] = {}
    focus: Counter[str] = Counter()
    for rid, urgency, status, created_at, due_at, areas in referrals:
        created, due = when(created_at), when(due_at)
        if start <= created < now:
            week = created.date() - timedelta(days=created.weekday())
            weeks[week.isoformat()][urgency] += 1
            row = table2.setdefault(urgency, [0, 0, 0, 0])
            at = claimed.get(str(rid).replace("-", ""))
            row[0] += 1
            row[1] += at is not None
            row[2] += at is not None and at <= due
            row[3] += status == "new"
        if status in ("new", "in_review"):
            counts = open_.setdefault(urgency, [0, 0])
            counts[0] += 1
            counts[1] += due < now
        if now - timedelta(days=90) <= created < now:
            focus.update(json.loads(areas) if isinstance(areas, str) else areas)
    statuses = Counter(status for status, created_at in exports if start <= when(created_at) < now)
    return {
        "weekly": [[date.fromisoformat(w).strftime("%-d %b %Y"), *[c[u] for u in URGENCIES], sum(c.values())]
                   for w, c in weeks.items()],
        "claims": [[WORDS[u], *table2[u]] for u in URGENCIES if u in table2],
        "overdue": [[WORDS[u], *open_[u]] for u in URGENCIES if u in open_],
        "focus": sorted(focus.values(), reverse=True),
        "exports": [["Delivered", statuses["delivered"]], ["Pending", statuses["pending"]], ["Dead", statuses["dead"]]],
    }  # fmt: skip


async def table(page: Page, key: str, columns: int | None = None) -> list[list[Any]]:
    """A chart's table of figures: each row's header and its cells (numbers as numbers)."""
    rows = await page.locator(f"#{key}-h ~ table tbody tr").evaluate_all(
        "rows => rows.map(r => [...r.children].map(c => c.textContent.trim()))"
    )
    return [[int(v) if v.isdigit() else v for v in row[: columns or len(row)]] for row in rows]


async def test_the_dashboard_draws_the_clinics_figures(browser: Browser, site: Site, database: Database) -> None:
    now = utcnow()
    async with database.sessionmaker() as session, session.begin():
        await seed(session, site.clinic.clinic_id, now=now)
        other = await make_clinic(session)  # its figures must not show
        await seed(session, other.clinic_id, now=now)
    try:
        page = await axe_ready_page(browser)
        await page.set_viewport_size({"width": 1100, "height": 900})
        await page.goto(f"{site.api}/ui/dashboard")
        await expect(page.locator("h1")).to_have_text("Log in")
        await page.fill("#email", site.physio_email)
        await page.fill("#password", site.physio_password)
        await page.click("button[type=submit]")
        await expect(page.locator("h1")).to_have_text("Referral queue")
        await page.click("nav >> text=Dashboard")
        await expect(page.locator("h1")).to_have_text("Clinic dashboard")
        shown = datetime.fromisoformat(await page.locator("main > p time").get_attribute("datetime") or "")
        want = await expected(database, site.clinic.clinic_id, shown)
        assert await table(page, "weekly") == want["weekly"]
        assert await table(page, "claims", 5) == want["claims"]
        assert await table(page, "overdue") == want["overdue"]
        assert [n for _, n in await table(page, "focus")] == want["focus"]
        assert await table(page, "exports") == want["exports"]
        # Each chart is an image with a name and a summary, drawn from the same figures.
        for key in ("weekly", "claims", "overdue", "focus", "exports"):
            chart = page.locator(f"svg[aria-labelledby='{key}-title {key}-desc']")
            await expect(chart).to_have_attribute("role", "img")
            assert await chart.locator("rect").count() > 0, key
        total = sum(row[-1] for row in want["weekly"])
        await expect(page.locator("#weekly-desc")).to_contain_text(f"{total} referrals received")
        week_totals = await page.locator("svg[aria-labelledby^='weekly'] text[font-weight='700']").all_text_contents()
        assert [int(t) for t in week_totals] == [row[-1] for row in want["weekly"]]
        await expect(page.locator("#claims-desc")).to_contain_text("emergency: median 10 min, 90th percentile 30 min")
        await shot(page, "dashboard")
        assert await axe_violations(page) == []
    finally:
        async with database.sessionmaker() as session, session.begin():
            await session.execute(text("DELETE FROM clinics WHERE id = :c"), {"c": other.clinic_id.hex
                                  if database.engine.dialect.name == "sqlite" else other.clinic_id})  # fmt: skip


async def test_only_logged_in_users_see_it(site: Site) -> None:
    async with httpx.AsyncClient() as http:
        response = await http.get(f"{site.api}/ui/dashboard", follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == "/ui/login"


@pytest.mark.parametrize("role", ["physio", "clinic_admin"])
async def test_physios_and_clinic_admins_see_it(
    client: httpx.AsyncClient, session: AsyncSession, clinic: ClinicCreated, role: str
) -> None:
    user, password = await make_user(session, clinic.slug, role)  # type: ignore[arg-type]
    await ui_login(client, user.email, password)
    response = await client.get("/ui/dashboard")
    assert response.status_code == 200
    assert response.text.count('role="img"') == 5 and "No open referrals." in response.text
