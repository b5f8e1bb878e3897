"""The clinic dashboard at a million referrals: its query plans and its page's latency.

    .venv/bin/python -m bench.dashboard [--rows 1000000] [--plans docs/dashboard-query-plans.md]

Standalone, it builds a scratch PostgreSQL database (`alembic upgrade head`), seeds a clinic with
10,000 referrals and one with `--rows` (bench/seed.py, real triage results and focus areas), gives
them claims and exports (below), writes EXPLAIN (ANALYZE, BUFFERS) of every dashboard query exactly
as the repositories build them, then serves the app as `make bench` does and measures
GET /ui/dashboard with wrk over one connection. `make bench` runs the same phase (bench/run.py).
"""

import argparse
import asyncio
import os
import re
import secrets
import time
import uuid
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from sqlalchemy import event

from bench.seed import seed_referrals
from services.core import migrations
from services.core.db import Database, utcnow
from services.core.principal import Principal
from services.web.dashboard.service import gather

ROOT = Path(__file__).resolve().parent.parent

# Every referral past `new` was claimed, after a while that grows with its urgency (up to a day for
# emergencies, 4 days for self-care); every referral made one export, 1% dead, the last hour's pending.
CLAIMS = """INSERT INTO referral_events (id, clinic_id, referral_id, at, actor_type, actor_label, action,
                             from_status, to_status)
SELECT gen_random_uuid(), clinic_id, id,
       created_at + make_interval(mins => abs(hashtext(id::text || 'c')) % (1440 * (urgency_rank + 1))),
       'user', 'physio@bench.example', 'claimed', 'new', 'in_review'
FROM referrals WHERE clinic_id = $1 AND status <> 'new'"""
EXPORTS = """INSERT INTO export_items (id, clinic_id, referral_id, event, status, attempts, created_at,
                          next_attempt_at, delivered_at)
SELECT gen_random_uuid(), clinic_id, id, 'referral.created',
       CASE WHEN abs(hashtext(id::text || 'e')) % 100 = 0 THEN 'dead'
            WHEN created_at > now() - interval '1 hour' THEN 'pending' ELSE 'delivered' END,
       1, created_at, created_at, created_at
FROM referrals WHERE clinic_id = $1"""


async def seed_activity(dsn: str, clinic_ids: list[str]) -> None:
    connection = await asyncpg.connect(dsn)
    try:
        for clinic_id in clinic_ids:
            await connection.execute(CLAIMS, uuid.UUID(clinic_id))
            await connection.execute(EXPORTS, uuid.UUID(clinic_id))
        await connection.execute("VACUUM ANALYZE")
    finally:
        await connection.close()


def session_cookie(base: str, credentials: dict[str, str]) -> str:
    """Log in to the UI as a browser does (login page, CSRF token, same origin); the session cookie."""
    with httpx.Client(base_url=base, timeout=30) as http:
        page = http.get("/ui/login")
        token = re.search(r'name="csrf" value="([^"]+)"', page.text)
        assert token is not None
        form = {"email": credentials["email"], "password": credentials["password"], "csrf": token.group(1)}
        answer = http.post("/ui/login", data=form, headers={"Origin": base})
        assert answer.status_code == 303 and answer.headers["location"] == "/ui", answer.status_code
        return f"bs_session={http.cookies['bs_session']}"


async def plans(url: str, clinic_id: str) -> str:
    """EXPLAIN (ANALYZE, BUFFERS) of each statement the dashboard runs, caught as it runs them."""
    database = Database(url, pooled=False)
    caught: list[tuple[str, Any]] = []

    def catch(_conn: Any, _cursor: Any, statement: str, parameters: Any, _context: Any, _many: bool) -> None:
        if statement.lstrip().upper().startswith("SELECT") and "FROM clinics" not in statement:
            caught.append((statement, parameters))

    principal = Principal(clinic_id=uuid.UUID(clinic_id), kind="user", scopes=frozenset(), user_id=uuid.uuid4())
    event.listen(database.engine.sync_engine, "before_cursor_execute", catch)
    async with database.sessionmaker() as session:
        started = time.monotonic()
        await gather(session, principal, utcnow())
        took = time.monotonic() - started
    event.remove(database.engine.sync_engine, "before_cursor_execute", catch)
    out = [f"All dashboard queries, first run (cold-ish cache): {took * 1000:.0f} ms\n"]
    async with database.sessionmaker() as session:
        connection = await session.connection()
        for statement, parameters in caught:
            result = await connection.exec_driver_sql(f"EXPLAIN (ANALYZE, BUFFERS) {statement}", parameters)
            first = " ".join(statement.split())[:160]
            out.append(f"### {first}...\n\n```\n" + "\n".join(row[0] for row in result) + "\n```\n")
    await database.dispose()
    return "\n".join(out)


def main() -> None:
    from bench import run  # run.py runs this phase too, so it imports this module, not the other way

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--plans", default=str(ROOT / "docs" / "dashboard-query-plans.md"))
    parser.add_argument(
        "--admin-dsn", default=os.environ.get("BENCH_ADMIN_DSN", "postgresql://root@127.0.0.1:5432/postgres")
    )
    args = parser.parse_args()
    name = f"backstride_dash_{uuid.uuid4().hex[:8]}"
    dsn = args.admin_dsn.rsplit("/", 1)[0] + f"/{name}"
    url = dsn.replace("postgresql://", "postgresql+asyncpg://")
    asyncio.run(run.fetch(args.admin_dsn, f'CREATE DATABASE "{name}"'))
    env = {"DATABASE_URL": dsn, "SECRET_KEY": secrets.token_hex(32), "LOG_LEVEL": "WARNING"}
    results: dict[str, Any] = {"dashboard": {}}
    try:
        asyncio.run(migrations.upgrade_async(url))
        made = asyncio.run(run.setup(url))
        started = time.monotonic()
        asyncio.run(seed_referrals(dsn, [(made["small"]["id"], 10_000), (made["big"]["id"], args.rows)]))
        asyncio.run(seed_activity(dsn, [made["small"]["id"], made["big"]["id"]]))
        print(f"seeded in {time.monotonic() - started:.0f} s")
        header = Path(args.plans).read_text().split("<!-- plans -->")[0] if Path(args.plans).exists() else ""
        Path(args.plans).write_text(header + "<!-- plans -->\n\n" + asyncio.run(plans(url, made["big"]["id"])))
        run.dashboard_phase(results, made, env, args.rows)
    finally:
        asyncio.run(run.fetch(args.admin_dsn, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    for page, figures in results["dashboard"].items():
        print(f"{page}: p50 {figures['p50_ms']:.1f} ms, p95 {figures['p95_ms']:.1f} ms, "
              f"{figures['server_cpu_ms_per_request']:.1f} ms server CPU per page")  # fmt: skip


if __name__ == "__main__":
    main()
