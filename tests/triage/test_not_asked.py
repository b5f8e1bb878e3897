"""SPEC §5: a red-flag question left out is "not asked": clinician review `screening_incomplete`
naming it, at least routine, due in 24 h with a leg symptom, cancer history or age 50+."""

from typing import Any

import pytest

from services.triage.schemas import TriageResult
from tests.factories import evaluate, intake_body, v1_body

# Each red-flag question of SPEC §5 whose absence is "not asked", as (section, field).
RED_FLAG_QUESTIONS = [
    ("pain", "night_pain"),
    ("history", "fever"),
    ("neuro", "sexual_function_change"),
    ("neuro", "walking_difficulty"),
    ("history", "iv_drug_use"),
    ("history", "recent_infection_or_procedure"),
    ("history", "abdominal_pain_or_faintness"),
    ("pain", "hurts_to_hop_or_bear_weight"),
]


def without(body: dict[str, Any], section: str, name: str) -> dict[str, Any]:
    del body[section][name]
    return body


def screening(result: TriageResult) -> str:
    items = [c for c in result.clinician_review if c.code == "screening_incomplete"]
    assert len(items) == 1
    return items[0].label


@pytest.mark.parametrize(("section", "name"), RED_FLAG_QUESTIONS, ids=[n for _, n in RED_FLAG_QUESTIONS])
def test_each_question_left_out_is_named_and_makes_it_routine(section: str, name: str) -> None:
    result = evaluate(without(intake_body(), section, name))
    assert (result.urgency, result.pathway, result.due_within_hours) == ("routine", "physiotherapy", 120)
    assert f"{section}.{name}" in screening(result)
    assert result.red_flags == []  # not asked is not a red flag


@pytest.mark.parametrize(("section", "name"), RED_FLAG_QUESTIONS, ids=[n for _, n in RED_FLAG_QUESTIONS])
def test_a_question_sent_as_null_is_not_asked_too(section: str, name: str) -> None:
    body = intake_body(**{section: {name: None}})
    assert f"{section}.{name}" in screening(evaluate(body))


def test_every_question_answered_needs_no_screening() -> None:
    result = evaluate(intake_body())
    assert result.clinician_review == [] and result.urgency == "self_care"


def test_a_v1_body_names_every_v2_red_flag_question() -> None:
    label = screening(evaluate(v1_body()))
    for section, name in RED_FLAG_QUESTIONS:
        assert f"{section}.{name}" in label


def test_numbness_side_is_asked_only_with_numbness() -> None:
    result = evaluate(intake_body(neuro={"numbness_or_tingling": True}))
    assert "neuro.numbness_side" in screening(result)
    assert result.due_within_hours == 24  # numbness is a leg symptom
    assert "neuro.numbness_side" not in str(evaluate(intake_body()).clinician_review)


def test_leg_pain_side_is_asked_only_when_pain_spreads_into_a_leg() -> None:
    result = evaluate(intake_body(pain={"radiates_to_leg": "above_knee"}))
    assert "pain.leg_pain_side" in screening(result)
    assert result.due_within_hours == 24
    assert evaluate(intake_body(pain={"radiates_to_leg": "none"})).clinician_review == []


def test_birth_date_left_out_is_a_question_not_asked() -> None:
    assert "patient.birth_date" in screening(evaluate(intake_body(), age=None))


@pytest.mark.parametrize(
    ("case", "change", "age", "due"),
    [
        ("no leg symptom, 35", {}, 35, 120),
        ("leg weakness", {"neuro": {"leg_weakness": True}}, 35, 24),
        ("pain into a leg", {"pain": {"radiates_to_leg": "below_knee", "leg_pain_side": "left"}}, 35, 24),
        ("numbness", {"neuro": {"numbness_or_tingling": True, "numbness_side": "left"}}, 35, 24),
        ("cancer history", {"history": {"conditions": ["cancer_history"]}}, 35, 24),
        ("age 50", {}, 50, 24),
        ("age 49", {}, 49, 120),
    ],
)
def test_screening_due_time(case: str, change: dict[str, Any], age: int, due: int) -> None:
    body = without(intake_body(**change), "neuro", "sexual_function_change")
    result = evaluate(body, age)
    assert result.due_within_hours == due
    assert result.urgency in ("routine", "urgent", "emergency")


def test_not_asked_never_lowers_a_more_urgent_result() -> None:
    result = evaluate(v1_body(neuro={"saddle_numbness": True}))
    assert (result.urgency, result.pathway, result.due_within_hours) == ("emergency", "emergency_department", 0)
    assert screening(result)
