"""Triage as other services use it: evaluate answers against the current ruleset."""

from services.triage import engine, ruleset
from services.triage.ruleset import Ruleset
from services.triage.schemas import Answers, TriageResult


def current_ruleset() -> Ruleset:
    return ruleset.load()


def evaluate(answers: Answers) -> TriageResult:
    """Stores nothing; the same answers always give the same result for one ruleset version."""
    return engine.evaluate(answers, ruleset.load())
