"""Referrals in bulk, straight into PostgreSQL, shaped like a clinic that has been open for years."""

import json
import uuid
from datetime import date
from pathlib import Path

import asyncpg

from services.intake.schemas import IntakeIn
from services.triage import service as triage

INTAKES = """INSERT INTO intakes (id, clinic_id, created_at, answers)
SELECT gen_random_uuid(), $1, now() - make_interval(secs => n * 60), $3::jsonb FROM generate_series(1, $2) AS n"""
# Most referrals of an old clinic are closed; a few percent are still being worked.
REFERRALS = """INSERT INTO referrals (id, clinic_id, intake_id, urgency, urgency_rank, pathway, status, assignee_id,
                       focus_areas, triage, ruleset_version, created_at, updated_at, due_at, version)
SELECT gen_random_uuid(), i.clinic_id, i.id,
       (ARRAY['emergency','urgent','routine','self_care'])[r.rank + 1], r.rank,
       (ARRAY['emergency_department','urgent_medical','physiotherapy','self_management'])[r.rank + 1],
       CASE WHEN r.s < 90 THEN 'closed' WHEN r.s < 93 THEN 'scheduled' WHEN r.s < 96 THEN 'in_review' ELSE 'new' END,
       NULL, $3::jsonb, $2::jsonb, $4, i.created_at, i.created_at, i.created_at + interval '5 days', 1
FROM intakes i, LATERAL (SELECT (abs(hashtext(i.id::text)) % 100) AS s,
                                 (ARRAY[0,1,1,2,2,2,2,3,3,3])[abs(hashtext(i.id::text || 'u')) % 10 + 1] AS rank) r
WHERE i.clinic_id = $1"""


async def seed_referrals(dsn: str, clinics: list[tuple[str, int]]) -> None:
    """`count` intakes and referrals in each clinic, each carrying the benchmark body's real triage
    result, so listing pages are as big as real ones."""
    body = json.loads((Path(__file__).parent / "intake.json").read_text())
    intake = IntakeIn.model_validate(body)
    result = triage.evaluate(intake, intake.patient.birth_date, date.today())
    focus = json.dumps([f.code for f in result.focus_areas])
    connection = await asyncpg.connect(dsn)
    try:
        for clinic_id, count in clinics:
            await connection.execute(INTAKES, uuid.UUID(clinic_id), count, json.dumps(body))
            await connection.execute(
                REFERRALS, uuid.UUID(clinic_id), result.model_dump_json(), focus, result.ruleset_version
            )
        await connection.execute("VACUUM ANALYZE")
    finally:
        await connection.close()
