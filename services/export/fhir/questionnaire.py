"""The intake form as a FHIR Questionnaire, and intakes as QuestionnaireResponses.

The Questionnaire is derived from the intake schema itself (`IntakeIn`), so its
linkIds (the dotted field names of SPEC §4), types, answer options and
`required` flags cannot drift from what `POST /v1/intakes` accepts.
"""

import types
import typing
from datetime import date
from typing import Any, Literal

from pydantic import BaseModel
from pydantic.fields import FieldInfo

from services.export.fhir import identifiers as ids
from services.intake.schemas import IntakeIn, StoredIntake

SECTIONS = {
    "patient": "About you",
    "consent": "Consent",
    "pain": "Your back pain",
    "neuro": "Numbness and weakness",
    "function": "Daily life",
    "history": "Medical history",
    "running": "Your running",
    "self_report": "How your body feels",
}
QUESTIONS = {
    "patient.given_name": "Given name",
    "patient.family_name": "Family name",
    "patient.birth_date": "Date of birth",
    "patient.sex": "Sex",
    "patient.email": "Email",
    "patient.phone": "Phone",
    "patient.mrn": "Clinic patient number",
    "consent.data_processing": "I agree to my answers being processed to triage my back pain",
    "consent.contact_ok": "The clinic may contact me",
    "pain.side": "Where is the pain?",
    "pain.weeks_since_onset": "How many weeks ago did it start?",
    "pain.intensity_now": "How bad is the pain now (0 = none, 10 = worst)?",
    "pain.intensity_running": "How bad is the pain when you run (0-10)?",
    "pain.timing": "When does it hurt?",
    "pain.persistent_despite_rest": "Does the pain stay even when you rest?",
    "pain.worsening": "Is the pain getting worse?",
    "pain.radiates_to_leg": "Does the pain spread into your leg?",
    "neuro.numbness_or_tingling": "Do you have numbness or tingling in your legs?",
    "neuro.numbness_side": "Which leg is numb or tingling?",
    "neuro.leg_weakness": "Does a leg feel weak?",
    "neuro.weakness_progressing": "Is the weakness getting worse?",
    "neuro.saddle_numbness": "Numbness around your bottom, genitals or inner thighs?",
    "neuro.bladder_or_bowel_change": "Any new change in bladder or bowel control?",
    "function.daily_activity_difficulty": "Does the pain make daily activities difficult?",
    "history.previous_back_injury": "Have you injured your back before?",
    "history.previous_injury_notes": "Tell us about the earlier injury",
    "history.conditions": "Do you have any of these conditions?",
    "history.recent_trauma": "Have you had a fall, accident or blow recently?",
    "history.fever_or_unwell": "Do you have a fever or feel generally unwell?",
    "history.unexplained_weight_loss": "Have you lost weight without trying?",
    "history.long_term_steroids": "Do you take steroid tablets long-term?",
    "running.weekly_km": "Kilometres per week",
    "running.mileage_increase_pct": "How much has your weekly distance gone up recently (%)?",
    "running.surface": "Where do you mostly run?",
    "running.shoe_km": "Kilometres on your current shoes",
    "running.warm_up": "Do you warm up before running?",
    "running.stretching_per_week": "Stretching sessions per week",
    "running.strength_sessions_per_week": "Strength sessions per week",
    "running.lands_harder_on": "Do you land harder on one foot?",
    "running.known_leg_length_difference": "Have you been told one leg is longer?",
    "self_report.tight_hip_flexors": "Do your hip flexors feel tight?",
    "self_report.tight_hamstrings": "Do your hamstrings feel tight?",
    "self_report.weak_core": "Does your core feel weak?",
    "notes": "Anything else we should know?",
}
# Questions that only matter when another answer makes them relevant.
# (Only where the intake itself refuses the answer otherwise, so a stored intake never
# answers a disabled question.)
ENABLE_WHEN = {"neuro.numbness_side": ("neuro.numbness_or_tingling", True)}
LONG_TEXT = {"history.previous_injury_notes", "notes"}
MAX_LENGTH = {"patient.given_name": 100, "patient.family_name": 100, "patient.mrn": 64, "patient.phone": 32,
              "history.previous_injury_notes": 1000, "notes": 2000}  # fmt: skip

