"""The impact report of a candidate rules file: counts that match a direct re-triage, nothing
written, a clear error for a file that does not load, and memory that does not grow with the
number of intakes."""

import json
import os
import re
import subprocess
import sys
import tracemalloc
import uuid
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, insert, select
from sqlmodel import col

from services.clinics.schemas import ClinicCreated
from services.core.config import Settings
from services.core.db import Database
from services.export.models import ExportItem
from services.intake.models import Intake
from services.intake.schemas import StoredIntake
from services.privacy import service as privacy
from services.privacy.schemas import ErasureIn
from services.referrals.models import Referral, ReferralEvent
from services.rulechange import impact as impact_module
from services.rulechange.impact import impact
from services.triage import ruleset as rules_module
from services.triage import service as triage
from services.triage.ruleset import Ruleset
from tests.factories import committed_clinic, intake_body, make_user
from tests.rulechange.conftest import made_under_old_rules

BACKSTRIDE = str(Path(sys.executable).with_name("backstride"))
URGENCY_RANK = {"emergency": 0, "urgent": 1, "routine": 2, "self_care": 3}


def candidate_text() -> str:
    """The deployed rules with two changes: pain for 4 weeks is enough for physiotherapy (more
    urgent for 4-5 weeks), and new trouble walking alone goes to a doctor within 24 h instead of
    the same day (less urgent)."""
    text = rules_module.RULES_FILE.read_text(encoding="utf-8")
    for old, new in [
        ("    when: {field: pain.weeks_since_onset, gte: 6}", "    when: {field: pain.weeks_since_onset, gte: 4}"),
        (
            "    when: {field: neuro.walking_difficulty, equals: true}\n    urgency: urgent\n"
            "    pathway: same_day_medical\n    due_within_hours: 12",
            "    when: {field: neuro.walking_difficulty, equals: true}\n    urgency: urgent\n"
            "    pathway: urgent_medical\n    due_within_hours: 24",
        ),
        (f'version: "{triage.current_ruleset().version}"', 'version: "2099.01.1"'),
    ]:
        assert old in text
        text = text.replace(old, new, 1)
    return text


SEEDED: list[dict[str, Any]] = [
    intake_body(),
    intake_body(pain={"weeks_since_onset": 4}),
    intake_body(pain={"weeks_since_onset": 5}),
    intake_body(pain={"weeks_since_onset": 6}),
    intake_body(neuro={"walking_difficulty": True}),
    intake_body(neuro={"saddle_numbness": True}),
    intake_body(history={"fever": True}),
]


@pytest.fixture
async def seeded(database: Database) -> Any:
    async with committed_clinic(database) as clinic:
        for body in SEEDED:
            await made_under_old_rules(
                database, clinic, body, urgency="routine", pathway="physiotherapy", due_hours=120
            )
        # One more, someone else's, erased: the report leaves it out.
        other = intake_body(neuro={"bladder_or_bowel_change": True}, patient={"given_name": "Ola", "family_name": "X"})
        erased = await made_under_old_rules(
            database, clinic, other, urgency="routine", pathway="physiotherapy", due_hours=120
        )
        async with database.sessionmaker() as session, session.begin():
            admin, _ = await make_user(session, clinic.slug, "clinic_admin")
            principal = await _admin_principal(session, admin)
            await privacy.erase(session, principal, ErasureIn(referral_id=erased, reason="patient asked"))
        yield clinic


async def _admin_principal(session: Any, admin: Any) -> Any:
    from services.core.principal import Principal

    return Principal(clinic_id=admin.clinic_id, kind="user", scopes=frozenset({"clinic:admin", "exports:admin"}),
                     user_id=admin.id, label=admin.email)  # fmt: skip


async def direct_retriage(database: Database, candidate: Ruleset) -> tuple[Counter[tuple[str, str]], Counter[str]]:
    """Every intake not erased, triaged by hand with both rulesets: (urgency now → then, directions)."""
    async with database.sessionmaker() as session:
        rows = (await session.execute(select(Intake).where(col(Intake.erased_at).is_(None)))).scalars().all()
    matrix: Counter[tuple[str, str]] = Counter()
    directions: Counter[str] = Counter()
    for row in rows:
        stored = StoredIntake.model_validate({**row.answers, "id": row.id, "created_at": row.created_at},
                                             context={"stored": True})  # fmt: skip
        on = row.intake_date or row.created_at.date()
        now = triage.run(stored, stored.patient.birth_date, on)[0]
        then = triage.run(stored, stored.patient.birth_date, on, candidate)[0]
        matrix[(now.urgency, then.urgency)] += 1
        now_key = (URGENCY_RANK[now.urgency], now.due_within_hours)
        then_key = (URGENCY_RANK[then.urgency], then.due_within_hours)
        pathway_changed = now.pathway != then.pathway
        if then_key < now_key or (pathway_changed and then_key == now_key and then.pathway < now.pathway):
            directions["more_urgent"] += 1
        elif then_key != now_key or pathway_changed:
            directions["less_urgent"] += 1
        else:
            directions["unchanged"] += 1
    return matrix, directions


async def snapshot(database: Database) -> dict[str, Any]:
    async with database.sessionmaker() as session:
        state: dict[str, Any] = {
            str(m.__tablename__): (await session.execute(select(func.count()).select_from(m))).scalar_one()
            for m in (Intake, Referral, ReferralEvent, ExportItem)
        }
        state["last_update"] = (await session.execute(select(func.max(Referral.updated_at)))).scalar_one()
        return state


