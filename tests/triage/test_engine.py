"""How the engine combines what fired: highest urgency and pathway, smallest due time, red
flags, reasons, focus areas and advice (the rules one by one are in test_rules.py)."""

from typing import Any

import pytest

from services.triage import service
from services.triage.schemas import TriageResult
from tests.factories import evaluate, intake_body


def triage(age: int = 35, **sections: Any) -> TriageResult:
    return evaluate(intake_body(**sections), age)


def test_highest_urgency_wins_and_all_reasons_are_kept() -> None:
    result = triage(
        pain={"side": "left", "persistent_despite_rest": True},
        history={"fever": True},
        neuro={"bladder_or_bowel_change": True},
    )
    assert (result.urgency, result.pathway, result.due_within_hours) == ("emergency", "emergency_department", 0)
    rules = [r.rule for r in result.reasons]
    assert rules[0] == "RF-BLADDER-BOWEL"
    assert {"RF-FEVER", "SPH-PERSISTS-DESPITE-REST", "SPH-ONE-SIDED"} <= set(rules)
    assert [f.emergency for f in result.red_flags] == [True, False]


def test_most_urgent_pathway_and_smallest_due_time_win_within_an_urgency() -> None:
    # Same-day (12 h) and a doctor within 24 h are both urgent: same-day wins.
    result = triage(neuro={"walking_difficulty": True}, history={"iv_drug_use": True})
    assert (result.urgency, result.pathway, result.due_within_hours) == ("urgent", "same_day_medical", 12)
    # A medical review and physiotherapy are both routine: the review wins.
    result = triage(pain={"side": "left"}, history={"bone_stress_risk": ["missed_periods"]})
    assert (result.urgency, result.pathway, result.due_within_hours) == ("routine", "medical_review", 120)


def test_notes_can_shorten_the_due_time_of_an_urgent_result() -> None:
    result = triage(history={"iv_drug_use": True}, notes="Had a temperature last night")
    assert (result.urgency, result.pathway, result.due_within_hours) == ("urgent", "urgent_medical", 12)


def test_emergency_advice_comes_first_and_says_emergency_care_now() -> None:
    result = triage(neuro={"saddle_numbness": True}, self_report={"tight_hip_flexors": True})
    first = result.advice[0].lower()
    assert "emergency department now" in first and "physiotherapy" in first
    assert result.focus_areas == []  # emergency care, not an exercise plan
    assert result.red_flags[0].emergency


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"neuro": {"walking_difficulty": True}}, ["today", "emergency department", "within a few hours"]),
        ({"history": {"fever": True}}, ["within 24 hours", "gp surgery", "urgent care"]),
        ({"history": {"bone_stress_risk": ["missed_periods"]}}, ["gp or doctor", "5 days"]),
        ({"pain": {"side": "left"}}, ["physiotherapist", "5 days"]),
    ],
)
def test_urgent_and_routine_advice_says_where_to_go_and_by_when(change: dict[str, Any], words: list[str]) -> None:
    first = triage(**change).advice[0].lower()
    for word in words:
        assert word in first


@pytest.mark.parametrize(
    "change",
    [{"neuro": {"walking_difficulty": True}}, {"history": {"fever": True}}, {"pain": {"side": "left"}}],
)
def test_urgent_and_routine_advice_says_what_should_bring_help_sooner(change: dict[str, Any]) -> None:
    advice = " ".join(triage(**change).advice).lower()
    for sign in ("saddle", "bladder", "bowel", "weakness", "fever", "night", "weight"):
        assert sign in advice, sign


def test_self_care_safety_nets_without_running_through_pain() -> None:
    result = triage()
    assert (result.urgency, result.pathway, result.due_within_hours) == ("self_care", "self_management", 336)
    assert result.red_flags == [] and result.reasons[0].rule == "SC-NONE-MATCHED"
    advice = " ".join(result.advice).lower()
    for sign in ("emergency", "saddle", "bladder", "bowel", "fever", "night", "weight", "weakness", "hop"):
        assert sign in advice, sign
    assert "instead of running through pain" in advice
    assert "keep running" not in advice


def test_advice_is_plain_words_without_rule_codes() -> None:
    changes: list[dict[str, Any]] = [{"neuro": {"saddle_numbness": True}}, {"history": {"fever": True}}, {}]
    for change in changes:
        assert all("RF-" not in a and "SPH-" not in a and "_" not in a for a in triage(**change).advice)


