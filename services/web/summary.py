"""A referral's clinical picture in words, from the runner's answers: one line for the queue, a
few sentences for the referral page. Only what was said: a question not asked is said to be not
asked, never read as "no"."""

from services.intake.schemas import StoredIntake
from services.triage.schemas import TriageResult, age_on

SIDE = {"left": "left-sided", "right": "right-sided", "both": "on both sides", "central": "central"}
LEG = {"left": "the left leg", "right": "the right leg", "both": "both legs"}
REACH = {"above_knee": "above the knee", "below_knee": "below the knee"}
CONDITION = {
    "osteoporosis": "osteoporosis",
    "cancer_history": "a history of cancer",
    "inflammatory_arthritis": "inflammatory arthritis",
    "immunosuppression": "a weakened immune system",
    "diabetes": "diabetes",
    "other": "another long-term condition",
}
TIMING = {"during_run": "while running", "after_run": "after running", "at_rest": "at rest", "at_night": "at night",
          "morning_stiffness": "stiff in the morning"}  # fmt: skip
SEX = {"female": "woman", "male": "man", "other": "person", "unknown": "person"}


def age(intake: StoredIntake) -> int:
    """Age on the day of the intake (as triage took it)."""
    return age_on(intake.patient.birth_date, intake.created_at.date())


def duration(weeks: int) -> str:
    if weeks == 0:
        return "less than a week"
    if weeks >= 104:
        return f"{weeks // 52} years"
    return "1 week" if weeks == 1 else f"{weeks} weeks"


def _leg_pain(intake: StoredIntake) -> str | None:
    pain = intake.pain
    if pain.radiates_to_leg == "none":
        return None
    leg = LEG.get(pain.leg_pain_side or "", "a leg")
    return f"pain into {leg} {REACH[pain.radiates_to_leg]}"


def findings(intake: StoredIntake) -> list[str]:
    """The answers that matter most for how urgent this is, short, most telling first."""
    pain, neuro, history = intake.pain, intake.neuro, intake.history
    found = [_leg_pain(intake)]
    if neuro.numbness_or_tingling:
        found.append(f"numbness or tingling in {LEG.get(neuro.numbness_side or '', 'a leg (side not asked)')}")
    if neuro.leg_weakness:
        found.append("leg weakness, getting worse" if neuro.weakness_progressing else "leg weakness")
    if neuro.walking_difficulty:
        found.append("difficulty walking")
    if pain.night_pain or "at_night" in pain.timing:
        found.append("night pain")
    if pain.worsening:
        found.append("getting worse")
    if pain.persistent_despite_rest:
        found.append("not eased by rest")
    if history.fever or history.fever_or_unwell:
        found.append("fever or feeling unwell")
    if history.recent_trauma:
        found.append("a recent significant injury" if history.recent_trauma_kind != "minor" else "a recent minor fall")
    found += [CONDITION.get(c, c.replace("_", " ")) for c in history.conditions]
    return [f for f in found if f]


def one_line(intake: StoredIntake, triage: TriageResult | None) -> str:
    """`Left-sided, 6 weeks; pain into the left leg below the knee; night pain. Red flags: ...`"""
    head = f"{SIDE[intake.pain.side].capitalize()}, {duration(intake.pain.weeks_since_onset)}"
    line = "; ".join([head, *findings(intake)[:3]]) + "."
    if triage is not None and triage.red_flags:
        line += " Red flags: " + ", ".join(f.label for f in triage.red_flags) + "."
    return line


def sentences(intake: StoredIntake) -> list[str]:
    """The clinical picture for the referral page, in the order a clinician would tell it."""
    p, pain, neuro, history, running = intake.patient, intake.pain, intake.neuro, intake.history, intake.running
    said = [f"{p.given_name} {p.family_name}, {age(intake)}-year-old {SEX[p.sex]}, has had low back pain for "
            f"{duration(pain.weeks_since_onset)}, {SIDE[pain.side]}"
            + (f", with {leg}" if (leg := _leg_pain(intake)) else "") + "."]  # fmt: skip
    when = ", ".join(TIMING[t] for t in pain.timing)
    said.append(
        f"Pain is {pain.intensity_now}/10 now and {pain.intensity_running}/10 when running"
        + (f", {when}" if when else "")
        + "."
        + (" It is getting worse." if pain.worsening else "")
        + (" Rest does not ease it." if pain.persistent_despite_rest else "")
    )
    nerves = findings(intake)
    serious = [f for f in nerves if f.startswith(("numbness", "leg weakness", "difficulty walking"))]
    if neuro.saddle_numbness:
        serious.append("numbness around the bottom or genitals")
    if neuro.bladder_or_bowel_change:
        serious.append("a change in bladder or bowel control")
    if neuro.sexual_function_change:
        serious.append("a change in sexual function")
    said.append(
        ("Reports " + ", ".join(serious) + ".") if serious else "No numbness, weakness or bladder change reported."
    )
    past = [CONDITION.get(c, c.replace("_", " ")) for c in history.conditions]
    more = [
        (history.unexplained_weight_loss, "unexplained weight loss"),
        (history.long_term_steroids, "long-term steroids"),
        (history.iv_drug_use, "injects drugs"),
        (history.recent_infection_or_procedure, "a recent infection, spinal injection or surgery"),
        (history.abdominal_pain_or_faintness, "tummy pain or faintness with the back pain"),
    ]
    past += [words for answered, words in more if answered]
    if past:
        said.append("History: " + ", ".join(past) + ".")
    said.append(
        f"Runs {running.weekly_km:g} km a week (up {running.mileage_increase_pct:g}% lately) on {running.surface}, "
        f"in shoes with {running.shoe_km:g} km on them."
    )
    return said


def not_asked(intake: StoredIntake) -> list[str]:
    """The v2 questions this intake was never asked (a v1 client, or left out): unknown, not no."""
    asked = {
        "night pain": intake.pain.night_pain,
        "difficulty walking": intake.neuro.walking_difficulty,
        "sexual function": intake.neuro.sexual_function_change,
        "fever": intake.history.fever,
        "drug injection": intake.history.iv_drug_use,
        "recent infection or procedure": intake.history.recent_infection_or_procedure,
        "tummy pain or faintness": intake.history.abdominal_pain_or_faintness,
        "hopping or standing on one leg": intake.pain.hurts_to_hop_or_bear_weight,
    }
    return [question for question, answer in asked.items() if answer is None]
