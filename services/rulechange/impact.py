"""What a candidate rules file would change (SPEC §5a): every stored intake that is not erased,
triaged with the deployed rules and with the candidate, counted per urgency and per rule.

Reads only: each page is read in a transaction that writes nothing (READ ONLY on PostgreSQL),
a page of intakes at a time, so memory stays bounded however many intakes there are.
"""

import uuid
from collections import Counter
from typing import get_args

from services.core.db import Database, read_only
from services.intake import service as intake
from services.rulechange.schemas import Directions, ImpactReport, RuleImpact
from services.triage import service as triage
from services.triage.ruleset import Ruleset
from services.triage.schemas import Pathway, TriageResult, Urgency

PAGE = 500
URGENCIES: tuple[Urgency, ...] = get_args(Urgency)
_URGENCY_RANK = {u: i for i, u in enumerate(URGENCIES)}
_PATHWAY_RANK = {p: i for i, p in enumerate(get_args(Pathway))}


def _direction(new: float, old: float) -> str:
    return "more_urgent" if new < old else "less_urgent" if new > old else "unchanged"


def changed_rules(deployed: Ruleset, candidate: Ruleset) -> set[str]:
    """Rules added, removed, or defined differently (condition, outcome, citations...)."""
    before, after = {r.id: r for r in deployed.rules}, {r.id: r for r in candidate.rules}
    return {i for i in before.keys() | after.keys() if before.get(i) != after.get(i)}


class _Tally:
    def __init__(self, changed: set[str]) -> None:
        self.changed_rules = changed
        self.intakes = 0
        self.by_urgency: Counter[tuple[str, str]] = Counter()
        self.dimensions: dict[str, Counter[str]] = {"urgency": Counter(), "pathway": Counter(), "due_time": Counter()}
        self.overall: Counter[str] = Counter()
        self.fires: Counter[tuple[str, str]] = Counter()  # (rule, "now" | "candidate" | "starts" | "stops")
        self.moved: Counter[tuple[str, str]] = Counter()  # (rule, direction of the result)

    def add(self, now: TriageResult, fired_now: list[str], cand: TriageResult, fired_cand: list[str]) -> None:
        self.intakes += 1
        self.by_urgency[(now.urgency, cand.urgency)] += 1
        directions = {
            "urgency": _direction(_URGENCY_RANK[cand.urgency], _URGENCY_RANK[now.urgency]),
            "pathway": _direction(_PATHWAY_RANK[cand.pathway], _PATHWAY_RANK[now.pathway]),
            "due_time": _direction(cand.due_within_hours, now.due_within_hours),
        }
        for dimension, direction in directions.items():
            self.dimensions[dimension][direction] += 1
        # As re-triage would act: more urgent in any dimension escalates; otherwise less in any is a suggestion.
        overall = (
            "more_urgent"
            if "more_urgent" in directions.values()
            else "less_urgent"
            if "less_urgent" in directions.values()
            else "unchanged"
        )
        self.overall[overall] += 1
        before, after = set(fired_now), set(fired_cand)
        for rule in before:
            self.fires[(rule, "now")] += 1
        for rule in after:
            self.fires[(rule, "candidate")] += 1
        for rule, change in [(r, "starts") for r in after - before] + [(r, "stops") for r in before - after]:
            self.fires[(rule, change)] += 1
        # Results a rule has a hand in moving: where its firing changes, or where it fires and changed.
        for rule in (after ^ before) | ((after | before) & self.changed_rules):
            self.moved[(rule, overall)] += 1

    def report(self, deployed: Ruleset, candidate: Ruleset) -> ImpactReport:
        ids = list(dict.fromkeys([r.id for r in deployed.rules] + [r.id for r in candidate.rules]))
        rules = [
            RuleImpact(
                rule=rule,
                fires_now=self.fires[(rule, "now")],
                fires_with_candidate=self.fires[(rule, "candidate")],
                starts_firing=self.fires[(rule, "starts")],
                stops_firing=self.fires[(rule, "stops")],
                changed=rule in self.changed_rules,
                results_more_urgent=self.moved[(rule, "more_urgent")],
                results_less_urgent=self.moved[(rule, "less_urgent")],
            )
            for rule in ids
            if self.fires[(rule, "starts")] or self.fires[(rule, "stops")] or rule in self.changed_rules
        ]
        return ImpactReport(
            deployed_version=deployed.version,
            candidate_version=candidate.version,
            intakes=self.intakes,
            changed=self.overall["more_urgent"] + self.overall["less_urgent"],
            overall=Directions(**self.overall),
            by_urgency={u: {v: self.by_urgency[(u, v)] for v in URGENCIES} for u in URGENCIES},
            urgency=Directions(**self.dimensions["urgency"]),
            pathway=Directions(**self.dimensions["pathway"]),
            due_time=Directions(**self.dimensions["due_time"]),
            rules=rules,
            warnings=version_warnings(deployed, candidate),
        )


def version_warnings(deployed: Ruleset, candidate: Ruleset) -> list[str]:
    """A changed rule keeps its version, or changed rules keep the ruleset's: re-triage would not
    see the change (it runs when the ruleset version differs)."""
    before = {r.id: r for r in deployed.rules}
    warnings = [
        f"rule {r.id} changed but keeps version {r.version}: bump it"
        for r in candidate.rules
        if r.id in before and r != before[r.id] and r.version == before[r.id].version
    ]
    if candidate.version == deployed.version and candidate != deployed:
        warnings.append(f"the rules changed but the ruleset keeps version {deployed.version}: bump `version`")
    return warnings


async def impact(database: Database, candidate: Ruleset) -> ImpactReport:
    """Triage every intake not erased with the deployed rules and with `candidate`; writes nothing."""
    deployed = triage.current_ruleset()
    tally = _Tally(changed_rules(deployed, candidate))
    async with read_only(database) as session:
        clinics = await intake.clinics_with_intakes(session)
    for clinic_id in clinics:
        after: uuid.UUID | None = None
        while True:
            async with read_only(database) as session:
                page = await intake.page_for_triage(session, clinic_id, after, PAGE)
            for read in page:
                birth = read.intake.patient.birth_date
                now, fired_now = triage.run(read.intake, birth, read.on, deployed)
                cand, fired_cand = triage.run(read.intake, birth, read.on, candidate)
                tally.add(now, fired_now, cand, fired_cand)
            if len(page) < PAGE:
                break
            after = page[-1].intake.id
    return tally.report(deployed, candidate)
