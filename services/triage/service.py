"""Triage as other services use it: evaluate answers against the current ruleset."""

from datetime import date

from services.triage import engine, ruleset
from services.triage.ruleset import Ruleset
from services.triage.schemas import Answers, TriageResult


def current_ruleset() -> Ruleset:
    return ruleset.load()


def evaluate(answers: Answers, birth_date: date | None, on: date) -> TriageResult:
    """Triage on the intake date `on` (the age is taken on that day; None: not known).
    Stores nothing; the same input always gives the same result for one ruleset version."""
    return engine.evaluate(answers, ruleset.load(), birth_date, on)
