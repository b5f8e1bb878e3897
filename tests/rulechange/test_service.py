"""Re-triage of waiting referrals under a new ruleset (SPEC §5a), on both databases."""

import asyncio
import json
import os
import sys
from datetime import timedelta
from pathlib import Path

from services.clinics.schemas import ClinicCreated
from services.core.config import Settings
from services.core.db import Database
from services.rulechange import service as rulechange
from services.triage import service as triage
from tests.live import serve
from tests.rulechange.conftest import OLD_VERSION, events, exports, intake_body, made_under_old_rules, referral


async def test_a_more_urgent_result_escalates_the_referral(database: Database, old_clinic: ClinicCreated) -> None:
    # Under the old rules: routine, 5 days. Under the deployed ones: walking difficulty, a doctor today.
    body = intake_body(neuro={"walking_difficulty": True})
    referral_id = await made_under_old_rules(
        database, old_clinic, body, urgency="routine", pathway="physiotherapy", due_hours=120
    )
    before = await referral(database, referral_id)
    report = await rulechange.retriage(database)
    assert report.escalated >= 1
    after = await referral(database, referral_id)
    assert (after.urgency, after.pathway) == ("urgent", "same_day_medical")
    assert after.due_at == before.created_at + timedelta(hours=12) < before.due_at
    assert after.ruleset_version == triage.current_ruleset().version == after.triage["ruleset_version"]
    assert after.version == before.version + 1
    [retriaged] = [e for e in await events(database, referral_id) if e.action == "retriaged"]
    assert retriaged.actor_type == "system" and retriaged.detail is not None
    assert (
        retriaged.detail["from"]["urgency"] == "routine" and retriaged.detail["from"]["ruleset_version"] == OLD_VERSION
    )
    assert (retriaged.detail["to"]["urgency"], retriaged.detail["to"]["pathway"]) == ("urgent", "same_day_medical")
    assert await exports(database, referral_id) == ["referral.created", "referral.retriaged"]


async def test_due_at_never_moves_later(database: Database, old_clinic: ClinicCreated) -> None:
    # Old: routine but due in 12 h (notes); new: a doctor within 24 h. More urgent in urgency and
    # pathway, later in due time: escalated, keeping the earlier due time.
    body = intake_body(history={"fever": True})
    referral_id = await made_under_old_rules(
        database, old_clinic, body, urgency="routine", pathway="physiotherapy", due_hours=12
    )
    before = await referral(database, referral_id)
    await rulechange.retriage(database)
    after = await referral(database, referral_id)
    assert (after.urgency, after.pathway) == ("urgent", "urgent_medical")
    assert after.due_at == before.due_at


async def test_a_less_urgent_result_is_only_suggested(database: Database, old_clinic: ClinicCreated) -> None:
    body = intake_body()  # self-care under the deployed rules
    referral_id = await made_under_old_rules(
        database, old_clinic, body, urgency="urgent", pathway="urgent_medical", due_hours=24
    )
    before = await referral(database, referral_id)
    report = await rulechange.retriage(database)
    assert report.suggested >= 1
    after = await referral(database, referral_id)
    kept = ("urgency", "pathway", "due_at", "triage", "ruleset_version", "version", "updated_at")
    assert {k: getattr(after, k) for k in kept} == {k: getattr(before, k) for k in kept}
    assert after.rules_checked_version == triage.current_ruleset().version
    [suggested] = [e for e in await events(database, referral_id) if e.action == "retriage_suggested"]
    assert suggested.detail is not None and suggested.detail["from"]["urgency"] == "urgent"
    assert (suggested.detail["suggested"]["urgency"], suggested.detail["suggested"]["pathway"]) == (
        "self_care",
        "self_management",
    )
    assert await exports(database, referral_id) == ["referral.created"]  # nothing changed to send


