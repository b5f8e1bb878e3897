"""SPEC §5 urgency and focus rules, case by case (beyond the shared vignettes)."""

from typing import Any

import pytest

from services.triage import service
from services.triage.schemas import Answers, TriageResult
from tests.factories import intake_body


def triage(**sections: dict[str, Any]) -> TriageResult:
    body = intake_body(**sections)
    return service.evaluate(Answers.model_validate({k: v for k, v in body.items() if k not in ("patient", "consent")}))


URGENCY_CASES: list[tuple[str, dict[str, Any], str]] = [
    ("saddle numbness", {"neuro": {"saddle_numbness": True}}, "emergency"),
    ("bladder or bowel", {"neuro": {"bladder_or_bowel_change": True}}, "emergency"),
    ("progressing weakness alone", {"neuro": {"weakness_progressing": True}}, "urgent"),
    (
        "weakness with numbness",
        {"neuro": {"leg_weakness": True, "numbness_or_tingling": True, "numbness_side": "left"}},
        "urgent",
    ),
    ("numbness both sides", {"neuro": {"numbness_or_tingling": True, "numbness_side": "both"}}, "urgent"),
    ("fever", {"history": {"fever_or_unwell": True}}, "urgent"),
    ("cancer history", {"history": {"conditions": ["cancer_history"]}}, "urgent"),
    ("weight loss", {"history": {"unexplained_weight_loss": True}}, "urgent"),
    ("trauma", {"history": {"recent_trauma": True}}, "urgent"),
    ("trauma with osteoporosis", {"history": {"recent_trauma": True, "conditions": ["osteoporosis"]}}, "urgent"),
    ("trauma with steroids", {"history": {"recent_trauma": True, "long_term_steroids": True}}, "urgent"),
    (
        "immunosuppressed with fever",
        {"history": {"fever_or_unwell": True, "conditions": ["immunosuppression"]}},
        "urgent",
    ),
    ("persists despite rest", {"pain": {"persistent_despite_rest": True}}, "routine"),
    ("worsening", {"pain": {"worsening": True}}, "routine"),
    ("numbness one side", {"neuro": {"numbness_or_tingling": True, "numbness_side": "right"}}, "routine"),
    ("numbness, side not given", {"neuro": {"numbness_or_tingling": True}}, "routine"),
    ("daily activities", {"function": {"daily_activity_difficulty": True}}, "routine"),
    ("previous injury", {"history": {"previous_back_injury": True}}, "routine"),
    ("medical condition", {"history": {"conditions": ["diabetes"]}}, "routine"),
    ("immunosuppression without fever", {"history": {"conditions": ["immunosuppression"]}}, "routine"),
    ("osteoporosis without trauma", {"history": {"conditions": ["osteoporosis"]}}, "routine"),
    ("long-term steroids", {"history": {"long_term_steroids": True}}, "routine"),
    ("left-sided", {"pain": {"side": "left"}}, "routine"),
    ("right-sided", {"pain": {"side": "right"}}, "routine"),
    ("both sides", {"pain": {"side": "both"}}, "self_care"),
    ("radiating above the knee", {"pain": {"radiates_to_leg": "above_knee"}}, "routine"),
    ("radiating below the knee", {"pain": {"radiates_to_leg": "below_knee"}}, "routine"),
    ("leg weakness alone", {"neuro": {"leg_weakness": True}}, "routine"),
    ("severe but benign", {"pain": {"intensity_now": 8, "intensity_running": 9}}, "self_care"),
    (
        "tight everything",
        {"self_report": {"tight_hip_flexors": True, "tight_hamstrings": True, "weak_core": True}},
        "self_care",
    ),
]


@pytest.mark.parametrize(("case", "change", "urgency"), URGENCY_CASES, ids=[c[0] for c in URGENCY_CASES])
def test_urgency(case: str, change: dict[str, Any], urgency: str) -> None:
    result = triage(**change)
    assert result.urgency == urgency
    assert result.seek_professional_help is (urgency != "self_care")


def test_highest_urgency_wins_and_all_reasons_are_kept() -> None:
    result = triage(
        pain={"side": "left", "persistent_despite_rest": True},
        history={"fever_or_unwell": True},
        neuro={"bladder_or_bowel_change": True},
    )
    assert result.urgency == "emergency"
    rules = [r.rule for r in result.reasons]
    assert rules[0] == "RF-BLADDER-BOWEL"
    assert {"RF-FEVER", "SPH-PERSISTS-DESPITE-REST", "SPH-ONE-SIDED"} <= set(rules)
    assert [f.emergency for f in result.red_flags] == [True, False]


def test_emergency_advice_comes_first_and_says_emergency_care_now() -> None:
    result = triage(neuro={"saddle_numbness": True}, self_report={"tight_hip_flexors": True})
    assert "emergency" in result.advice[0].lower() and "now" in result.advice[0].lower()
    assert "physiotherapy" in result.advice[0].lower()
    assert result.focus_areas == []  # emergency care, not an exercise plan
    assert result.red_flags[0].emergency


def test_urgent_names_the_time_frame() -> None:
    assert "24 to 48 hours" in triage(history={"recent_trauma": True}).advice[0]


def test_self_care_has_safety_netting() -> None:
    result = triage()
    assert result.urgency == "self_care" and result.red_flags == []
    assert result.reasons[0].rule == "SC-NONE-MATCHED"
    advice = " ".join(result.advice).lower()
    assert "see a physiotherapist or doctor if" in advice
    assert "emergency" in advice


def test_routine_is_not_a_red_flag() -> None:
    assert triage(function={"daily_activity_difficulty": True}).red_flags == []


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
    ("tingling", {"neuro": {"numbness_or_tingling": True}}, {"neural_assessment"}),
    ("radiating pain", {"pain": {"radiates_to_leg": "above_knee"}}, {"neural_assessment"}),
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
    result = triage(neuro={"numbness_or_tingling": True}, pain={"radiates_to_leg": "below_knee"})
    neural = [f for f in result.focus_areas if f.code == "neural_assessment"]
    assert len(neural) == 1


def test_every_reason_and_focus_area_cites_a_source() -> None:
    result = triage(
        pain={"side": "left", "persistent_despite_rest": True, "radiates_to_leg": "below_knee"},
        neuro={"numbness_or_tingling": True, "numbness_side": "left"},
        running={"warm_up": False, "lands_harder_on": "left", "known_leg_length_difference": True},
    )
    assert all(r.sources for r in result.reasons)
    assert all(f.sources for f in result.focus_areas)


def test_result_carries_ruleset_version_and_disclaimer() -> None:
    result = triage()
    assert result.ruleset_version == service.current_ruleset().version
    assert "not a diagnosis" in result.disclaimer
