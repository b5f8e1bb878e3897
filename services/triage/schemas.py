"""What triage reads (the clinical answers) and what it returns (TriageResult).

The answers are the intake body less `patient` and `consent`; the intake
service adds those two and reuses these sections unchanged. Triage also reads
the patient's birth date (for the age on the intake date), passed beside them.
"""

from datetime import date
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, Field, StrictBool, StrictFloat, StrictInt, model_validator

from services.core.schemas import Note1000, Note2000, StrictModel

Urgency = Literal["emergency", "urgent", "routine", "self_care"]
# Most urgent first (SPEC §5): the most urgent pathway of the rules that fired wins.
Pathway = Literal[
    "emergency_department", "same_day_medical", "urgent_medical", "medical_review", "physiotherapy", "self_management"
]
Side = Literal["left", "right"]
LegSide = Literal["left", "right", "both"]
Timing = Literal["during_run", "after_run", "at_rest", "at_night", "morning_stiffness"]
Condition = Literal[
    "osteoporosis", "cancer_history", "inflammatory_arthritis", "diabetes", "immunosuppression", "other"
]
BoneStressRisk = Literal["missed_periods", "previous_stress_fracture", "restricted_eating"]
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


def age_on(birth: date, day: date) -> int:
    """Whole years on `day`."""
    return day.year - birth.year - ((day.month, day.day) < (birth.month, birth.day))


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
    # v2: optional in the API (a v1 client leaves them out); left out means "not asked", never "no".
    leg_pain_side: LegSide | None = Field(
        default=None, description="v2. Which leg the pain goes into, when it spreads into a leg"
    )
    night_pain: StrictBool | None = Field(
        default=None, description="v2. Pain at night that changing position does not ease"
    )
    morning_stiffness_minutes: Annotated[StrictInt, Field(ge=0, le=600)] | None = Field(
        default=None, description="v2. How long the back is stiff in the morning; 0 = not stiff"
    )
    eases_with_exercise: StrictBool | None = Field(default=None, description="v2. The pain eases with exercise")
    worse_bending_backwards: StrictBool | None = Field(
        default=None, description="v2. Arching the back makes the pain worse"
    )
    hurts_to_hop_or_bear_weight: StrictBool | None = Field(
        default=None, description="v2. Groin, hip or buttock pain when hopping or standing on one leg"
    )


class Neuro(StrictModel):
    numbness_or_tingling: StrictBool
    numbness_side: LegSide | None = Field(
        default=None, description="Only with numbness_or_tingling; left out with numbness, it is a question not asked"
    )
    leg_weakness: StrictBool
    weakness_progressing: StrictBool
    saddle_numbness: StrictBool = Field(description="Numbness around the bottom or genitals")
    bladder_or_bowel_change: StrictBool = Field(
        description="New difficulty passing urine, not feeling when passing urine or wiping, "
        "or any new loss of bladder or bowel control"
    )
    sexual_function_change: StrictBool | None = Field(default=None, description="v2. New problems with sexual function")
    walking_difficulty: StrictBool | None = Field(
        default=None, description="v2. New trouble walking, legs giving way, unsteady"
    )

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
    fever: StrictBool | None = Field(
        default=None, description="v2. A temperature, chills or sweats (feeling unwell alone is fever_or_unwell)"
    )
    recent_trauma_kind: Literal["minor", "significant"] | None = Field(
        default=None,
        description="v2. With recent_trauma: minor (a stumble, a fall from standing) or significant; "
        "left out, it counts as significant",
    )
    iv_drug_use: StrictBool | None = Field(default=None, description="v2. Injects drugs")
    recent_infection_or_procedure: StrictBool | None = Field(
        default=None, description="v2. A bacterial infection, spinal injection or surgery in the last 3 months"
    )
    abdominal_pain_or_faintness: StrictBool | None = Field(
        default=None, description="v2. Tummy pain with the back pain, or feeling faint"
    )
    bone_stress_risk: (
        Annotated[list[BoneStressRisk], Field(max_length=3, json_schema_extra=UNIQUE_ITEMS), Unique] | None
    ) = Field(default=None, description="v2. Signs of low energy availability or earlier bone stress injury")


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
    notes: Note2000 | None = Field(default=None, description="Anything else; read for words that suggest a red flag")


