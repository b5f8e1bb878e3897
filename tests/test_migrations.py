"""Alembic owns the schema: upgrade and downgrade work on both databases, and match the models."""

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

import services.models  # noqa: F401 - registers the tables
from services.core import migrations
from services.core.db import Database, metadata
from services.intake import service as intake
from services.referrals import service as referrals
from services.triage.schemas import TriageResult
from tests.conftest import BACKENDS, create_scratch_database, drop_scratch_database
from tests.factories import v1_body


@pytest.fixture(params=BACKENDS)
def scratch_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    url, pg_name = create_scratch_database(request.param, str(tmp_path))
    yield url
    drop_scratch_database(pg_name)


async def _tables(url: str) -> set[str]:
    database = Database(url, pooled=False)
    try:
        async with database.engine.connect() as connection:
            return set(await connection.run_sync(lambda c: inspect(c).get_table_names()))
    finally:
        await database.dispose()


async def _diff(url: str) -> list[object]:
    database = Database(url, pooled=False)
    try:
        async with database.engine.connect() as connection:
            return await connection.run_sync(
                lambda c: compare_metadata(MigrationContext.configure(c, opts={"compare_type": True}), metadata)
            )
    finally:
        await database.dispose()


async def test_upgrade_downgrade_upgrade(scratch_url: str) -> None:
    await migrations.upgrade_async(scratch_url)
    assert {"clinics", "api_keys", "intakes", "referrals"} <= await _tables(scratch_url)
    assert await _diff(scratch_url) == [], "models and migrations disagree: write a migration"

    await migrations.downgrade_async(scratch_url)
    assert await _tables(scratch_url) <= {"alembic_version"}

    await migrations.upgrade_async(scratch_url)
    assert "referrals" in await _tables(scratch_url)


def test_single_head() -> None:
    assert migrations.head_revision() is not None


# A referral as triage v1 stored it: no pathway, due time or clinician review.
V1_TRIAGE = {
    "ruleset_version": "2026.11.2",
    "urgency": "urgent",
    "seek_professional_help": True,
    "red_flags": [{"code": "recent_trauma", "label": "Recent trauma: possible fracture", "emergency": False}],
    "reasons": [{"rule": "RF-TRAUMA", "summary": "Back pain after a fall needs a check for fracture.",
                 "sources": [{"kind": "guideline", "document": "Finucane et al. (2020)", "statement": "Trauma."}]}],
    "focus_areas": [{"code": "core_stability", "label": "Core stability", "why": "Weak core.",
                     "sources": [{"document": "001_4d944876ad22fb1c.txt", "quote": "A weak core"}]}],
    "advice": ["Please see a doctor within the next 24 to 48 hours."],
    "disclaimer": "This is a triage suggestion.",
}  # fmt: skip


def _table(name: str, row: dict[str, Any]) -> sa.TableClause:
    """A lightweight table of the row's columns, typed as the migrations made them."""
    types: dict[type, Any] = {uuid.UUID: sa.Uuid(), datetime: sa.DateTime(timezone=True), dict: sa.JSON(),
                              list: sa.JSON(), str: sa.String(), int: sa.Integer()}  # fmt: skip
    return sa.table(name, *(sa.column(column, types[type(value)]) for column, value in row.items()))


async def test_v1_intakes_and_referrals_read_back_after_the_v2_upgrade(scratch_url: str) -> None:
    """Rows written before migration 0006 (triage v2) read back through the services after it."""
    await migrations.upgrade_async(scratch_url, "0005")
    clinic_id, intake_id, referral_id = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    created = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)
    rows = {
        "clinics": {"id": clinic_id, "slug": "old", "name": "Old", "allowed_origins": [], "created_at": created},
        "intakes": {"id": intake_id, "clinic_id": clinic_id, "created_at": created, "answers": v1_body()},
        "referrals": {
            "id": referral_id, "clinic_id": clinic_id, "intake_id": intake_id, "urgency": "urgent",
            "urgency_rank": 1, "status": "new", "focus_areas": ["core_stability"], "triage": V1_TRIAGE,
            "ruleset_version": "2026.11.2", "created_at": created, "updated_at": created,
            "due_at": created + timedelta(hours=24), "version": 1,
        },
    }  # fmt: skip
    database = Database(scratch_url, pooled=False)
    try:
        async with database.engine.begin() as connection:
            for name, row in rows.items():
                await connection.execute(_table(name, row).insert(), row)
    finally:
        await database.dispose()

    await migrations.upgrade_async(scratch_url)
    database = Database(scratch_url, pooled=False)
    try:
        async with database.sessionmaker() as session:
            stored = await intake.stored(session, clinic_id, intake_id)
            referral = await referrals.current(session, clinic_id, referral_id)
    finally:
        await database.dispose()
    assert stored.pain.night_pain is None and stored.patient.identifiers is None
    assert stored.patient.birth_date.isoformat() == v1_body()["patient"]["birth_date"]
    assert referral.pathway == "urgent_medical"  # the urgency's usual pathway (SPEC §5a)
    assert isinstance(referral.triage, TriageResult)
    assert (referral.triage.pathway, referral.triage.due_within_hours) == ("urgent_medical", 24)
    assert referral.triage.clinician_review == [] and referral.due_at == created + timedelta(hours=24)
