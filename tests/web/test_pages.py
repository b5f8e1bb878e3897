"""Pages without a browser: what an unknown embed key answers, and the referral page's parts
built from the answers (summary, questions in the form's words, sources by title)."""

import uuid
from datetime import UTC, datetime
from typing import Any

import httpx

from services.intake.schemas import StoredIntake
from services.triage import service as triage
from services.triage.documents import TITLES, anchor, document, link
from services.triage.ruleset import SOURCES_DIR
from services.web import summary, views
from tests.factories import intake_body, v1_body


def stored(body: dict[str, Any], created: datetime = datetime(2026, 11, 29, 9, tzinfo=UTC)) -> StoredIntake:
    return StoredIntake.model_validate({**body, "id": uuid.uuid4(), "created_at": created}, context={"stored": True})


async def test_an_unknown_embed_key_gets_a_page_with_the_safety_advice(client: httpx.AsyncClient) -> None:
    response = await client.get("/embed/form", params={"key": "pk_" + "x" * 43})
    assert response.status_code == 404 and response.headers["content-type"].startswith("text/html")
    assert "This form is not available" in response.text
    assert triage.current_ruleset().pathway_advice["emergency_department"].split(".")[0] in response.text
    assert "frame-ancestors *" in response.headers["content-security-policy"]


def test_every_document_has_its_own_headline_as_title() -> None:
    assert set(TITLES) == {p.name for p in SOURCES_DIR.glob("*.txt")}
    for name, title in TITLES.items():
        assert title in (SOURCES_DIR / name).read_text(encoding="utf-8")


def test_every_quote_the_rules_cite_links_to_a_marked_passage_holding_it() -> None:
    rules = triage.current_ruleset()
    cited = [s for r in rules.rules for s in r.sources] + list(rules.self_care.sources)
    for source in (s for s in cited if s.kind == "document"):
        assert source.document is not None and source.quote is not None
        href = link(source.document, source.quote)
        assert href is not None and href.startswith(f"/ui/sources/{source.document}#passage-")
        target = href.split("#")[1]
        marked = [p.text for para in document(source.document).paragraphs for p in para if p.anchor == target]
        quote = source.quote
        assert marked and (quote in marked[0] or marked[0] in quote), quote[:40]
    assert anchor("a") == anchor("a") != anchor("b")


def test_the_one_line_summary_says_side_duration_findings_and_red_flags() -> None:
    intake = stored(intake_body(pain={"side": "right", "weeks_since_onset": 3, "radiates_to_leg": "above_knee",
                                      "leg_pain_side": "right"}, neuro={"leg_weakness": True,
                                      "weakness_progressing": True}))  # fmt: skip
    result = triage.evaluate(intake, intake.patient.birth_date, intake.created_at.date())
    line = summary.one_line(intake, result)
    assert line.startswith("Right-sided, 3 weeks; pain into the right leg above the knee; leg weakness, getting worse")
    assert ("Red flags: " + result.red_flags[0].label) in line


def test_questions_never_asked_are_said_to_be_unknown_never_no() -> None:
    intake = stored(v1_body())
    assert "night pain" in summary.not_asked(intake) and "fever" in summary.not_asked(intake)
    answers = {a.question: a.answer for s in views.answers_as_asked(intake) for a in s.answers}
    night = next(q for q in answers if "at night" in q and "position" in q)
    assert answers[night] == "Not asked"
    assert summary.not_asked(stored(intake_body())) == []


def test_answers_use_the_forms_words_and_follow_ups_only_where_asked() -> None:
    plain = stored(intake_body(running={"surface": "trail"}))
    asked = [a for s in views.answers_as_asked(plain) for a in s.answers]
    assert not any("Which leg is numb" in a.question for a in asked)  # not numb: never asked which leg
    surface = next(a for a in asked if "surface" in a.question.lower() or "mostly run" in a.question.lower())
    assert surface.answer == "Trail"
    numb = stored(intake_body(neuro={"numbness_or_tingling": True, "numbness_side": "both"}))
    follow_up = next(a for s in views.answers_as_asked(numb) for a in s.answers if "numb" in a.question.lower()
                     and "which" in a.question.lower())  # fmt: skip
    assert follow_up.answer == "Both legs"


def test_the_summary_reads_as_sentences_from_the_answers() -> None:
    intake = stored(intake_body(neuro={"saddle_numbness": True}, history={"conditions": ["cancer_history"]}))
    said = " ".join(summary.sentences(intake))
    assert said.startswith(f"{intake.patient.given_name} {intake.patient.family_name}, {summary.age(intake)}-year-old")
    assert "numbness around the bottom or genitals" in said and "History: a history of cancer." in said
