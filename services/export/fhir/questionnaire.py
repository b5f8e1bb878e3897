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
from services.export.fhir.questions import OPTION_WORDS, QUESTIONS, SECTIONS
from services.intake.schemas import IntakeIn, StoredIntake
from services.triage import service as triage
from services.triage.schemas import V2_QUESTIONS

# Follow-up questions, asked only after an answer elsewhere: (question, operator, answer).
ENABLE_WHEN: dict[str, tuple[str, str, bool | str]] = {
    "neuro.numbness_side": ("neuro.numbness_or_tingling", "=", True),
    "pain.leg_pain_side": ("pain.radiates_to_leg", "!=", "none"),
    "history.recent_trauma_kind": ("history.recent_trauma", "=", True),
}
# Optional in the API (a v1 client leaves them out: "not asked", SPEC §5), but required of
# whoever fills in this Questionnaire, as the embedded form does (follow-ups when enabled).
ASKED_OF_EVERYONE = {*V2_QUESTIONS, "neuro.numbness_side"} - {"history.bone_stress_risk"}
# Yes/no answers that by themselves mean emergency care, taken from the deployed ruleset.
EMERGENCY_ANSWERS = triage.emergency_answers()
# Not asked of the person: an EHR fills it in. The embedded form leaves it out.
RECORD_ONLY = {"patient.identifiers"}
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


def _identifiers_item() -> dict[str, Any]:
    """patient.identifiers: a repeating group of (system, value), filled in by an EHR."""
    parts = [
        {"linkId": f"patient.identifiers.{name}", "text": QUESTIONS[f"patient.identifiers.{name}"], "type": "string",
         "required": True, "maxLength": length}
        for name, length in (("system", 255), ("value", 200))
    ]  # fmt: skip
    return {
        "linkId": "patient.identifiers",
        "text": QUESTIONS["patient.identifiers"],
        "type": "group",
        "repeats": True,
        "required": False,
        "item": parts,
    }


def _enable_when(link_id: str) -> dict[str, Any]:
    question, operator, answer = ENABLE_WHEN[link_id]
    value = (
        {"answerBoolean": answer}
        if isinstance(answer, bool)
        else {"answerCoding": {"system": ids.CODES, "code": answer}}
    )
    return {"question": question, "operator": operator, **value}


def _item(
    link_id: str, field: FieldInfo, shapes: dict[str, tuple[Kind, tuple[str, ...], bool, bool]]
) -> dict[str, Any]:
    if link_id in RECORD_ONLY:
        return _identifiers_item()
    kind, options, repeats, required = shapes[link_id]
    item: dict[str, Any] = {
        "linkId": link_id,
        "text": QUESTIONS[link_id],
        "type": "text" if link_id in LONG_TEXT else kind,
        # An empty list is a valid answer ("none of these"), and an empty list is no answer at all.
        "required": (required or link_id in ASKED_OF_EVERYONE) and not repeats,
    }
    if repeats:
        item["repeats"] = True
    if bounds := _bounds(field, kind):
        item["extension"] = bounds
    if link_id in MAX_LENGTH:
        item["maxLength"] = MAX_LENGTH[link_id]
    if options:
        words = OPTION_WORDS[link_id]
        item["answerOption"] = [{"valueCoding": {"system": ids.CODES, "code": o, "display": words[o]}} for o in options]
    if link_id in EMERGENCY_ANSWERS:  # an answer that alone means emergency care (from the ruleset)
        item.setdefault("extension", []).append(
            {"url": ids.EMERGENCY_ANSWER_EXTENSION, "valueBoolean": EMERGENCY_ANSWERS[link_id]}
        )
    if link_id in ENABLE_WHEN:
        item["enableWhen"] = [_enable_when(link_id)]
    return item


def questionnaire() -> dict[str, Any]:
    """Version 2.0.0: every question of SPEC §4, v2 included (1.0.0 was the same less the v2 ones)."""
    leaves = _leaves()
    shapes = {link_id: _shape(field) for link_id, _, field in leaves}
    groups: dict[str, dict[str, Any]] = {}
    items: list[dict[str, Any]] = []
    for link_id, section, field in leaves:
        item = _item(link_id, field, shapes)
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