Kind = Literal["boolean", "integer", "decimal", "date", "choice", "string", "text"]
VALUE_KEY = {"boolean": "valueBoolean", "integer": "valueInteger", "decimal": "valueDecimal", "date": "valueDate",
             "string": "valueString", "text": "valueString", "choice": "valueCoding"}  # fmt: skip


MIN_VALUE = "http://hl7.org/fhir/StructureDefinition/minValue"
MAX_VALUE = "http://hl7.org/fhir/StructureDefinition/maxValue"


def _bounds(field: FieldInfo, kind: Kind) -> list[dict[str, Any]]:
    """minValue/maxValue extensions from the schema's ge/le, for number questions."""
    key = "valueInteger" if kind == "integer" else "valueDecimal"
    extensions = []
    for meta in field.metadata:
        for attribute, url in (("ge", MIN_VALUE), ("le", MAX_VALUE)):
            if getattr(meta, attribute, None) is not None:
                extensions.append({"url": url, key: getattr(meta, attribute)})
    return extensions if kind in ("integer", "decimal") else []


def _shape(field: FieldInfo) -> tuple[Kind, tuple[str, ...], bool, bool]:
    """(item type, answer options, repeats, required) of a schema field."""
    annotation: Any = field.annotation
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        annotation = next(a for a in typing.get_args(annotation) if a is not type(None))
    while typing.get_origin(annotation) is typing.Annotated:
        annotation = typing.get_args(annotation)[0]
    repeats = typing.get_origin(annotation) is list
    if repeats:
        annotation = typing.get_args(annotation)[0]
    if typing.get_origin(annotation) is Literal:
        return "choice", tuple(typing.get_args(annotation)), repeats, field.is_required()
    kinds: dict[Any, Kind] = {bool: "boolean", int: "integer", float: "decimal", date: "date"}
    return kinds.get(annotation, "string"), (), repeats, field.is_required()


def _leaves() -> list[tuple[str, str | None, FieldInfo]]:
    """(linkId, section, field) for every answer, in form order."""
    leaves: list[tuple[str, str | None, FieldInfo]] = []
    for section, field in IntakeIn.model_fields.items():
        model = field.annotation
        if isinstance(model, type) and issubclass(model, BaseModel):
            leaves += [(f"{section}.{name}", section, sub) for name, sub in model.model_fields.items()]
        else:
            leaves.append((section, None, field))
    order = [*SECTIONS, "notes"]
    return sorted(leaves, key=lambda leaf: order.index(leaf[1] or leaf[0]))


def questionnaire() -> dict[str, Any]:
    groups: dict[str, dict[str, Any]] = {}
    items: list[dict[str, Any]] = []
    for link_id, section, field in _leaves():
        kind, options, repeats, required = _shape(field)
        item: dict[str, Any] = {
            "linkId": link_id,
            "text": QUESTIONS[link_id],
            "type": "text" if link_id in LONG_TEXT else kind,
            # An empty list is a valid answer ("none of these"), and an empty list is no answer at all.
            "required": required and not repeats,
        }
        if repeats:
            item["repeats"] = True
        if bounds := _bounds(field, kind):
            item["extension"] = bounds
        if link_id in MAX_LENGTH:
            item["maxLength"] = MAX_LENGTH[link_id]
        if options:
            item["answerOption"] = [{"valueCoding": {"system": ids.CODES, "code": o}} for o in options]
        if link_id in ENABLE_WHEN:
            question, answer = ENABLE_WHEN[link_id]
            item["enableWhen"] = [{"question": question, "operator": "=", "answerBoolean": answer}]
        if section is None:
            items.append(item)
            continue
        if section not in groups:
            groups[section] = {
                "linkId": section,
                "text": SECTIONS[section],
                "type": "group",
                "required": True,
                "item": [],
            }
            items.append(groups[section])
        groups[section]["item"].append(item)
    return {
        "resourceType": "Questionnaire",
        "id": "backstride-intake",
        "url": ids.QUESTIONNAIRE_URL,
        "version": ids.QUESTIONNAIRE_VERSION,
        "name": "BackstrideIntake",
        "title": "Low back pain in runners: intake",
        "status": "active",
        "subjectType": ["Patient"],
        "item": items,
    }


