"""Query plans of the referral queue on PostgreSQL with a million referrals in one clinic.

    .venv/bin/python bench/queue_plans.py [--rows 1000000] [--admin-dsn postgresql://root@127.0.0.1/postgres]

Builds a scratch database with `alembic upgrade head`, fills it with generate_series,
and prints EXPLAIN (ANALYZE, BUFFERS) of the listing queries exactly as the service
builds them. The database is dropped at the end.
"""

import argparse
import asyncio
import time
import uuid
from datetime import UTC, datetime

import asyncpg

from services.core import migrations
from services.core.db import Database
from services.core.principal import Principal
from services.referrals.repository import ReferralRepository
from services.referrals.schemas import QueueQuery
from services.referrals.service import queue_conditions

CLINIC = "INSERT INTO clinics (id, slug, name, allowed_origins, created_at) VALUES ($1, $2, $2, '[]', now())"
USER = """INSERT INTO users (id, clinic_id, email, role, password_hash, failed_logins, created_at)
VALUES ($1, $2, 'physio@big.example', 'physio', 'x', 0, now())"""
INTAKES = """INSERT INTO intakes (id, clinic_id, created_at, answers)
SELECT gen_random_uuid(), $1, now() - make_interval(secs => n * 60), '{}'::jsonb FROM generate_series(1, $2) AS n"""
# Most referrals of an old clinic are closed; a few percent are still being worked.
REFERRALS = """INSERT INTO referrals (id, clinic_id, intake_id, urgency, urgency_rank, status, assignee_id,
                       focus_areas, triage, ruleset_version, created_at, updated_at, due_at, version)
SELECT gen_random_uuid(), i.clinic_id, i.id,
       (ARRAY['emergency','urgent','routine','self_care'])[r.rank + 1], r.rank,
       CASE WHEN r.s < 90 THEN 'closed' WHEN r.s < 93 THEN 'scheduled' WHEN r.s < 96 THEN 'in_review' ELSE 'new' END,
       CASE WHEN r.s BETWEEN 93 AND 95 AND r.s % 2 = 0 THEN $2::uuid END,
       '[]', '{}', '2026.11.2', i.created_at, i.created_at, i.created_at + interval '5 days', 1
FROM intakes i, LATERAL (SELECT (abs(hashtext(i.id::text)) % 100) AS s,
                                 (ARRAY[0,1,1,2,2,2,2,3,3,3])[abs(hashtext(i.id::text || 'u')) % 10 + 1] AS rank) r
WHERE i.clinic_id = $1"""


async def main(rows: int, admin_dsn: str) -> None:
    name = f"backstride_plans_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(admin_dsn)
    await admin.execute(f'CREATE DATABASE "{name}"')
    url = admin_dsn.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://") + f"/{name}"
    try:
        await migrations.upgrade_async(url)
        big, small, physio = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
        conn = await asyncpg.connect(url.replace("+asyncpg", ""))
        started = time.monotonic()
        await conn.execute(CLINIC, big, "big")
        await conn.execute(CLINIC, small, "small")
        await conn.execute(USER, physio, big)
        for clinic, count in ((big, rows), (small, 10_000)):
            await conn.execute(INTAKES, clinic, count)
            await conn.execute(REFERRALS, clinic, physio)
        await conn.execute("ANALYZE")
        print(f"seeded {rows:,} + 10,000 referrals in {time.monotonic() - started:.0f} s\n")
        await conn.close()
        await explain_all(url, big, physio)
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


async def explain_all(url: str, clinic_id: uuid.UUID, physio: uuid.UUID) -> None:
    database = Database(url, pooled=False)
    principal = Principal(clinic_id=clinic_id, kind="user", scopes=frozenset(), user_id=physio)
    now = datetime.now(UTC)
    async with database.sessionmaker() as session:
        repo = ReferralRepository(session, clinic_id)
        deep = (await repo.page(queue_conditions(principal, QueueQuery(), now), None, 1))[0]
        cases = {
            "first page, no filter": (QueueQuery(), None),
            "status=new": (QueueQuery(status=["new"]), None),
            "status=new&status=in_review": (QueueQuery(status=["new", "in_review"]), None),
            "overdue=true": (QueueQuery(overdue=True), None),
            "urgency=urgent": (QueueQuery(urgency=["urgent"]), None),
            "assignee=me": (QueueQuery(assignee="me"), None),
            "deep keyset page (cursor)": (QueueQuery(), (2, deep.created_at, deep.id)),
        }
        connection = await session.connection()
        for title, (filters, after) in cases.items():
            statement = repo.page_statement(queue_conditions(principal, filters, now), after, 51)
            compiled = statement.compile(dialect=connection.dialect, compile_kwargs={"render_postcompile": True})
            params = tuple(compiled.params[name] for name in compiled.positiontup or ())
            result = await connection.exec_driver_sql(f"EXPLAIN (ANALYZE, BUFFERS) {compiled.string}", params)
            print(f"### {title}\n\n```\n" + "\n".join(row[0] for row in result) + "\n```\n")
    await database.dispose()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--admin-dsn", default="postgresql://root@127.0.0.1:5432/postgres")
    arguments = parser.parse_args()
    asyncio.run(main(arguments.rows, arguments.admin_dsn))