def to_questionnaire_response(intake: StoredIntake, subject: str | None) -> dict[str, Any]:
    """The stored intake as a completed QuestionnaireResponse about `subject` (a reference), if given."""
    data = intake.model_dump(exclude={"id", "created_at", "submitted_via", "fhir_source"})
    groups: dict[str, dict[str, Any]] = {}
    items: list[dict[str, Any]] = []
    for link_id, section, field in _leaves():
        value = data[section][link_id.split(".", 1)[1]] if section else data[link_id]
        if value is None or value == [] or value == "":
            continue
        if link_id in RECORD_ONLY:
            answered = [_identifier_answers(identifier) for identifier in value]
        else:
            kind, _, _, _ = _shape(field)
            answered = [{"linkId": link_id, "text": QUESTIONS[link_id], "answer": _answers(kind, value)}]
        if section is None:
            items += answered
            continue
        if section not in groups:
            groups[section] = {"linkId": section, "text": SECTIONS[section], "item": []}
            items.append(groups[section])
        groups[section]["item"] += answered
    return {
        "resourceType": "QuestionnaireResponse",
        "questionnaire": f"{ids.QUESTIONNAIRE_URL}|{ids.QUESTIONNAIRE_VERSION}",
        "status": "completed",
        **({"subject": {"reference": subject}} if subject else {}),
        "authored": intake.created_at.isoformat(),
        "item": items,
    }


def _identifier_answers(identifier: dict[str, str]) -> dict[str, Any]:
    return {
        "linkId": "patient.identifiers",
        "text": QUESTIONS["patient.identifiers"],
        "item": [
            {"linkId": f"patient.identifiers.{k}", "answer": [{"valueString": identifier[k]}]}
            for k in ("system", "value")
        ],
    }


class AnswerError(ValueError):
    def __init__(self, link_id: str, message: str) -> None:
        super().__init__(message)
        self.link_id = link_id


def intake_body(response: dict[str, Any], version: str = ids.QUESTIONNAIRE_VERSION) -> dict[str, Any]:
    """The `POST /v1/intakes` body a QuestionnaireResponse's answers make (validated by the caller).
    A response to 1.0.0 answers no v2 question: they stay out of the body ("not asked")."""
    shapes = {link_id: _shape(field) for link_id, _, field in _leaves()}
    if version == "1.0.0":
        shapes = {k: v for k, v in shapes.items() if k not in V2_QUESTIONS and k not in RECORD_ONLY}
    body: dict[str, Any] = {section: {} for section in SECTIONS}

    def walk(items: list[dict[str, Any]]) -> None:
        for item in items:
            link_id = item.get("linkId", "")
            if link_id in SECTIONS:
                walk(item.get("item") or [])
                continue
            if link_id not in shapes:
                raise AnswerError(link_id, f"unknown question {link_id!r} in version {version}")
            section, _, name = link_id.rpartition(".")
            target = body[section] if section else body
            if link_id in RECORD_ONLY:
                target.setdefault(name, []).append(_identifier(item))
                continue
            kind, _, repeats, _ = shapes[link_id]
            values = [_answer_value(link_id, kind, a) for a in item.get("answer") or []]
            if not repeats and len(values) > 1:
                raise AnswerError(link_id, "this question takes one answer")
            target[name] = values if repeats else (values[0] if values else None)

    walk(response.get("item") or [])
    # A repeating question left unanswered means "none of these".
    for link_id, (_, _, repeats, _) in shapes.items():
        section, _, name = link_id.rpartition(".")
        if repeats and link_id not in RECORD_ONLY and name not in body[section]:
            body[section][name] = []
    return body


def _identifier(item: dict[str, Any]) -> dict[str, Any]:
    parts: dict[str, Any] = {}
    for part in item.get("item") or []:
        name = str(part.get("linkId", "")).removeprefix("patient.identifiers.")
        if name not in ("system", "value"):
            raise AnswerError(str(part.get("linkId")), "an identifier has a system and a value")
        answers = part.get("answer") or []
        if len(answers) != 1:
            raise AnswerError(str(part.get("linkId")), "this question takes one answer")
        parts[name] = _answer_value(str(part.get("linkId")), "string", answers[0])
    return parts


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
