"""The triage engine: a pure function of the answers and the ruleset."""

from typing import Any

from services.triage.ruleset import Condition, Rule, Ruleset
from services.triage.schemas import Answers, FocusArea, Reason, RedFlag, Source, TriageResult, Urgency

# Highest first: the highest urgency any matching rule sets wins.
URGENCY_ORDER: tuple[Urgency, ...] = ("emergency", "urgent", "routine", "self_care")
_RANK = {u: i for i, u in enumerate(URGENCY_ORDER)}


def _value(data: dict[str, Any], path: str) -> Any:
    for part in path.split("."):
        data = data[part]
    return data


def holds(condition: Condition, data: dict[str, Any]) -> bool:
    if condition.all is not None:
        return all(holds(c, data) for c in condition.all)
    if condition.any is not None:
        return any(holds(c, data) for c in condition.any)
    if condition.not_ is not None:
        return not holds(condition.not_, data)
    assert condition.field is not None  # guaranteed by Condition's validator
    value = _value(data, condition.field)
    if condition.equals is not None:
        # bool is an int in Python: keep `equals: 0` from matching False.
        if isinstance(value, bool) or isinstance(condition.equals, bool):
            return value is condition.equals
        return bool(value == condition.equals)
    if condition.one_of is not None:
        return value in condition.one_of
    if condition.contains is not None:
        return condition.contains in (value or [])
    if condition.not_empty is not None:
        return bool(value) == condition.not_empty
    if condition.gt is not None:
        return value is not None and value > condition.gt
    if condition.gte is not None:
        return value is not None and value >= condition.gte
    return False


def _unique_sources(sources: list[Source]) -> list[Source]:
    seen: dict[tuple[str, str | None], Source] = {}
    for s in sources:
        seen.setdefault((s.document, s.quote), s)
    return list(seen.values())


def _focus_areas(matched: list[Rule]) -> list[FocusArea]:
    """One entry per focus code; several rules supporting it pool their reasons and sources."""
    merged: dict[str, FocusArea] = {}
    for rule in matched:
        if rule.focus is None:
            continue
        current = merged.get(rule.focus.code)
        if current is None:
            merged[rule.focus.code] = FocusArea(
                code=rule.focus.code, label=rule.focus.label, why=rule.why or "", sources=list(rule.sources)
            )
        else:
            current.why = f"{current.why} {rule.why}".strip()
            current.sources = _unique_sources(current.sources + rule.sources)
    return list(merged.values())


def evaluate(answers: Answers, ruleset: Ruleset) -> TriageResult:
    data = answers.model_dump()
    matched = [rule for rule in ruleset.rules if holds(rule.when, data)]
    referring = sorted((r for r in matched if r.urgency), key=lambda r: _RANK[r.urgency or "self_care"])
    urgency: Urgency = referring[0].urgency if referring and referring[0].urgency else "self_care"

    red_flags: dict[str, RedFlag] = {}
    for rule in referring:
        if rule.red_flag is not None:
            red_flags.setdefault(rule.red_flag.code, rule.red_flag)

    if referring:
        reasons = [Reason(rule=r.id, summary=r.summary or "", sources=r.sources) for r in referring]
        extra_advice = [a for r in referring for a in r.advice]
    else:
        sc = ruleset.self_care
        reasons = [Reason(rule=sc.id, summary=sc.summary, sources=sc.sources)]
        extra_advice = list(sc.advice)

    advice = list(dict.fromkeys([ruleset.urgency_advice[urgency], *extra_advice]))
    focus = [] if urgency in ruleset.no_focus_at else _focus_areas(matched)
    return TriageResult(
        ruleset_version=ruleset.version,
        urgency=urgency,
        seek_professional_help=urgency != "self_care",
        red_flags=sorted(red_flags.values(), key=lambda f: not f.emergency),
        reasons=reasons,
        focus_areas=focus,
        advice=advice,
        disclaimer=ruleset.disclaimer,
    )