def _answers(kind: Kind, value: Any) -> list[dict[str, Any]]:
    values = value if isinstance(value, list) else [value]
    key = VALUE_KEY[kind]
    encoded = [
        {"system": ids.CODES, "code": v} if kind == "choice" else v.isoformat() if isinstance(v, date) else v
        for v in values
    ]
    return [{key: v} for v in encoded]


def to_questionnaire_response(intake: StoredIntake, subject: str) -> dict[str, Any]:
    """The stored intake as a completed QuestionnaireResponse about `subject` (a reference)."""
    data = intake.model_dump(exclude={"id", "created_at"})
    groups: dict[str, dict[str, Any]] = {}
    items: list[dict[str, Any]] = []
    for link_id, section, field in _leaves():
        value = data[section][link_id.split(".", 1)[1]] if section else data[link_id]
        if value is None or value == [] or value == "":
            continue
        kind, _, _, _ = _shape(field)
        item = {"linkId": link_id, "text": QUESTIONS[link_id], "answer": _answers(kind, value)}
        if section is None:
            items.append(item)
            continue
        if section not in groups:
            groups[section] = {"linkId": section, "text": SECTIONS[section], "item": []}
            items.append(groups[section])
        groups[section]["item"].append(item)
    return {
        "resourceType": "QuestionnaireResponse",
        "questionnaire": f"{ids.QUESTIONNAIRE_URL}|{ids.QUESTIONNAIRE_VERSION}",
        "status": "completed",
        "subject": {"reference": subject},
        "authored": intake.created_at.isoformat(),
        "item": items,
    }


class AnswerError(ValueError):
    def __init__(self, link_id: str, message: str) -> None:
        super().__init__(message)
        self.link_id = link_id


def intake_body(response: dict[str, Any]) -> dict[str, Any]:
    """The `POST /v1/intakes` body a QuestionnaireResponse's answers make (validated by the caller)."""
    shapes = {link_id: _shape(field) for link_id, _, field in _leaves()}
    body: dict[str, Any] = {section: {} for section in SECTIONS}

    def walk(items: list[dict[str, Any]]) -> None:
        for item in items:
            link_id = item.get("linkId", "")
            if link_id in SECTIONS:
                walk(item.get("item") or [])
                continue
            if link_id not in shapes:
                raise AnswerError(link_id, f"unknown question {link_id!r}")
            kind, _, repeats, _ = shapes[link_id]
            values = [_answer_value(link_id, kind, a) for a in item.get("answer") or []]
            if not repeats and len(values) > 1:
                raise AnswerError(link_id, "this question takes one answer")
            section, _, name = link_id.rpartition(".")
            target = body[section] if section else body
            target[name] = values if repeats else (values[0] if values else None)

    walk(response.get("item") or [])
    # A repeating question left unanswered means "none of these".
    for link_id, (_, _, repeats, _) in shapes.items():
        section, _, name = link_id.rpartition(".")
        if repeats and name not in body[section]:
            body[section][name] = []
    return body


def _answer_value(link_id: str, kind: Kind, answer: dict[str, Any]) -> Any:
    if kind == "choice":
        coding = answer.get("valueCoding")
        if isinstance(coding, dict) and "code" in coding:
            return coding["code"]
        if "valueString" in answer:
            return answer["valueString"]
        raise AnswerError(link_id, "answer with valueCoding (a code from the answer options)")
    key = VALUE_KEY[kind]
    if key not in answer:
        raise AnswerError(link_id, f"answer with {key}")
    return answer[key]
