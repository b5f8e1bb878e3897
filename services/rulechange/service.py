"""Re-triage of waiting referrals when a new ruleset is deployed (SPEC §5a).

Runs at API start-up (before the first request is served) and as `backstride triage retriage`.
Each open referral (new, in review) not yet triaged or checked against the deployed ruleset is
triaged again from its stored intake and escalated, suggested or recorded unchanged by the
referrals service. Every step is a conditional UPDATE, so processes starting at once on
PostgreSQL re-triage each referral once; closed, accepted, declined, scheduled and erased
referrals are never read for it.
"""

import logging
import uuid
from collections import Counter

from services.core.db import Database, utcnow
from services.intake import service as intake
from services.referrals import service as referrals
from services.rulechange.schemas import RetriageReport
from services.triage import service as triage

LOG = logging.getLogger("backstride.retriage")
BATCH = 200


async def retriage(database: Database) -> RetriageReport:
    """Re-triage every open referral whose ruleset is not the deployed one; one transaction per batch."""
    version = triage.current_ruleset().version
    outcomes: Counter[str] = Counter()
    async with database.sessionmaker() as session:
        clinics = await referrals.clinics_with_open_referrals(session, version)
    for clinic_id in clinics:
        await _clinic(database, clinic_id, version, outcomes)
    report = RetriageReport(ruleset_version=version, **{o: outcomes[o] for o in RetriageReport.OUTCOMES})
    LOG.info("re-triage done", extra={"ruleset_version": version, **report.counts()})
    return report


async def _clinic(database: Database, clinic_id: uuid.UUID, version: str, outcomes: Counter[str]) -> None:
    after: uuid.UUID | None = None
    while True:
        async with database.sessionmaker() as session, session.begin():
            due = await referrals.due_for_retriage(session, clinic_id, version, after, BATCH)
            for referral in due:
                read = await intake.triage_input(session, clinic_id, referral.intake_id)
                if read is None:  # erased meanwhile: nothing to read, and nothing to change
                    outcomes["skipped"] += 1
                    continue
                result = triage.evaluate(read.intake, read.intake.patient.birth_date, read.on)
                outcomes[await referrals.apply_retriage(session, clinic_id, referral, result, utcnow())] += 1
        if len(due) < BATCH:
            return
        after = due[-1].id
