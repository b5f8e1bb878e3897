"""The triage engine: a pure function of the answers, the age and the ruleset.

Conditions are read in three-valued logic: a question not asked is neither yes
nor no, so a rule needing it does not fire, and a rule that fires anyway on the
other answers still does (`any` of yes and unknown is yes). The most urgent
urgency, pathway and due time of the rules that fired win.
"""

from datetime import date
from typing import Any, get_args

from services.triage import facts as reading
from services.triage.ruleset import Condition, Rule, Ruleset
from services.triage.schemas import (
    Answers,
    ClinicianReview,
    FocusArea,
    Pathway,
    Reason,
    RedFlag,
    Source,
    TriageResult,
    Urgency,
)

# Most urgent first.
URGENCY_ORDER: tuple[Urgency, ...] = ("emergency", "urgent", "routine", "self_care")
PATHWAY_ORDER: tuple[Pathway, ...] = get_args(Pathway)
_URGENCY_RANK = {u: i for i, u in enumerate(URGENCY_ORDER)}
_PATHWAY_RANK = {p: i for i, p in enumerate(PATHWAY_ORDER)}


def _value(data: dict[str, Any], path: str) -> Any:
    for part in path.split("."):
        data = data[part]
    return data


def _compare(condition: Condition, value: Any) -> bool | None:
    if value is None:  # not asked: neither yes nor no
        return None
    if condition.equals is not None:
        # bool is an int in Python: keep `equals: 0` from matching False.
        if isinstance(value, bool) or isinstance(condition.equals, bool):
            return value is condition.equals
        return bool(value == condition.equals)
    if condition.one_of is not None:
        return value in condition.one_of
    if condition.contains is not None:
        return condition.contains in value
    if condition.not_empty is not None:
        return bool(value) == condition.not_empty
    bounds = ((condition.gt, float.__gt__), (condition.gte, float.__ge__), (condition.lt, float.__lt__))
    for bound, test in (*bounds, (condition.lte, float.__le__)):
        if bound is not None:
            return test(float(value), bound)
    return None


def holds(condition: Condition, data: dict[str, Any]) -> bool | None:
    """True, False, or None (unknown: it depends on a question not asked)."""
    if condition.all is not None:
        results = [holds(c, data) for c in condition.all]
        return False if False in results else (None if None in results else True)
    if condition.any is not None:
        results = [holds(c, data) for c in condition.any]
        return True if True in results else (None if None in results else False)
    if condition.not_ is not None:
        inner = holds(condition.not_, data)
        return None if inner is None else not inner
    assert condition.field is not None  # guaranteed by Condition's validator
    return _compare(condition, _value(data, condition.field))


def _unique_sources(sources: list[Source]) -> list[Source]:
    seen: dict[tuple[str | None, str | None, str | None], Source] = {}
    for s in sources:
        seen.setdefault((s.document, s.quote, s.statement), s)
    return list(seen.values())


def _focus_areas(matched: list[Rule], after_assessment: bool) -> list[FocusArea]:
    """One entry per focus code; several rules supporting it pool their reasons and sources."""
    merged: dict[str, FocusArea] = {}
    for rule in matched:
        if rule.focus is None:
            continue
        current = merged.get(rule.focus.code)
        if current is None:
            merged[rule.focus.code] = FocusArea(
                code=rule.focus.code,
                label=rule.focus.label,
                why=rule.why or "",
                sources=list(rule.sources),
                after_medical_assessment=after_assessment,
            )
        else:
            current.why = f"{current.why} {rule.why}".strip()
            current.sources = _unique_sources(current.sources + rule.sources)
    return list(merged.values())


def _review(rule: Rule, data: dict[str, Any]) -> ClinicianReview:
    assert rule.clinician_review is not None
    questions = ", ".join(f"{reading.RED_FLAG_QUESTIONS[q]} ({q})" for q in data["facts"]["not_asked"])
    terms = ", ".join(data["facts"]["notes_terms"])
    label = rule.clinician_review.label.format(questions=questions, terms=terms)
    return ClinicianReview(code=rule.clinician_review.code, label=label)


def read(answers: Answers, ruleset: Ruleset, birth_date: date | None, on: date) -> dict[str, Any]:
    """The answers as the rules read them: the sections, plus `facts`."""
    data = answers.model_dump()
    texts = (data.get("notes"), data["history"].get("previous_injury_notes"))
    data["facts"] = reading.facts(data, birth_date, on) | {
        "not_asked": reading.not_asked(data, birth_date),
        "free_text": any(t and t.strip() for t in texts),
        "notes_terms": ruleset.matcher().found(*texts),
    }
    return data


def evaluate(answers: Answers, ruleset: Ruleset, birth_date: date | None, on: date) -> TriageResult:
    """Triage `answers` for a person born on `birth_date` (None: unknown), on the intake date `on`."""
    return run(answers, ruleset, birth_date, on)[0]


def run(answers: Answers, ruleset: Ruleset, birth_date: date | None, on: date) -> tuple[TriageResult, list[str]]:
    """The result, and the ids of every rule that fired (focus-area rules included)."""
    data = read(answers, ruleset, birth_date, on)
    matched = [rule for rule in ruleset.rules if holds(rule.when, data) is True]
    return _result(matched, data, ruleset), [rule.id for rule in matched]


def _result(matched: list[Rule], data: dict[str, Any], ruleset: Ruleset) -> TriageResult:
    referring = sorted((r for r in matched if r.urgency), key=lambda r: _URGENCY_RANK[r.urgency or "self_care"])
    sc = ruleset.self_care
    urgency: Urgency = referring[0].urgency if referring and referring[0].urgency else "self_care"
    pathway = min((r.pathway for r in referring if r.pathway), key=_PATHWAY_RANK.__getitem__, default=sc.pathway)
    due = min((r.due_within_hours for r in referring if r.due_within_hours is not None), default=sc.due_within_hours)

    red_flags: dict[str, RedFlag] = {}
    for rule in referring:
        if rule.red_flag is not None:
            red_flags.setdefault(rule.red_flag.code, rule.red_flag)
    reviews: dict[str, ClinicianReview] = {}
    for rule in matched:
        if rule.clinician_review is not None:
            reviews.setdefault(rule.clinician_review.code, _review(rule, data))

    explaining = referring + [r for r in matched if r.clinician_review and not r.urgency]
    reasons = [Reason(rule=r.id, summary=r.summary or "", sources=r.sources) for r in explaining]
    if not referring:
        reasons.insert(0, Reason(rule=sc.id, summary=sc.summary, sources=sc.sources))
    extra_advice = [a for r in explaining for a in r.advice]
    if urgency == "self_care":
        extra_advice += sc.advice
    elif urgency != "emergency":
        extra_advice.append(ruleset.safety_net)
    advice = list(dict.fromkeys([ruleset.pathway_advice[pathway], *extra_advice]))

    after_assessment = urgency in ruleset.after_medical_assessment_at
    focus = [] if urgency in ruleset.no_focus_at else _focus_areas(matched, after_assessment)
    return TriageResult(
        ruleset_version=ruleset.version,
        urgency=urgency,
        pathway=pathway,
        due_within_hours=due,
        clinician_review=list(reviews.values()),
        seek_professional_help=urgency != "self_care",
        red_flags=sorted(red_flags.values(), key=lambda f: not f.emergency),
        reasons=reasons,
        focus_areas=focus,
        advice=advice,
        disclaimer=ruleset.disclaimer,
    )