async def test_counts_match_a_direct_re_triage_and_nothing_is_written(
    database: Database, seeded: ClinicCreated
) -> None:
    candidate = triage.parse_rules(candidate_text())
    before = await snapshot(database)
    report = await impact(database, candidate)
    assert await snapshot(database) == before
    matrix, directions = await direct_retriage(database, candidate)
    assert report.intakes == sum(matrix.values()) >= len(SEEDED)
    assert {(a, b): n for a, row in report.by_urgency.items() for b, n in row.items() if n} == dict(matrix)
    assert report.overall.model_dump() == {k: directions[k] for k in ("more_urgent", "less_urgent", "unchanged")}
    rules = {r.rule: r for r in report.rules}
    assert set(rules) == {"RT-LONG-DURATION", "RF-WALKING-DIFFICULTY"}
    # The seeded 4- and 5-week intakes go from self-care to physiotherapy.
    assert rules["RT-LONG-DURATION"].starts_firing >= 2 and rules["RT-LONG-DURATION"].results_more_urgent >= 2
    assert rules["RT-LONG-DURATION"].results_less_urgent == 0
    # Walking difficulty still fires, with a less urgent outcome.
    walking = rules["RF-WALKING-DIFFICULTY"]
    assert walking.changed and walking.starts_firing == walking.stops_firing == 0 and walking.results_less_urgent >= 1
    assert report.pathway.less_urgent >= 1 and report.due_time.less_urgent >= 1
    assert report.candidate_version == "2099.01.1"
    assert sorted(report.warnings) == [
        "rule RF-WALKING-DIFFICULTY changed but keeps version 1: bump it",
        "rule RT-LONG-DURATION changed but keeps version 1: bump it",
    ]


def cli(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DATABASE_URL": settings.database_url, "SECRET_KEY": settings.secret_key.get_secret_value(),
           "BACKSTRIDE_ENV": "test"}  # fmt: skip
    return subprocess.run([BACKSTRIDE, "triage", *args], env=env, capture_output=True, text=True, timeout=120)


async def test_the_command_prints_a_table_and_json(
    database: Database, settings: Settings, seeded: ClinicCreated, tmp_path: Path
) -> None:
    rules = tmp_path / "candidate.yaml"
    rules.write_text(candidate_text(), encoding="utf-8")
    table = cli(settings, "impact", "--rules", str(rules))
    assert table.returncode == 0, table.stderr
    assert "Urgency now -> with the candidate" in table.stdout and "RT-LONG-DURATION" in table.stdout
    printed = cli(settings, "impact", "--rules", str(rules), "--json")
    report = json.loads(printed.stdout)
    assert report["deployed_version"] == triage.current_ruleset().version
    assert report == json.loads((await impact(database, triage.parse_rules(candidate_text()))).model_dump_json())


BROKEN = [
    (("    urgency: emergency\n", "    urgency: emergancy\n"), "rule RF-SADDLE-NUMBNESS, field urgency"),
    (("{field: neuro.saddle_numbness,", "{field: neuro.saddle,"), "rule RF-SADDLE-NUMBNESS: `when` reads unknown"),
    (("persistent pain that does not improve with rest", "pain that never improves"), "quote not verbatim"),
    (("rules:\n", "rules: [\n"), "not valid YAML"),
]


def broken(edit: tuple[str, str]) -> str:
    return rules_module.RULES_FILE.read_text(encoding="utf-8").replace(*edit, 1)


@pytest.mark.parametrize(("edit", "names"), BROKEN, ids=[n for _, n in BROKEN])
def test_a_rules_file_that_does_not_load_names_the_rule_and_field(edit: tuple[str, str], names: str) -> None:
    with pytest.raises(triage.RulesError, match=re.escape(names)):
        triage.parse_rules(broken(edit))


def test_the_command_refuses_a_rules_file_that_does_not_load(tmp_path: Path) -> None:
    rules = tmp_path / "broken.yaml"
    rules.write_text(broken(BROKEN[0][0]), encoding="utf-8")
    env = {**os.environ, "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/unused.db", "BACKSTRIDE_ENV": "test",
           "SECRET_KEY": "s" * 40}  # fmt: skip
    result = subprocess.run([BACKSTRIDE, "triage", "impact", "--rules", str(rules)], env=env, capture_output=True,
                            text=True, timeout=120)  # fmt: skip
    assert result.returncode == 2 and result.stdout == ""
    assert "does not load" in result.stderr and BROKEN[0][1] in result.stderr
    assert not (tmp_path / "unused.db").exists()  # refused before touching any database


async def _peak_bytes(database: Database, candidate: Ruleset) -> int:
    tracemalloc.start()
    try:
        await impact(database, candidate)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


async def test_memory_does_not_grow_with_the_number_of_intakes(
    database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Pages of 30: the peak with 1,500 intakes stays within a small margin of the peak with 150."""
    monkeypatch.setattr(impact_module, "PAGE", 30)
    candidate = triage.parse_rules(candidate_text())
    answers = intake_body()
    async with committed_clinic(database) as clinic:

        async def add(n: int) -> None:
            rows = [{"id": uuid.uuid4(), "clinic_id": clinic.clinic_id, "created_at": datetime.now(UTC),
                     "answers": answers} for _ in range(n)]  # fmt: skip
            async with database.sessionmaker() as session, session.begin():
                await session.execute(insert(Intake), rows)

        await add(150)
        small = await _peak_bytes(database, candidate)
        await add(1350)
        large = await _peak_bytes(database, candidate)
    assert large < small * 1.3 + 256 * 1024, (small, large)
