"""SPEC §5 "Reading the answers": what the rules read besides the answers themselves.

Each fact is True, False or None. None means "not known": a red-flag question was
not asked (or the birth date is missing), and the rules read it as neither yes nor
no (three-valued logic in engine.py). A fact is None only where a question it
depends on was left out; a v1 body leaves every v2 question out.
"""

from datetime import date
from typing import Any

from services.triage.schemas import age_on

# The red-flag questions whose absence is "not asked" (SPEC §5), with the words a person
# asking them would use. numbness_side and leg_pain_side count only when they apply.
RED_FLAG_QUESTIONS: dict[str, str] = {
    "pain.night_pain": "pain at night that changing position does not ease",
    "history.fever": "a temperature, chills or sweats",
    "neuro.sexual_function_change": "new problems with sexual function",
    "neuro.walking_difficulty": "new trouble walking or legs giving way",
    "history.iv_drug_use": "injecting drugs",
    "history.recent_infection_or_procedure": "a bacterial infection, spinal injection or surgery in the last 3 months",
    "history.abdominal_pain_or_faintness": "tummy pain with the back pain, or feeling faint",
    "pain.hurts_to_hop_or_bear_weight": "groin, hip or buttock pain when hopping or standing on one leg",
    "neuro.numbness_side": "which leg is numb (or both)",
    "pain.leg_pain_side": "which leg the pain goes into (or both)",
    "patient.birth_date": "date of birth (age)",
}


def _any(*values: bool | None) -> bool | None:
    """Kleene OR: yes if any is yes; unknown if none is yes but one is unknown."""
    if any(v is True for v in values):
        return True
    return None if any(v is None for v in values) else False


def _all(*values: bool | None) -> bool | None:
    """Kleene AND: no if any is no; unknown if none is no but one is unknown."""
    if any(v is False for v in values):
        return False
    return None if any(v is None for v in values) else True


def not_asked(data: dict[str, Any], birth_date: date | None) -> list[str]:
    """The red-flag questions left out, as dotted names, in RED_FLAG_QUESTIONS order."""
    pain, neuro = data["pain"], data["neuro"]
    applies = {
        "neuro.numbness_side": neuro["numbness_or_tingling"],
        "pain.leg_pain_side": pain["radiates_to_leg"] != "none",
    }
    missing = []
    for path in RED_FLAG_QUESTIONS:
        section, name = path.split(".")
        if section == "patient":
            if birth_date is None:
                missing.append(path)
        elif applies.get(path, True) and data[section].get(name) is None:
            missing.append(path)
    return missing


def facts(data: dict[str, Any], birth_date: date | None, on: date) -> dict[str, Any]:
    """The derived answers the rules read as `facts.<name>`."""
    pain, neuro, history = data["pain"], data["neuro"], data["history"]
    conditions = set(history["conditions"])
    age = age_on(birth_date, on) if birth_date is not None else None

    # Leg pain: pain spreading into a leg; an answer to "which leg" says so too, at any level.
    leg_pain = pain["radiates_to_leg"] != "none" or pain.get("leg_pain_side") is not None
    leg_weakness = neuro["leg_weakness"] or neuro["weakness_progressing"]
    numbness = neuro["numbness_or_tingling"]
    walking = neuro.get("walking_difficulty")

    numbness_both: bool | None = False
    if numbness:
        numbness_both = None if neuro.get("numbness_side") is None else neuro["numbness_side"] == "both"
    leg_pain_both: bool | None = False
    if pain.get("leg_pain_side") is not None:
        leg_pain_both = pain["leg_pain_side"] == "both"
    elif leg_pain:
        # Only when "which leg" was not asked: pain on both sides spreading below the knee counts.
        leg_pain_both = True if (pain["side"] == "both" and pain["radiates_to_leg"] == "below_knee") else None

    night_pain = pain.get("night_pain")
    if night_pain is None and "at_night" in pain["timing"]:
        night_pain = True
    fever = history.get("fever")
    if fever is None:
        fever = history["fever_or_unwell"]
    immunosuppressed = "immunosuppression" in conditions or history["long_term_steroids"]
    trauma_kind = history.get("recent_trauma_kind") or "significant"  # missing counts as significant

    return {
        "age": age,
        "onset_age": None if age is None else age - pain["weeks_since_onset"] / 52,
        "leg_pain": leg_pain,
        "leg_weakness": leg_weakness,
        "leg_symptom": _any(leg_pain, numbness, leg_weakness, walking),
        "other_leg_symptom": leg_pain or numbness or leg_weakness,
        "bilateral_leg_symptoms": _any(numbness_both, leg_pain_both),
        "night_pain": night_pain,
        "fever": fever,
        "immunosuppressed": immunosuppressed,
        "fragile_bone": "osteoporosis" in conditions or history["long_term_steroids"],
        "infection_risk": _any(
            history.get("iv_drug_use"),
            immunosuppressed,
            history.get("recent_infection_or_procedure"),
            "diabetes" in conditions,
        ),
        "significant_trauma": _all(history["recent_trauma"], trauma_kind == "significant"),
    }
