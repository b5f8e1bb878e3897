"""The triage rules as data: their model, and loading them from rules.yaml.

Loading checks what a careless edit could break, and names the rule and field
when it fails: every field a condition reads exists (in the answers, or among
the facts of facts.py), every `quote` is verbatim in its document, rule ids
are unique, and each rule's urgency, pathway and due time agree.
"""

from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from services.triage.notes import TermMatcher
from services.triage.schemas import (
    PATHWAY_DUE_HOURS,
    Answers,
    ClinicianReview,
    FocusCode,
    Pathway,
    RedFlag,
    Source,
    Urgency,
)

RULES_FILE = Path(__file__).with_name("rules.yaml")
SOURCES_DIR = Path(__file__).with_name("sources")

# The facts a condition may read as `facts.<name>` (facts.py and the engine compute them).
FACTS = frozenset(
    {
        "age",
        "onset_age",
        "leg_pain",
        "leg_weakness",
        "leg_symptom",
        "other_leg_symptom",
        "bilateral_leg_symptoms",
        "night_pain",
        "fever",
        "immunosuppressed",
        "fragile_bone",
        "infection_risk",
        "significant_trauma",
        "not_asked",
        "free_text",
        "notes_terms",
    }
)
# Which pathways belong to which urgency (SPEC §5).
PATHWAYS_OF: dict[Urgency, tuple[Pathway, ...]] = {
    "emergency": ("emergency_department",),
    "urgent": ("same_day_medical", "urgent_medical"),
    "routine": ("medical_review", "physiotherapy"),
    "self_care": ("self_management",),
}

Scalar = bool | int | float | str


class RulesError(ValueError):
    """rules.yaml does not load; the message names the rule and the field."""


class Condition(BaseModel):
    """A predicate over the answers and facts: exactly one of `all`, `any`, `not`, or a
    `field` (dotted path) with exactly one comparison. A field that was not asked (None)
    makes its comparison unknown, and unknown never makes a rule fire."""

    model_config = ConfigDict(extra="forbid")

    all: list["Condition"] | None = None
    any: list["Condition"] | None = None
    not_: "Condition | None" = Field(default=None, alias="not")
    field: str | None = None
    equals: Scalar | None = None
    one_of: list[Scalar] | None = None
    contains: Scalar | None = None
    not_empty: bool | None = None
    gt: float | None = None
    gte: float | None = None
    lt: float | None = None
    lte: float | None = None

    @model_validator(mode="after")
    def _one_shape(self) -> "Condition":
        combinators = [x for x in (self.all, self.any, self.not_, self.field) if x is not None]
        if len(combinators) != 1:
            raise ValueError("a condition has exactly one of all, any, not, field")
        tests = [
            x
            for x in (self.equals, self.one_of, self.contains, self.not_empty, self.gt, self.gte, self.lt, self.lte)
            if x is not None
        ]
        if len(tests) != (1 if self.field is not None else 0):
            raise ValueError("a field condition has exactly one comparison")
        return self

    def fields(self) -> list[str]:
        children = (self.all or []) + (self.any or []) + ([self.not_] if self.not_ else [])
        return ([self.field] if self.field else []) + [f for c in children for f in c.fields()]


class FocusRef(BaseModel):
    code: FocusCode
    label: str


class Rule(BaseModel):
    """One rule: when it holds, what it yields. A rule that sets an urgency also names a
    pathway and a due time; emergency and urgent rules name the red flag they found."""

    model_config = ConfigDict(extra="forbid")

    id: str
    version: int
    when: Condition
    urgency: Urgency | None = None
    pathway: Pathway | None = None
    due_within_hours: int | None = Field(default=None, ge=0)
    red_flag: RedFlag | None = None
    clinician_review: ClinicianReview | None = None
    focus: FocusRef | None = None
    summary: str | None = None
    why: str | None = None
    advice: list[str] = []
    sources: list[Source] = Field(min_length=1)

    @model_validator(mode="after")
    def _consistent(self) -> "Rule":
        if self.urgency is None and self.focus is None and self.clinician_review is None:
            raise ValueError("yields neither an urgency, a clinician review nor a focus area")
        if (self.urgency is None) != (self.pathway is None) or (self.urgency is None) != (
            self.due_within_hours is None
        ):
            raise ValueError("urgency, pathway and due_within_hours come together")
        if self.urgency is not None and self.pathway not in PATHWAYS_OF[self.urgency]:
            raise ValueError(f"pathway {self.pathway} does not belong to urgency {self.urgency}")
        due, pathway = self.due_within_hours, self.pathway
        if pathway is not None and due is not None and due > PATHWAY_DUE_HOURS[pathway]:
            raise ValueError(f"due_within_hours is longer than {self.pathway} allows")
        if (self.urgency in ("emergency", "urgent")) != (self.red_flag is not None):
            raise ValueError("emergency and urgent rules, and only they, name a red flag")
        if self.red_flag is not None and self.red_flag.emergency != (self.urgency == "emergency"):
            raise ValueError("red_flag.emergency says whether the rule is an emergency")
        if (self.urgency is not None or self.clinician_review is not None) and not self.summary:
            raise ValueError("sets an urgency or a clinician review without a summary")
        if self.focus is not None and not self.why:
            raise ValueError("suggests a focus area without saying why")
        return self


