"""Every SPEC §5 rule on its own, with the boundary values around each threshold.

Each case starts from a benign intake with every question asked and answered "no"
(self-care), changes what the rule reads, and states the result SPEC §5 gives:
(urgency, pathway, due hours). The intake date is injected (TRIAGE_DAY), and ages
are exact on it: age 50 is 50 that day; age 49 with last_day turns 50 the next day.
"""

from typing import Any

import pytest

from services.triage import service
from services.triage.schemas import TriageResult
from tests.factories import evaluate, intake_body

ADULT = 35

ED = ("emergency", "emergency_department", 0)
SAME_DAY = ("urgent", "same_day_medical", 12)
URGENT = ("urgent", "urgent_medical", 24)
MEDICAL = ("routine", "medical_review", 120)
PHYSIO = ("routine", "physiotherapy", 120)
PHYSIO_24 = ("routine", "physiotherapy", 24)
SELF_CARE = ("self_care", "self_management", 336)


def triage(age: int | None = ADULT, last_day: bool = False, **sections: Any) -> TriageResult:
    return evaluate(intake_body(**sections), age, last_day=last_day)


def outcome(result: TriageResult) -> tuple[str, str, int]:
    return result.urgency, result.pathway, result.due_within_hours


def fired(result: TriageResult) -> set[str]:
    return {r.rule for r in result.reasons}


LEFT_LEG = {"radiates_to_leg": "below_knee", "leg_pain_side": "left"}
BOTH_LEGS = {"radiates_to_leg": "below_knee", "leg_pain_side": "both"}
NUMB_LEFT = {"numbness_or_tingling": True, "numbness_side": "left"}
NUMB_BOTH = {"numbness_or_tingling": True, "numbness_side": "both"}
TRAUMA = {"recent_trauma": True, "recent_trauma_kind": "significant"}
MINOR = {"recent_trauma": True, "recent_trauma_kind": "minor"}