# The v2 questions (SPEC §4): left out of a v1 client's body. A stored or hashed intake leaves
# them out too when they were not answered, so a v1 body looks exactly as it did under v1.
V2_QUESTIONS: tuple[str, ...] = (
    "pain.leg_pain_side",
    "pain.night_pain",
    "pain.morning_stiffness_minutes",
    "pain.eases_with_exercise",
    "pain.worse_bending_backwards",
    "pain.hurts_to_hop_or_bear_weight",
    "neuro.sexual_function_change",
    "neuro.walking_difficulty",
    "history.fever",
    "history.recent_trauma_kind",
    "history.iv_drug_use",
    "history.recent_infection_or_procedure",
    "history.abdominal_pain_or_faintness",
    "history.bone_stress_risk",
)


def drop_unanswered(answers: dict[str, Any], paths: tuple[str, ...] = V2_QUESTIONS) -> dict[str, Any]:
    """The body as JSON without those of `paths` (v2 fields) it left out (in place; returned)."""
    for path in paths:
        section, name = path.split(".")
        if isinstance(answers.get(section), dict) and answers[section].get(name, 0) is None:
            del answers[section][name]
    return answers


class Source(BaseModel):
    """A citation. Kind `document`: a source document's file name and a verbatim passage of it
    that supports the rule. Kind `guideline`: clinical guidance cited by name, with no quote;
    `statement` says in our words what the rule takes from it. Kind `local`: a threshold or
    choice no source gives, the product's own; `statement` says what it is and why."""

    kind: Literal["document", "guideline", "local"] = "document"
    document: str | None = Field(default=None, description="File name (document) or the guidance's name (guideline)")
    quote: str | None = None
    statement: str | None = None

    @model_validator(mode="after")
    def _quote_or_statement(self) -> "Source":
        if self.kind == "document" and not (self.document and self.quote):
            raise ValueError("a document citation names its document and quotes it")
        if self.kind == "guideline" and (not self.document or self.quote is not None or not self.statement):
            raise ValueError("a guideline citation names the guidance and has a statement, not a quote")
        if self.kind == "local" and (self.document is not None or self.quote is not None or not self.statement):
            raise ValueError("a local citation has a statement only")
        return self


class RedFlag(BaseModel):
    code: str
    label: str
    emergency: bool


class ClinicianReview(BaseModel):
    """Something a person must read or ask before relying on the result."""

    code: Literal["screening_incomplete", "notes_to_read", "notes_suggest_red_flag"]
    label: str


class Reason(BaseModel):
    rule: str
    summary: str
    sources: list[Source]


class FocusArea(BaseModel):
    code: FocusCode
    label: str
    why: str
    sources: list[Source]
    after_medical_assessment: bool = Field(
        default=False, description="For after a doctor has assessed the person (urgent results)"
    )


# Each pathway's usual due time (SPEC §5a), and the one a pre-v2 result implies by its urgency.
PATHWAY_DUE_HOURS: dict[Pathway, int] = {
    "emergency_department": 0,
    "same_day_medical": 12,
    "urgent_medical": 24,
    "medical_review": 120,
    "physiotherapy": 120,
    "self_management": 336,
}
USUAL_PATHWAY: dict[Urgency, Pathway] = {
    "emergency": "emergency_department",
    "urgent": "urgent_medical",
    "routine": "physiotherapy",
    "self_care": "self_management",
}


class TriageResult(BaseModel):
    ruleset_version: str
    urgency: Urgency
    pathway: Pathway = Field(description="v2. Where the person should be seen; the most urgent of the rules that fired")
    due_within_hours: int = Field(ge=0, description="v2. The smallest due time of the rules that fired")
    clinician_review: list[ClinicianReview] = Field(
        description="v2. What a person must read or ask: notes, questions not asked"
    )
    seek_professional_help: bool
    red_flags: list[RedFlag]
    reasons: list[Reason]
    focus_areas: list[FocusArea]
    advice: list[str]
    disclaimer: str

    @model_validator(mode="before")
    @classmethod
    def _read_v1(cls, data: Any) -> Any:
        """A result stored by the v1 ruleset has no pathway, due time or review list: it read
        as the urgency's usual pathway and the due time v1 gave it."""
        if isinstance(data, dict) and "pathway" not in data and data.get("urgency") in USUAL_PATHWAY:
            pathway = USUAL_PATHWAY[data["urgency"]]
            v1_due = {"emergency": 0, "urgent": 24, "routine": 120, "self_care": 336}[data["urgency"]]
            data = {**data, "pathway": pathway, "due_within_hours": v1_due, "clinician_review": []}
        return data