class SelfCare(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str
    pathway: Pathway
    due_within_hours: int
    summary: str
    sources: list[Source]
    advice: list[str]


class Ruleset(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: str
    disclaimer: str
    # The clinical guidance cited by name (kind guideline); a citation must name one of these.
    guidance: list[str] = Field(min_length=1)
    # Placed first in `advice`, by the result's pathway: where to go and by when.
    pathway_advice: dict[Pathway, str]
    # What should make the person seek help sooner (urgent and routine results).
    safety_net: str
    self_care: SelfCare
    no_focus_at: list[Urgency]
    after_medical_assessment_at: list[Urgency]
    notes_terms: list[str] = Field(min_length=1, description="Word stems and phrasings that suggest a red flag")
    rules: list[Rule]

    def citations(self) -> list[Source]:
        return [s for r in self.rules for s in r.sources] + list(self.self_care.sources)

    def matcher(self) -> TermMatcher:
        return _matcher(tuple(self.notes_terms))


@lru_cache(maxsize=8)
def _matcher(terms: tuple[str, ...]) -> TermMatcher:
    return TermMatcher(terms)


def _field_exists(path: str) -> bool:
    if path.startswith("facts."):
        return path.removeprefix("facts.") in FACTS
    model: Any = Answers
    for part in path.split("."):
        fields = getattr(model, "model_fields", None)
        if fields is None or part not in fields:
            return False
        model = fields[part].annotation
        # An optional section or answer (X | None) is read through to X.
        args = [a for a in getattr(model, "__args__", ()) if a is not type(None)]
        if len(args) == 1 and hasattr(args[0], "model_fields"):
            model = args[0]
    return True


def check(ruleset: Ruleset, sources_dir: Path = SOURCES_DIR) -> None:
    """Raise RulesError if a rule names an unknown field or misquotes a document."""
    ids = [r.id for r in ruleset.rules]
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    if duplicates:
        raise RulesError(f"rule ids must be unique: {', '.join(duplicates)}")
    for rule in ruleset.rules:
        for path in rule.when.fields():
            if not _field_exists(path):
                raise RulesError(f"rule {rule.id}: `when` reads unknown field {path}")
    texts: dict[str, str] = {}
    owners = [(r.id, s) for r in ruleset.rules for s in r.sources] + [
        (ruleset.self_care.id, s) for s in ruleset.self_care.sources
    ]
    for owner, source in owners:
        if source.kind == "guideline" and source.document not in ruleset.guidance:
            raise RulesError(f"rule {owner}: guideline {source.document!r} is not listed under `guidance`")
        if source.kind != "document" or source.quote is None or source.document is None:
            continue
        if source.document not in texts:
            file = sources_dir / source.document
            if file.parent != sources_dir or not file.is_file():
                raise RulesError(f"rule {owner}: cited document {source.document} is not in {sources_dir}")
            texts[source.document] = file.read_text(encoding="utf-8")
        if source.quote not in texts[source.document]:
            raise RulesError(f"rule {owner}: quote not verbatim in {source.document}: {source.quote[:60]}")


def _where(data: Any, loc: tuple[int | str, ...]) -> str:
    """`rule RF-X, field urgency` for a validation error's location in the YAML document."""
    if len(loc) >= 2 and loc[0] == "rules" and isinstance(loc[1], int):
        rules = data.get("rules") if isinstance(data, dict) else None
        rule = rules[loc[1]] if isinstance(rules, list) and loc[1] < len(rules) else None
        name = rule.get("id", f"#{loc[1] + 1}") if isinstance(rule, dict) else f"#{loc[1] + 1}"
        field = ".".join(str(p) for p in loc[2:]) or "(the rule)"
        return f"rule {name}, field {field}"
    return "field " + (".".join(str(p) for p in loc) or "(top level)")


def parse(text: str) -> Ruleset:
    """A ruleset from YAML text, checked; RulesError names the rule and field that fail."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise RulesError(f"not valid YAML: {exc}") from exc
    try:
        ruleset = Ruleset.model_validate(data)
    except ValidationError as exc:
        problems = [f"{_where(data, e['loc'])}: {e['msg']}" for e in exc.errors()[:5]]
        raise RulesError("; ".join(problems)) from exc
    check(ruleset)
    return ruleset


@lru_cache
def load() -> Ruleset:
    return parse(RULES_FILE.read_text(encoding="utf-8"))