# (case, rule that must fire, the answers, the result SPEC §5 gives)
CASES: list[tuple[str, str | None, dict[str, Any], tuple[str, str, int]]] = [
    # --- emergency: suspected cauda equina --------------------------------------------------
    ("saddle numbness", "RF-SADDLE-NUMBNESS", {"neuro": {"saddle_numbness": True}}, ED),
    ("bladder or bowel change", "RF-BLADDER-BOWEL", {"neuro": {"bladder_or_bowel_change": True}}, ED),
    ("sexual function with leg pain", "RF-SEXUAL-WITH-LEG-SYMPTOMS",
     {"neuro": {"sexual_function_change": True}, "pain": LEFT_LEG}, ED),
    ("sexual function with numbness", "RF-SEXUAL-WITH-LEG-SYMPTOMS",
     {"neuro": {"sexual_function_change": True, **NUMB_LEFT}}, ED),
    ("sexual function with weakness", "RF-SEXUAL-WITH-LEG-SYMPTOMS",
     {"neuro": {"sexual_function_change": True, "leg_weakness": True}}, ED),
    ("sexual function with walking difficulty", "RF-SEXUAL-WITH-LEG-SYMPTOMS",
     {"neuro": {"sexual_function_change": True, "walking_difficulty": True}}, ED),
    ("sexual function alone", "RF-SEXUAL-FUNCTION", {"neuro": {"sexual_function_change": True}}, SAME_DAY),
    ("weakness progressing", "RF-PROGRESSIVE-WEAKNESS",
     {"neuro": {"leg_weakness": True, "weakness_progressing": True}}, ED),
    ("weakness progressing, leg_weakness not ticked", "RF-PROGRESSIVE-WEAKNESS",
     {"neuro": {"weakness_progressing": True}}, ED),
    ("walking difficulty with leg pain", "RF-WALKING-WITH-LEG-SYMPTOMS",
     {"neuro": {"walking_difficulty": True}, "pain": LEFT_LEG}, ED),
    ("walking difficulty with numbness", "RF-WALKING-WITH-LEG-SYMPTOMS",
     {"neuro": {"walking_difficulty": True, **NUMB_LEFT}}, ED),
    ("walking difficulty with weakness", "RF-WALKING-WITH-LEG-SYMPTOMS",
     {"neuro": {"walking_difficulty": True, "leg_weakness": True}}, ED),
    ("walking difficulty alone", "RF-WALKING-DIFFICULTY", {"neuro": {"walking_difficulty": True}}, SAME_DAY),
    # bilateral leg symptoms: recent (under 12 weeks), worsening, or with weakness or walking trouble
    ("numb both legs, 11 weeks", "RF-BILATERAL-EMERGENCY",
     {"neuro": NUMB_BOTH, "pain": {"weeks_since_onset": 11}}, ED),
    ("numb both legs, 12 weeks, stable", "RF-BILATERAL-LEG-SYMPTOMS",
     {"neuro": NUMB_BOTH, "pain": {"weeks_since_onset": 12}}, SAME_DAY),
    ("numb both legs, 12 weeks, worsening", "RF-BILATERAL-EMERGENCY",
     {"neuro": NUMB_BOTH, "pain": {"weeks_since_onset": 12, "worsening": True}}, ED),
    ("numb both legs, 30 weeks, weak", "RF-BILATERAL-EMERGENCY",
     {"neuro": {**NUMB_BOTH, "leg_weakness": True}, "pain": {"weeks_since_onset": 30}}, ED),
    ("numb both legs, 30 weeks, walking difficulty", "RF-BILATERAL-EMERGENCY",
     {"neuro": {**NUMB_BOTH, "walking_difficulty": True}, "pain": {"weeks_since_onset": 30}}, ED),
    ("pain into both legs above the knee, 2 weeks", "RF-BILATERAL-EMERGENCY",
     {"pain": {"radiates_to_leg": "above_knee", "leg_pain_side": "both"}}, ED),
    ("pain into both legs, 12 weeks, stable", "RF-BILATERAL-LEG-SYMPTOMS",
     {"pain": {**BOTH_LEGS, "weeks_since_onset": 12}}, SAME_DAY),
    ("which leg not asked: pain both sides below the knee, 4 weeks", "RF-BILATERAL-EMERGENCY",
     {"pain": {"side": "both", "radiates_to_leg": "below_knee", "weeks_since_onset": 4}}, ED),
    ("which leg not asked: pain both sides above the knee is not bilateral", "CR-SCREENING-INCOMPLETE-PRIORITY",
     {"pain": {"side": "both", "radiates_to_leg": "above_knee", "weeks_since_onset": 4}}, PHYSIO_24),
    ("which leg not asked: one side below the knee is not bilateral", "CR-SCREENING-INCOMPLETE-PRIORITY",
     {"pain": {"side": "right", "radiates_to_leg": "below_knee"}}, PHYSIO_24),
    # --- emergency: suspected metastatic spinal cord compression --------------------------
    ("cancer with leg pain", "RF-MSCC", {"history": {"conditions": ["cancer_history"]}, "pain": LEFT_LEG}, ED),
    ("cancer with numbness", "RF-MSCC", {"history": {"conditions": ["cancer_history"]}, "neuro": NUMB_LEFT}, ED),
    ("cancer with weakness", "RF-MSCC",
     {"history": {"conditions": ["cancer_history"]}, "neuro": {"leg_weakness": True}}, ED),
    ("cancer with walking difficulty", "RF-MSCC",
     {"history": {"conditions": ["cancer_history"]}, "neuro": {"walking_difficulty": True}}, ED),
    # --- emergency: suspected spinal infection ----------------------------------------------
    ("fever and injects drugs", "RF-SPINAL-INFECTION", {"history": {"fever": True, "iv_drug_use": True}}, ED),
    ("fever and immunosuppressed", "RF-SPINAL-INFECTION",
     {"history": {"fever": True, "conditions": ["immunosuppression"]}}, ED),
    ("fever and long-term steroids", "RF-SPINAL-INFECTION",
     {"history": {"fever": True, "long_term_steroids": True}}, ED),
    ("fever and recent infection or procedure", "RF-SPINAL-INFECTION",
     {"history": {"fever": True, "recent_infection_or_procedure": True}}, ED),
    ("fever and diabetes", "RF-SPINAL-INFECTION", {"history": {"fever": True, "conditions": ["diabetes"]}}, ED),
    ("fever not asked, feels unwell, diabetes", "RF-SPINAL-INFECTION",
     {"history": {"fever": None, "fever_or_unwell": True, "conditions": ["diabetes"]}}, ED),
    ("unwell without a temperature, diabetes", "SPH-PREVIOUS-INJURY-OR-CONDITION",
     {"history": {"fever": False, "fever_or_unwell": True, "conditions": ["diabetes"]}}, PHYSIO),
    # --- emergency: significant trauma within the last week ------------------------------
    ("significant trauma, 0 weeks", "RF-TRAUMA-RECENT-SIGNIFICANT",
     {"history": TRAUMA, "pain": {"weeks_since_onset": 0}}, ED),
    ("significant trauma, 1 week", "RF-TRAUMA-RECENT-SIGNIFICANT",
     {"history": TRAUMA, "pain": {"weeks_since_onset": 1}}, ED),
    ("significant trauma, 2 weeks", "RF-TRAUMA", {"history": TRAUMA, "pain": {"weeks_since_onset": 2}}, URGENT),
    ("trauma of unknown kind counts as significant", "RF-TRAUMA-RECENT-SIGNIFICANT",
     {"history": {"recent_trauma": True}, "pain": {"weeks_since_onset": 1}}, ED),
    ("minor trauma at 35", None, {"history": MINOR, "pain": {"weeks_since_onset": 0}}, SELF_CARE),
    # --- emergency: possible aortic aneurysm ------------------------------------------------
    ("tummy pain at 60", "RF-AORTIC-ANEURYSM",
     {"age": 60, "history": {"abdominal_pain_or_faintness": True}}, ED),
    ("tummy pain at 59", "RF-ABDOMINAL-PAIN-OR-FAINTNESS",
     {"age": 59, "last_day": True, "history": {"abdominal_pain_or_faintness": True}}, URGENT),
    # --- urgent, a doctor within 24 h -----------------------------------------------------------
    ("a temperature alone", "RF-FEVER", {"history": {"fever": True}}, URGENT),
    ("injects drugs", "RF-IV-DRUG-USE", {"history": {"iv_drug_use": True}}, URGENT),
    ("recent infection or procedure", "RF-RECENT-INFECTION-OR-PROCEDURE",
     {"history": {"recent_infection_or_procedure": True}}, URGENT),
    ("immunosuppressed with night pain", "RF-IMMUNOSUPPRESSED-PAIN",
     {"history": {"conditions": ["immunosuppression"]}, "pain": {"night_pain": True}}, URGENT),
    ("immunosuppressed with worsening pain", "RF-IMMUNOSUPPRESSED-PAIN",
     {"history": {"conditions": ["immunosuppression"]}, "pain": {"worsening": True}}, URGENT),
    ("long-term steroids with night pain", "RF-IMMUNOSUPPRESSED-PAIN",
     {"history": {"long_term_steroids": True}, "pain": {"night_pain": True}}, URGENT),
    ("immunosuppressed alone", "SPH-PREVIOUS-INJURY-OR-CONDITION",
     {"history": {"conditions": ["immunosuppression"]}}, PHYSIO),
    ("cancer with night pain", "RF-CANCER-HISTORY",
     {"history": {"conditions": ["cancer_history"]}, "pain": {"night_pain": True}}, URGENT),
    ("cancer with worsening pain", "RF-CANCER-HISTORY",
     {"history": {"conditions": ["cancer_history"]}, "pain": {"worsening": True}}, URGENT),
    ("cancer with pain persisting despite rest", "RF-CANCER-HISTORY",
     {"history": {"conditions": ["cancer_history"]}, "pain": {"persistent_despite_rest": True}}, URGENT),
    ("cancer with pain 7 now", "RF-CANCER-HISTORY",
     {"history": {"conditions": ["cancer_history"]}, "pain": {"intensity_now": 7}}, URGENT),
    ("cancer with pain 6 now", "MR-CANCER-HISTORY",
     {"history": {"conditions": ["cancer_history"]}, "pain": {"intensity_now": 6}}, MEDICAL),
    ("cancer at 50", "RF-CANCER-HISTORY", {"age": 50, "history": {"conditions": ["cancer_history"]}}, URGENT),
    ("cancer at 49", "MR-CANCER-HISTORY",
     {"age": 49, "last_day": True, "history": {"conditions": ["cancer_history"]}}, MEDICAL),
    ("weight loss at 50", "RF-WEIGHT-LOSS", {"age": 50, "history": {"unexplained_weight_loss": True}}, URGENT),
    ("weight loss at 49", "MR-WEIGHT-LOSS",
     {"age": 49, "last_day": True, "history": {"unexplained_weight_loss": True}}, MEDICAL),
    ("weight loss with cancer", "RF-WEIGHT-LOSS",
     {"history": {"unexplained_weight_loss": True, "conditions": ["cancer_history"]}}, URGENT),
    ("weight loss with night pain", "RF-WEIGHT-LOSS",
     {"history": {"unexplained_weight_loss": True}, "pain": {"night_pain": True}}, URGENT),
    ("weight loss with fever", "RF-WEIGHT-LOSS", {"history": {"unexplained_weight_loss": True, "fever": True}}, URGENT),
    ("night pain at 50", "RF-NIGHT-PAIN-OVER-50", {"age": 50, "pain": {"night_pain": True}}, URGENT),
    ("night pain at 49", "RT-NIGHT-PAIN", {"age": 49, "last_day": True, "pain": {"night_pain": True}}, PHYSIO),
    ("trauma with osteoporosis", "RF-TRAUMA-FRACTURE-RISK",
     {"history": {**MINOR, "conditions": ["osteoporosis"]}}, URGENT),
    ("trauma with long-term steroids", "RF-TRAUMA-FRACTURE-RISK",
     {"history": {**MINOR, "long_term_steroids": True}}, URGENT),
    ("minor trauma at 70", "RF-TRAUMA-FRACTURE-RISK", {"age": 70, "history": MINOR}, URGENT),
    ("minor trauma at 69 (new pain after 50: a doctor within 5 days)", "MR-NEW-ONSET-OVER-50",
     {"age": 69, "last_day": True, "history": MINOR}, MEDICAL),
    ("osteoporosis, 2 weeks, pain 7", "RF-SUDDEN-SEVERE-FRAGILE-BONE",
     {"history": {"conditions": ["osteoporosis"]}, "pain": {"weeks_since_onset": 2, "intensity_now": 7}}, URGENT),
    ("steroids, 0 weeks, pain 9", "RF-SUDDEN-SEVERE-FRAGILE-BONE",
     {"history": {"long_term_steroids": True}, "pain": {"weeks_since_onset": 0, "intensity_now": 9}}, URGENT),
    ("osteoporosis, 3 weeks, pain 7", "SPH-PREVIOUS-INJURY-OR-CONDITION",
     {"history": {"conditions": ["osteoporosis"]}, "pain": {"weeks_since_onset": 3, "intensity_now": 7}}, PHYSIO),
    ("osteoporosis, 2 weeks, pain 6", "SPH-PREVIOUS-INJURY-OR-CONDITION",
     {"history": {"conditions": ["osteoporosis"]}, "pain": {"weeks_since_onset": 2, "intensity_now": 6}}, PHYSIO),
    ("weakness with numbness", "RF-WEAKNESS-WITH-NUMBNESS", {"neuro": {**NUMB_LEFT, "leg_weakness": True}}, URGENT),
    ("pain on hopping", "RF-HOP-OR-BEAR-WEIGHT", {"pain": {"hurts_to_hop_or_bear_weight": True}}, URGENT),
    ("tummy pain or faintness at 35", "RF-ABDOMINAL-PAIN-OR-FAINTNESS",
     {"history": {"abdominal_pain_or_faintness": True}}, URGENT),
    # --- routine, physiotherapy: the documents' criteria and SPEC's additions ---------------
    ("persists despite rest", "SPH-PERSISTS-DESPITE-REST", {"pain": {"persistent_despite_rest": True}}, PHYSIO),
    ("worsening", "SPH-WORSENING", {"pain": {"worsening": True}}, PHYSIO),
    ("worsening despite rest", "SPH-WORSENS-DESPITE-REST",
     {"pain": {"worsening": True, "persistent_despite_rest": True}}, PHYSIO),
    ("numbness in one leg", "SPH-NUMBNESS-TINGLING", {"neuro": NUMB_LEFT}, PHYSIO),
    ("daily activities difficult", "SPH-DAILY-ACTIVITIES", {"function": {"daily_activity_difficulty": True}}, PHYSIO),
    ("previous back injury", "SPH-PREVIOUS-INJURY-OR-CONDITION", {"history": {"previous_back_injury": True}}, PHYSIO),
    ("a listed condition", "SPH-PREVIOUS-INJURY-OR-CONDITION", {"history": {"conditions": ["other"]}}, PHYSIO),
    ("inflammatory arthritis", "SPH-PREVIOUS-INJURY-OR-CONDITION",
     {"history": {"conditions": ["inflammatory_arthritis"]}}, PHYSIO),
    ("long-term steroids", "SPH-PREVIOUS-INJURY-OR-CONDITION", {"history": {"long_term_steroids": True}}, PHYSIO),
    ("left-sided", "SPH-ONE-SIDED", {"pain": {"side": "left"}}, PHYSIO),
    ("right-sided", "SPH-ONE-SIDED", {"pain": {"side": "right"}}, PHYSIO),
    ("both sides of the back, nothing in the legs", None, {"pain": {"side": "both"}}, SELF_CARE),
    ("pain into one leg", "SPH-SCIATICA-SIGNS", {"pain": LEFT_LEG}, PHYSIO),
    ("pain into one leg above the knee", "SPH-SCIATICA-SIGNS",
     {"pain": {"radiates_to_leg": "above_knee", "leg_pain_side": "right"}}, PHYSIO),
    ("leg weakness alone", "SPH-SCIATICA-SIGNS", {"neuro": {"leg_weakness": True}}, PHYSIO),
    ("6 weeks", "RT-LONG-DURATION", {"pain": {"weeks_since_onset": 6}}, PHYSIO),
    ("5 weeks", None, {"pain": {"weeks_since_onset": 5}}, SELF_CARE),
    ("pain 8 now", "RT-SEVERE-PAIN", {"pain": {"intensity_now": 8}}, PHYSIO),
    ("pain 7 now", None, {"pain": {"intensity_now": 7}}, SELF_CARE),
    ("age 17", "RT-UNDER-18", {"age": 17, "last_day": True}, PHYSIO),
    ("age 18", None, {"age": 18}, SELF_CARE),
    ("night pain at 35", "RT-NIGHT-PAIN", {"pain": {"night_pain": True}}, PHYSIO),
    # --- routine, a doctor's review -----------------------------------------------------------
    ("new pain at 50, 11 weeks", "MR-NEW-ONSET-OVER-50", {"age": 50, "pain": {"weeks_since_onset": 11}}, MEDICAL),
    ("pain at 50, 12 weeks", "RT-LONG-DURATION", {"age": 50, "pain": {"weeks_since_onset": 12}}, PHYSIO),
    ("new pain at 49", None, {"age": 49, "last_day": True}, SELF_CARE),
    ("inflammatory pattern", "MR-INFLAMMATORY-PATTERN",
     {"age": 30, "pain": {"weeks_since_onset": 12, "morning_stiffness_minutes": 30, "eases_with_exercise": True}},
     MEDICAL),
    ("inflammatory pattern, 11 weeks", "RT-LONG-DURATION",
     {"age": 30, "pain": {"weeks_since_onset": 11, "morning_stiffness_minutes": 30, "eases_with_exercise": True}},
     PHYSIO),
    ("inflammatory pattern, stiffness 29 minutes", "RT-LONG-DURATION",
     {"age": 30, "pain": {"weeks_since_onset": 12, "morning_stiffness_minutes": 29, "eases_with_exercise": True}},
     PHYSIO),
    ("inflammatory pattern, not easing with exercise", "RT-LONG-DURATION",
     {"age": 30, "pain": {"weeks_since_onset": 12, "morning_stiffness_minutes": 90, "eases_with_exercise": False}},
     PHYSIO),
    ("inflammatory pattern, onset just before 45", "MR-INFLAMMATORY-PATTERN",
     {"age": 46, "pain": {"weeks_since_onset": 53, "morning_stiffness_minutes": 30, "eases_with_exercise": True}},
     MEDICAL),
    ("inflammatory pattern, onset at 45", "RT-LONG-DURATION",
     {"age": 46, "pain": {"weeks_since_onset": 52, "morning_stiffness_minutes": 30, "eases_with_exercise": True}},
     PHYSIO),
    ("cancer history alone at 35", "MR-CANCER-HISTORY", {"history": {"conditions": ["cancer_history"]}}, MEDICAL),
    ("weight loss alone at 35", "MR-WEIGHT-LOSS", {"history": {"unexplained_weight_loss": True}}, MEDICAL),
    ("night pain at 17", "MR-UNDER-18-NIGHT-PAIN",
     {"age": 17, "last_day": True, "pain": {"night_pain": True}}, MEDICAL),
    ("night pain at 18", "RT-NIGHT-PAIN", {"age": 18, "pain": {"night_pain": True}}, PHYSIO),
    ("worse arching backwards at 19", "MR-PARS-STRESS",
     {"age": 19, "last_day": True, "pain": {"worse_bending_backwards": True}}, MEDICAL),
    ("worse arching backwards at 20", None, {"age": 20, "pain": {"worse_bending_backwards": True}}, SELF_CARE),
    ("missed periods", "MR-BONE-STRESS-RISK", {"history": {"bone_stress_risk": ["missed_periods"]}}, MEDICAL),
    ("earlier stress fracture", "MR-BONE-STRESS-RISK",
     {"history": {"bone_stress_risk": ["previous_stress_fracture"]}}, MEDICAL),
    ("restricted eating", "MR-BONE-STRESS-RISK", {"history": {"bone_stress_risk": ["restricted_eating"]}}, MEDICAL),
    # --- self-care ------------------------------------------------------------------------------
    ("nothing applies", "SC-NONE-MATCHED", {}, SELF_CARE),
    ("tight and weak, nothing else", "SC-NONE-MATCHED",
     {"self_report": {"tight_hip_flexors": True, "tight_hamstrings": True, "weak_core": True}}, SELF_CARE),
]  # fmt: skip