async def test_the_same_result_is_recorded_without_an_export(database: Database, old_clinic: ClinicCreated) -> None:
    body = intake_body(pain={"side": "left"})  # routine, physiotherapy, 120 h under both
    referral_id = await made_under_old_rules(
        database, old_clinic, body, urgency="routine", pathway="physiotherapy", due_hours=120
    )
    await rulechange.retriage(database)
    after = await referral(database, referral_id)
    assert after.ruleset_version == triage.current_ruleset().version
    [retriaged] = [e for e in await events(database, referral_id) if e.action == "retriaged"]
    assert retriaged.detail is not None and retriaged.detail["from"]["urgency"] == retriaged.detail["to"]["urgency"]
    assert await exports(database, referral_id) == ["referral.created"]


async def test_retriage_is_idempotent(database: Database, old_clinic: ClinicCreated) -> None:
    escalate = await made_under_old_rules(
        database, old_clinic, intake_body(history={"fever": True}), urgency="routine", pathway="physiotherapy",
        due_hours=120,
    )  # fmt: skip
    suggest = await made_under_old_rules(
        database, old_clinic, intake_body(), urgency="urgent", pathway="urgent_medical", due_hours=24
    )
    await rulechange.retriage(database)
    states = [await referral(database, r) for r in (escalate, suggest)]
    again = await rulechange.retriage(database)
    assert (again.escalated, again.suggested, again.unchanged) == (0, 0, 0)
    assert [await referral(database, r) for r in (escalate, suggest)] == states
    for referral_id in (escalate, suggest):
        actions = [e.action for e in await events(database, referral_id)]
        assert actions.count("retriaged") + actions.count("retriage_suggested") == 1


async def test_referrals_past_review_or_erased_are_never_touched(database: Database, old_clinic: ClinicCreated) -> None:
    body = intake_body(neuro={"saddle_numbness": True})  # an emergency under the deployed rules
    untouched = [
        await made_under_old_rules(
            database, old_clinic, body, urgency="routine", pathway="physiotherapy", due_hours=120, status=status
        )
        for status in ("accepted", "declined", "scheduled", "closed")
    ]
    before = [await referral(database, r) for r in untouched]
    await rulechange.retriage(database)
    assert [await referral(database, r) for r in untouched] == before
    for referral_id in untouched:
        assert [e.action for e in await events(database, referral_id)] == ["created"]


async def test_an_in_review_referral_is_escalated_too(database: Database, old_clinic: ClinicCreated) -> None:
    referral_id = await made_under_old_rules(
        database, old_clinic, intake_body(neuro={"saddle_numbness": True}), urgency="routine",
        pathway="physiotherapy", due_hours=120, status="in_review",
    )  # fmt: skip
    await rulechange.retriage(database)
    after = await referral(database, referral_id)
    assert (after.urgency, after.pathway, after.status) == ("emergency", "emergency_department", "in_review")


async def test_processes_re_triaging_at_once_escalate_each_referral_once(
    database: Database, settings: Settings, old_clinic: ClinicCreated
) -> None:
    """Two API processes starting at once (PostgreSQL; one on SQLite) and the CLI command, all at
    the same time: each referral is escalated once, with one event and one export."""
    made = [
        await made_under_old_rules(
            database, old_clinic, intake_body(history={"fever": True}), urgency="routine", pathway="physiotherapy",
            due_hours=120,
        )
        for _ in range(120)
    ]  # fmt: skip
    env = {"DATABASE_URL": settings.database_url, "SECRET_KEY": settings.secret_key.get_secret_value(),
           "BACKSTRIDE_ENV": "test"}  # fmt: skip
    cli = await asyncio.create_subprocess_exec(
        str(Path(sys.executable).with_name("backstride")), "triage", "retriage", "--json",
        env={**os.environ, **env}, stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    with serve(env, workers=1 if settings.is_sqlite else 2):  # each process re-triages as it starts
        out, _ = await asyncio.wait_for(cli.communicate(), timeout=120)
    assert cli.returncode == 0
    assert json.loads(out)["escalated"] <= len(made)
    for referral_id in made:
        actions = [e.action for e in await events(database, referral_id)]
        assert actions.count("retriaged") == 1, actions
        assert await exports(database, referral_id) == ["referral.created", "referral.retriaged"]
        assert (await referral(database, referral_id)).urgency == "urgent"
