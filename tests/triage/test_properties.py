"""Properties of triage over generated valid intakes (hypothesis).

More risk never makes the result less urgent: turning any yes/no answer from no to
yes, adding a condition or a bone-stress risk never lowers urgency or pathway and
never lengthens the due time; an older adult (20 or over) is never triaged lower
and never given longer. Duration and youth are not monotone (SPEC §5), so they are
only generated, never varied.
"""

import copy
from typing import Any, get_args

from hypothesis import given, settings
from hypothesis import strategies as st

from services.triage.schemas import BoneStressRisk, Condition, Pathway, TriageResult, Urgency
from tests.factories import evaluate

URGENCY_RANK = {u: i for i, u in enumerate(get_args(Urgency))}  # emergency first
PATHWAY_RANK = {p: i for i, p in enumerate(get_args(Pathway))}  # emergency_department first


def maybe(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """A v2 answer: given, or left out (not asked)."""
    return st.one_of(st.none(), strategy)


# Mostly "no": with every answer a coin toss, nearly every intake is an emergency already and
# the properties would never meet the quieter intakes where a rule could go the wrong way.
RARELY_YES = st.sampled_from([False] * 11 + [True])


@st.composite
def answers(draw: st.DrawFn) -> dict[str, Any]:
    b = RARELY_YES
    numbness = draw(b)
    return {
        "pain": {
            "side": draw(st.sampled_from(["left", "right", "both", "central"])),
            "weeks_since_onset": draw(st.integers(0, 520)),
            "intensity_now": draw(st.integers(0, 10)),
            "intensity_running": draw(st.integers(0, 10)),
            "timing": draw(st.lists(st.sampled_from(["during_run", "after_run", "at_rest", "at_night",
                                                     "morning_stiffness"]), unique=True)),
            "persistent_despite_rest": draw(b),
            "worsening": draw(b),
            "radiates_to_leg": draw(st.sampled_from(["none", "above_knee", "below_knee"])),
            "leg_pain_side": draw(maybe(st.sampled_from(["left", "right", "both"]))),
            "night_pain": draw(maybe(b)),
            "morning_stiffness_minutes": draw(maybe(st.integers(0, 600))),
            "eases_with_exercise": draw(maybe(b)),
            "worse_bending_backwards": draw(maybe(b)),
            "hurts_to_hop_or_bear_weight": draw(maybe(b)),
        },
        "neuro": {
            "numbness_or_tingling": numbness,
            "numbness_side": draw(maybe(st.sampled_from(["left", "right", "both"]))) if numbness else None,
            "leg_weakness": draw(b),
            "weakness_progressing": draw(b),
            "saddle_numbness": draw(b),
            "bladder_or_bowel_change": draw(b),
            "sexual_function_change": draw(maybe(b)),
            "walking_difficulty": draw(maybe(b)),
        },
        "function": {"daily_activity_difficulty": draw(b)},
        "history": {
            "previous_back_injury": draw(b),
            "conditions": draw(st.lists(st.sampled_from(get_args(Condition)), unique=True, max_size=2)),
            "recent_trauma": draw(b),
            "recent_trauma_kind": draw(maybe(st.sampled_from(["minor", "significant"]))),
            "fever_or_unwell": draw(b),
            "unexplained_weight_loss": draw(b),
            "long_term_steroids": draw(b),
            "fever": draw(maybe(b)),
            "iv_drug_use": draw(maybe(b)),
            "recent_infection_or_procedure": draw(maybe(b)),
            "abdominal_pain_or_faintness": draw(maybe(b)),
            "bone_stress_risk": draw(maybe(st.lists(st.sampled_from(get_args(BoneStressRisk)), unique=True))),
        },
        "running": {
            "weekly_km": 30.0,
            "mileage_increase_pct": draw(st.sampled_from([0.0, 10.0, 25.0])),
            "surface": draw(st.sampled_from(["road", "trail", "track", "treadmill", "mixed"])),
            "shoe_km": 300.0,
            "warm_up": draw(b),
            "stretching_per_week": 2,
            "strength_sessions_per_week": draw(st.integers(0, 3)),
            "known_leg_length_difference": draw(b),
        },
        "self_report": {"tight_hip_flexors": draw(b), "tight_hamstrings": draw(b), "weak_core": draw(b)},
    }  # fmt: skip


def triage(data: dict[str, Any], age: int) -> TriageResult:
    return evaluate(data, age)


def no_less_urgent(before: TriageResult, after: TriageResult) -> None:
    assert URGENCY_RANK[after.urgency] <= URGENCY_RANK[before.urgency]
    assert PATHWAY_RANK[after.pathway] <= PATHWAY_RANK[before.pathway]
    assert after.due_within_hours <= before.due_within_hours


def yes_no_answers(data: dict[str, Any]) -> list[tuple[str, str]]:
    """Every yes/no answer answered "no"."""
    return [(section, name) for section, fields in data.items() for name, value in fields.items() if value is False]


SETTINGS = settings(max_examples=300, deadline=None)


@SETTINGS
@given(answers(), st.integers(12, 110))
def test_a_yes_never_makes_it_less_urgent(data: dict[str, Any], age: int) -> None:
    before = triage(data, age)
    for section, name in yes_no_answers(data):  # each "no" in turn
        changed = copy.deepcopy(data)
        changed[section][name] = True
        no_less_urgent(before, triage(changed, age))


@SETTINGS
@given(answers(), st.integers(12, 110))
def test_a_condition_never_makes_it_less_urgent(data: dict[str, Any], age: int) -> None:
    before = triage(data, age)
    for condition in set(get_args(Condition)) - set(data["history"]["conditions"]):
        changed = copy.deepcopy(data)
        changed["history"]["conditions"].append(condition)
        no_less_urgent(before, triage(changed, age))


@SETTINGS
@given(answers(), st.integers(12, 110))
def test_a_bone_stress_risk_never_makes_it_less_urgent(data: dict[str, Any], age: int) -> None:
    before = triage(data, age)
    risks = data["history"]["bone_stress_risk"] or []
    for risk in set(get_args(BoneStressRisk)) - set(risks):
        changed = copy.deepcopy(data)
        changed["history"]["bone_stress_risk"] = sorted({*risks, risk})
        no_less_urgent(before, triage(changed, age))


@SETTINGS
@given(answers(), st.integers(20, 109), st.integers(1, 60))
def test_an_older_adult_is_never_triaged_lower(data: dict[str, Any], age: int, more: int) -> None:
    younger, older = triage(data, age), triage(data, min(age + more, 110))
    assert URGENCY_RANK[older.urgency] <= URGENCY_RANK[younger.urgency]
    assert older.due_within_hours <= younger.due_within_hours


@SETTINGS
@given(answers(), st.integers(12, 110))
def test_the_result_is_consistent(data: dict[str, Any], age: int) -> None:
    result = triage(data, age)
    assert result.seek_professional_help is (result.urgency != "self_care")
    usual = {"emergency": {"emergency_department"}, "urgent": {"same_day_medical", "urgent_medical"},
             "routine": {"medical_review", "physiotherapy"}, "self_care": {"self_management"}}  # fmt: skip
    assert result.pathway in usual[result.urgency]
    if result.urgency == "emergency":
        assert result.focus_areas == [] and result.red_flags[0].emergency
    assert all(f.after_medical_assessment is (result.urgency == "urgent") for f in result.focus_areas)
    assert result.advice and all("RF-" not in a and "SPH-" not in a for a in result.advice)
    # Same input, same result: triage is a pure function of the answers and the date.
    assert triage(data, age) == result