@pytest.mark.parametrize(("case", "rule", "change", "expected"), CASES, ids=[c[0] for c in CASES])
def test_rule(case: str, rule: str | None, change: dict[str, Any], expected: tuple[str, str, int]) -> None:
    change = dict(change)
    age, last_day = change.pop("age", ADULT), change.pop("last_day", False)
    result = triage(age, last_day, **change)
    assert outcome(result) == expected
    if rule is not None:
        assert rule in fired(result)
    assert result.seek_professional_help is (expected[0] != "self_care")
    # Emergency and urgent rules name their red flags; routine and self-care have none.
    assert bool(result.red_flags) is (expected[0] in ("emergency", "urgent"))
    assert any(f.emergency for f in result.red_flags) is (expected[0] == "emergency")


def test_every_rule_that_sets_an_urgency_has_a_case_of_its_own() -> None:
    covered = {rule for _, rule, _, _ in CASES}
    urgent_rules = {r.id for r in service.current_ruleset().rules if r.urgency}
    # The screening and notes rules have tests of their own (test_not_asked.py, test_notes.py).
    untested = urgent_rules - covered - {"CR-SCREENING-INCOMPLETE", "CR-NOTES-RED-FLAG-TERMS"}
    assert untested == set()


# --- not asked is never "no" and never "yes" --------------------------------------------------


