"""What triage reads (the clinical answers) and what it returns (TriageResult).

The answers are the intake body less `patient` and `consent`; the intake
service adds those two and reuses these sections unchanged.
"""

from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, Field, StrictBool, StrictFloat, StrictInt, model_validator

from services.core.schemas import Note1000, StrictModel

Urgency = Literal["emergency", "urgent", "routine", "self_care"]
Side = Literal["left", "right"]
Timing = Literal["during_run", "after_run", "at_rest", "at_night", "morning_stiffness"]
Condition = Literal[
    "osteoporosis", "cancer_history", "inflammatory_arthritis", "diabetes", "immunosuppression", "other"
]
FocusCode = Literal[
    "core_stability",
    "hip_flexor_mobility",
    "hamstring_flexibility",
    "glute_activation",
    "unilateral_strength",
    "running_form",
    "footwear_and_surface",
    "si_joint",
    "load_management",
    "warm_up_routine",
    "neural_assessment",
    "leg_length_assessment",
]


def _unique(values: list[str]) -> list[str]:
    if len(set(values)) != len(values):
        raise ValueError("each value may be listed once")
    return values


# Lists of choices hold each value at most once (uniqueItems tells OpenAPI clients too).
Unique = AfterValidator(_unique)
UNIQUE_ITEMS = {"uniqueItems": True}


class Pain(StrictModel):
    side: Literal["left", "right", "both", "central"]
    weeks_since_onset: Annotated[StrictInt, Field(ge=0, le=520)]
    intensity_now: Annotated[StrictInt, Field(ge=0, le=10)]
    intensity_running: Annotated[StrictInt, Field(ge=0, le=10)]
    timing: Annotated[list[Timing], Field(max_length=5, json_schema_extra=UNIQUE_ITEMS), Unique]
    persistent_despite_rest: StrictBool
    worsening: StrictBool
    radiates_to_leg: Literal["none", "above_knee", "below_knee"]


class Neuro(StrictModel):
    numbness_or_tingling: StrictBool
    numbness_side: Literal["left", "right", "both"] | None = None
    leg_weakness: StrictBool
    weakness_progressing: StrictBool
    saddle_numbness: StrictBool
    bladder_or_bowel_change: StrictBool

    @model_validator(mode="after")
    def _side_needs_numbness(self) -> "Neuro":
        if self.numbness_side is not None and not self.numbness_or_tingling:
            raise ValueError("numbness_side is only given when numbness_or_tingling is true")
        return self


class Function(StrictModel):
    daily_activity_difficulty: StrictBool


class History(StrictModel):
    previous_back_injury: StrictBool
    previous_injury_notes: Note1000 | None = None
    conditions: Annotated[list[Condition], Field(max_length=6, json_schema_extra=UNIQUE_ITEMS), Unique]
    recent_trauma: StrictBool
    fever_or_unwell: StrictBool
    unexplained_weight_loss: StrictBool
    long_term_steroids: StrictBool


class Running(StrictModel):
    weekly_km: Annotated[StrictFloat, Field(ge=0, le=400, allow_inf_nan=False)]
    mileage_increase_pct: Annotated[StrictFloat, Field(ge=0, le=1000, allow_inf_nan=False)]
    surface: Literal["road", "trail", "track", "treadmill", "mixed"]
    shoe_km: Annotated[StrictFloat, Field(ge=0, le=5000, allow_inf_nan=False)]
    warm_up: StrictBool
    stretching_per_week: Annotated[StrictInt, Field(ge=0, le=21)]
    strength_sessions_per_week: Annotated[StrictInt, Field(ge=0, le=21)]
    lands_harder_on: Side | None = None
    known_leg_length_difference: StrictBool


class SelfReport(StrictModel):
    tight_hip_flexors: StrictBool
    tight_hamstrings: StrictBool
    weak_core: StrictBool


class Answers(StrictModel):
    """The clinical part of an intake: everything triage reads."""

    pain: Pain
    neuro: Neuro
    function: Function
    history: History
    running: Running
    self_report: SelfReport


class Source(BaseModel):
    """A citation. Kind `document`: a source document's file name and a verbatim passage
    of it. Kind `guideline`: clinical guidance cited by name, with no quote; `statement`
    says in our words what the rule takes from it."""

    kind: Literal["document", "guideline"] = "document"
    document: str
    quote: str | None = None
    statement: str | None = None

    @model_validator(mode="after")
    def _quote_or_statement(self) -> "Source":
        if self.kind == "document" and not self.quote:
            raise ValueError("a document citation quotes its document")
        if self.kind == "guideline" and (self.quote is not None or not self.statement):
            raise ValueError("a guideline citation has a statement, not a quote")
        return self


class RedFlag(BaseModel):
    code: str
    label: str
    emergency: bool


class Reason(BaseModel):
    rule: str
    summary: str
    sources: list[Source]


class FocusArea(BaseModel):
    code: FocusCode
    label: str
    why: str
    sources: list[Source]


class TriageResult(BaseModel):
    ruleset_version: str
    urgency: Urgency
    seek_professional_help: bool
    red_flags: list[RedFlag]
    reasons: list[Reason]
    focus_areas: list[FocusArea]
    advice: list[str]
    disclaimer: str