def test_routine_reasons_and_reviews_are_not_red_flags() -> None:
    assert triage(function={"daily_activity_difficulty": True}).red_flags == []
    assert triage(notes="numb toes").red_flags == []


def test_urgent_focus_areas_are_for_after_medical_assessment() -> None:
    urgent = triage(history={"fever": True}, self_report={"weak_core": True})
    assert urgent.urgency == "urgent"
    assert [(f.code, f.after_medical_assessment) for f in urgent.focus_areas] == [("core_stability", True)]
    routine = triage(pain={"side": "left"}, self_report={"weak_core": True})
    assert routine.focus_areas and not any(f.after_medical_assessment for f in routine.focus_areas)


FOCUS_CASES: list[tuple[str, dict[str, Any], set[str]]] = [
    ("weak core", {"self_report": {"weak_core": True}}, {"core_stability"}),
    ("no strength work", {"running": {"strength_sessions_per_week": 0}}, {"core_stability"}),
    ("tight hip flexors", {"self_report": {"tight_hip_flexors": True}}, {"hip_flexor_mobility"}),
    ("tight hamstrings", {"self_report": {"tight_hamstrings": True}}, {"hamstring_flexibility"}),
    ("one-sided", {"pain": {"side": "right"}}, {"unilateral_strength", "glute_activation", "running_form"}),
    ("lands harder", {"running": {"lands_harder_on": "left"}}, {"si_joint", "running_form"}),
    ("worn shoes", {"running": {"shoe_km": 900}}, {"footwear_and_surface"}),
    ("road running", {"running": {"surface": "road"}}, {"footwear_and_surface"}),
    ("mileage jump", {"running": {"mileage_increase_pct": 30}}, {"load_management"}),
    ("no warm-up", {"running": {"warm_up": False}}, {"warm_up_routine"}),
    ("tingling", {"neuro": {"numbness_or_tingling": True, "numbness_side": "left"}}, {"neural_assessment"}),
    ("radiating pain", {"pain": {"radiates_to_leg": "above_knee", "leg_pain_side": "left"}}, {"neural_assessment"}),
    ("leg length", {"running": {"known_leg_length_difference": True}}, {"leg_length_assessment"}),
]


@pytest.mark.parametrize(("case", "change", "codes"), FOCUS_CASES, ids=[c[0] for c in FOCUS_CASES])
def test_focus_area_only_when_supported(case: str, change: dict[str, Any], codes: set[str]) -> None:
    result = triage(**change)
    assert {f.code for f in result.focus_areas} == codes
    for area in result.focus_areas:
        assert area.why and area.sources and area.label


def test_benign_intake_suggests_nothing() -> None:
    assert triage().focus_areas == []


def test_thresholds_are_exclusive_where_the_rules_say_so() -> None:
    assert triage(running={"mileage_increase_pct": 10}).focus_areas == []
    assert triage(running={"shoe_km": 699}).focus_areas == []
    assert [f.code for f in triage(running={"shoe_km": 700}).focus_areas] == ["footwear_and_surface"]


def test_focus_area_supported_twice_is_listed_once_with_both_reasons() -> None:
    result = triage(
        neuro={"numbness_or_tingling": True, "numbness_side": "left"},
        pain={"radiates_to_leg": "below_knee", "leg_pain_side": "left"},
    )
    neural = [f for f in result.focus_areas if f.code == "neural_assessment"]
    assert len(neural) == 1
    documents = {s.document for s in neural[0].sources}
    assert documents == {"001_4d944876ad22fb1c.txt", "004_701412f67a0d4aa3.txt"}


def test_result_carries_ruleset_version_and_disclaimer() -> None:
    result = triage()
    assert result.ruleset_version == service.current_ruleset().version
    assert "not a diagnosis" in result.disclaimer


def test_a_result_stored_by_triage_v1_still_reads() -> None:
    stored = triage().model_dump(mode="json")
    for field in ("pathway", "due_within_hours", "clinician_review"):
        del stored[field]
    stored["urgency"] = "urgent"
    for area in stored["focus_areas"]:
        del area["after_medical_assessment"]
    result = TriageResult.model_validate(stored)
    assert (result.pathway, result.due_within_hours, result.clinician_review) == ("urgent_medical", 24, [])
