"""SPEC §5 notes: free text is for a person to read; words that suggest a red flag make it
routine within 12 h, and notes never raise a result above routine."""

import pytest

from services.triage.notes import TermMatcher
from services.triage.schemas import TriageResult
from tests.factories import evaluate, intake_body


def codes(result: TriageResult) -> list[str]:
    return [c.code for c in result.clinician_review]


# Sentences a runner might write, each suggesting a red flag the structured answers do not show.
SUGGESTING = [
    "My bum has felt a bit numb since Tuesday.",
    "Sometimes I get pins and needles down to my toes.",
    "I've had some trouble peeing this week.",
    "Had a small accident with my bladder on the long run.",
    "I wet myself a little on Sunday's run, not sure if related.",
    "Needed the toilet more than usual and couldn't always hold it.",
    "Noticed some numbness in the groin area",
    "My left leg feels weaker going upstairs.",
    "My legs gave way on the stairs yesterday.",
    "I've been running a temperature on and off.",
    "Woke up drenched with night sweats twice last week",
    "Finished chemo for breast cancer two years ago.",
    "They removed a tumour from my kidney in 2019.",
    "I've lost weight without trying, about 5 kg.",
    "The pain wakes me at 3am most nights.",
    "It is much worse at night, I can't sleep on my back.",
    "I fell off my bike last Thursday.",
    "I'm on prednisolone for my asthma.",
    "Had an epidural injection in September.",
    "I felt faint after the run and had stomach pain.",
    "My periods stopped last spring when I upped my mileage.",
    "I've been restricting food to get down to race weight.",
    "It hurts in the groin when I hop.",
    "Never had a bladder problem before.",  # negation is not read: a person reads it
    "Diagnosed with type 1 diabetes as a child.",
    "Sexual problems since the pain started.",
    "IV drug user in the past, clean now.",
    "I can't feel my legs properly and couldn't walk to the shop.",
    "Had a melanoma removed in 2021.",
    "Scan last year showed a bone metastasis.",
    "I've lost a lot of weight recently, two stone.",
    "Hot and cold sweats most evenings.",
    "The pain goes down both legs now.",
    "Sex is painful since this started.",
    "I had a temp of 38.5 yesterday.",
    "I wake up in the night with the pain.",
    "Some stomach ache alongside the back pain.",
    "Haven't had a period for 5 months.",
    "My GP said I'm osteoporotic.",
    "Tingly feet after long runs.",
    "Pins & needles in my left foot.",
    "cant walk far without stopping",
]
BENIGN = [
    "Pain started after I added a weekly hill session.",
    "Worse on the right after long runs; eases with walking.",
    "Training for the Berlin marathon in September.",
    "I usually run before work and stretch afterwards.",
    "My physio last year said my hip flexors were tight.",
    "Bought new shoes last month, feel good.",
    "I usually run at night after the kids are in bed.",
    "I sweat a lot on long runs.",
    "Weight training twice a week.",
]


@pytest.mark.parametrize("text", SUGGESTING)
def test_sentences_that_suggest_a_red_flag(text: str) -> None:
    result = evaluate(intake_body(notes=text))
    assert codes(result) == ["notes_to_read", "notes_suggest_red_flag"]
    assert (result.urgency, result.pathway, result.due_within_hours) == ("routine", "physiotherapy", 12)
    assert result.red_flags == []  # words in notes are not red flags


@pytest.mark.parametrize("text", BENIGN)
def test_other_notes_are_only_to_read(text: str) -> None:
    result = evaluate(intake_body(notes=text))
    assert codes(result) == ["notes_to_read"]
    assert (result.urgency, result.pathway, result.due_within_hours) == ("self_care", "self_management", 336)


def test_earlier_injury_notes_are_read_too() -> None:
    result = evaluate(
        intake_body(history={"previous_back_injury": True, "previous_injury_notes": "Fractured L3 in a crash"})
    )
    assert codes(result) == ["notes_to_read", "notes_suggest_red_flag"]
    assert result.due_within_hours == 12


def test_blank_notes_are_no_notes() -> None:
    assert evaluate(intake_body(notes="")).clinician_review == []


def test_notes_never_raise_above_routine() -> None:
    result = evaluate(intake_body(notes="Numb around my bottom, wet myself, legs gave way, cancer, fever."))
    assert result.urgency == "routine"


def test_notes_never_lower_what_the_answers_say() -> None:
    result = evaluate(intake_body(neuro={"saddle_numbness": True}, notes="Feeling fine otherwise"))
    assert (result.urgency, result.due_within_hours) == ("emergency", 0)
    assert codes(result) == ["notes_to_read"]


def test_the_review_names_the_terms_found() -> None:
    result = evaluate(intake_body(notes="Some numbness and a temperature."))
    label = next(c.label for c in result.clinician_review if c.code == "notes_suggest_red_flag")
    assert "numb" in label and "temperature" in label


def test_matching_is_on_stems_and_phrasings() -> None:
    matcher = TermMatcher(("numb", "pins and needles", "can't walk"))
    assert matcher.found("Numbness in both feet") == ["numb"]
    assert matcher.found("NUMBING pain") == ["numb"]
    assert matcher.found("pin and needle feeling") == ["pins and needles"]
    assert matcher.found("I can\u2019t walk far") == ["can't walk"]  # typographic apostrophe
    assert matcher.found("pins, and the needles") == []  # a phrasing is its words in a row
    assert matcher.found("numbers on my watch") == []  # a stem is not a prefix
    wildcard = TermMatcher(("lost * weight",))
    assert wildcard.found("lost weight") == wildcard.found("lost a lot of weight") == ["lost * weight"]
    assert wildcard.found("lost my keys and then put on weight") == []  # more than three words apart
    with pytest.raises(ValueError, match="only between them"):
        TermMatcher(("* weight",))
