"""The triage rules as data: their model, and loading them from rules.yaml.

Loading checks what a careless edit could break: every field a condition
names exists in the answers, every `quote` is verbatim in its document,
and rule ids are unique.
"""

from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator

from services.triage.schemas import Answers, FocusCode, RedFlag, Source, Urgency

RULES_FILE = Path(__file__).with_name("rules.yaml")
SOURCES_DIR = Path(__file__).with_name("sources")

Scalar = bool | int | float | str


class Condition(BaseModel):
    """A predicate over the answers: exactly one of `all`, `any`, `not`, or a
    `field` (dotted path) with exactly one comparison."""

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

    @model_validator(mode="after")
    def _one_shape(self) -> "Condition":
        combinators = [x for x in (self.all, self.any, self.not_, self.field) if x is not None]
        if len(combinators) != 1:
            raise ValueError("a condition has exactly one of all, any, not, field")
        tests = [
            x for x in (self.equals, self.one_of, self.contains, self.not_empty, self.gt, self.gte) if x is not None
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
    model_config = ConfigDict(extra="forbid")

    id: str
    version: int
    when: Condition
    urgency: Urgency | None = None
    red_flag: RedFlag | None = None
    focus: FocusRef | None = None
    summary: str | None = None
    why: str | None = None
    advice: list[str] = []
    sources: list[Source] = Field(min_length=1)

    @model_validator(mode="after")
    def _yields_something(self) -> "Rule":
        if self.urgency is None and self.focus is None:
            raise ValueError(f"rule {self.id} yields neither an urgency nor a focus area")
        if self.urgency is not None and not self.summary:
            raise ValueError(f"rule {self.id} sets an urgency without a summary")
        if self.focus is not None and not self.why:
            raise ValueError(f"rule {self.id} suggests a focus area without saying why")
        return self


class SelfCare(BaseModel):
    id: str
    summary: str
    sources: list[Source]
    advice: list[str]


class Ruleset(BaseModel):
    version: str
    disclaimer: str
    urgency_advice: dict[Urgency, str]
    self_care: SelfCare
    no_focus_at: list[Urgency]
    rules: list[Rule]

    def citations(self) -> list[Source]:
        return [s for r in self.rules for s in r.sources] + list(self.self_care.sources)


def _field_exists(path: str) -> bool:
    model: Any = Answers
    for part in path.split("."):
        fields = getattr(model, "model_fields", None)
        if fields is None or part not in fields:
            return False
        model = fields[part].annotation
    return True


def check(ruleset: Ruleset, sources_dir: Path = SOURCES_DIR) -> None:
    """Raise ValueError if a rule names an unknown field or misquotes a document."""
    ids = [r.id for r in ruleset.rules]
    if len(ids) != len(set(ids)):
        raise ValueError("rule ids must be unique")
    for rule in ruleset.rules:
        for path in rule.when.fields():
            if not _field_exists(path):
                raise ValueError(f"rule {rule.id} reads unknown field {path}")
    texts: dict[str, str] = {}
    for source in ruleset.citations():
        if source.kind != "document" or source.quote is None:
            continue
        if source.document not in texts:
            file = sources_dir / source.document
            if file.parent != sources_dir or not file.is_file():
                raise ValueError(f"cited document {source.document} is not in {sources_dir}")
            texts[source.document] = file.read_text(encoding="utf-8")
        if source.quote not in texts[source.document]:
            raise ValueError(f"quote not verbatim in {source.document}: {source.quote[:60]}")


def parse(text: str) -> Ruleset:
    ruleset = Ruleset.model_validate(yaml.safe_load(text))
    check(ruleset)
    return ruleset


@lru_cache
def load() -> Ruleset:
    return parse(RULES_FILE.read_text(encoding="utf-8"))
