"""Triage as other services use it: evaluate answers against the current ruleset (or a candidate)."""

__all__ = [
    "Document",
    "RulesError",
    "UnknownDocument",
    "current_ruleset",
    "emergency_answers",
    "evaluate",
    "parse_rules",
    "run",
    "source_document",
    "source_link",
    "source_title",
]

from datetime import date

from services.triage import engine, ruleset
from services.triage.documents import Document, UnknownDocument
from services.triage.documents import document as source_document
from services.triage.documents import link as source_link
from services.triage.documents import title as source_title
from services.triage.ruleset import RulesError, Ruleset
from services.triage.schemas import Answers, TriageResult


def current_ruleset() -> Ruleset:
    return ruleset.load()


def emergency_answers() -> dict[str, bool]:
    """Answers that by themselves make the result an emergency: the deployed ruleset's emergency
    rules whose whole condition is one yes/no answer (`neuro.saddle_numbness` is true, ...)."""
    return {
        rule.when.field: rule.when.equals
        for rule in ruleset.load().rules
        if rule.urgency == "emergency"
        and rule.when.field is not None
        and not rule.when.field.startswith("facts.")
        and isinstance(rule.when.equals, bool)
    }


def parse_rules(text: str) -> Ruleset:
    """A candidate ruleset from YAML text, checked as the deployed one is; RulesError names the
    rule and the field that do not load."""
    return ruleset.parse(text)


def run(
    answers: Answers, birth_date: date | None, on: date, rules: Ruleset | None = None
) -> tuple[TriageResult, list[str]]:
    """Triage with `rules` (default: the deployed ruleset): the result and the ids of the rules that fired."""
    return engine.run(answers, rules or ruleset.load(), birth_date, on)


def evaluate(answers: Answers, birth_date: date | None, on: date) -> TriageResult:
    """Triage on the intake date `on` (the age is taken on that day; None: not known).
    Stores nothing; the same input always gives the same result for one ruleset version."""
    return engine.evaluate(answers, ruleset.load(), birth_date, on)