def test_cancer_with_walking_not_asked_is_not_read_as_a_leg_symptom() -> None:
    result = triage(history={"conditions": ["cancer_history"]}, neuro={"walking_difficulty": None})
    assert "RF-MSCC" not in fired(result)
    assert outcome(result) == ("routine", "medical_review", 24)  # screening due in 24 h: cancer history
    assert [c.code for c in result.clinician_review] == ["screening_incomplete"]


def test_fever_with_risk_factors_not_asked_is_urgent_not_emergency() -> None:
    result = triage(history={"fever": True, "iv_drug_use": None, "recent_infection_or_procedure": None})
    assert outcome(result) == URGENT
    assert "RF-SPINAL-INFECTION" not in fired(result)


def test_sexual_function_with_leg_symptoms_not_asked_stays_same_day() -> None:
    result = triage(neuro={"sexual_function_change": True, "walking_difficulty": None})
    assert outcome(result) == SAME_DAY


def test_age_not_known_fires_no_age_rule() -> None:
    result = triage(age=None, history={"abdominal_pain_or_faintness": True}, pain={"night_pain": True})
    assert outcome(result) == URGENT  # the aneurysm rule needs an age; the under-60 rule does not
    assert {"RF-AORTIC-ANEURYSM", "RF-NIGHT-PAIN-OVER-50"}.isdisjoint(fired(result))
    assert "patient.birth_date" in result.clinician_review[0].label


def test_night_pain_not_asked_reads_at_night_in_timing() -> None:
    result = triage(age=55, pain={"night_pain": None, "timing": ["at_night"], "weeks_since_onset": 20})
    assert outcome(result) == URGENT
    assert "RF-NIGHT-PAIN-OVER-50" in fired(result)


def test_hopping_pain_tells_the_runner_to_stop_running() -> None:
    advice = " ".join(triage(pain={"hurts_to_hop_or_bear_weight": True}).advice).lower()
    assert "stop running" in advice
