"""What a QuestionnaireResponse sent to `POST /fhir/QuestionnaireResponse` must be, beyond its
answers (questionnaire.py reads those): the parts Backstride keeps, each checked, and the
identifier a conditional create (`If-None-Exist`, or the resource's own identifier) looks for."""

import re
from typing import Any
from urllib.parse import parse_qsl

# Relative references to a resource on the clinic's own server: what an EHR sends.
_ID = r"[A-Za-z0-9\-.]{1,64}"
PATIENT_REFERENCE = re.compile(rf"^Patient/{_ID}$")
AUTHOR_REFERENCE = re.compile(rf"^(Practitioner|PractitionerRole|Patient|RelatedPerson|Organization|Device)/{_ID}$")
SYSTEM = re.compile(r"^(?=.{3,255}$)[A-Za-z][A-Za-z0-9+.-]*:\S+$")


class Refused(ValueError):
    """The response cannot be taken as it is; `where` is the element at fault."""

    def __init__(self, where: str, message: str) -> None:
        super().__init__(message)
        self.where = where


class BadCondition(ValueError):
    """An If-None-Exist header this server cannot honour."""


def _modifier_extensions(value: Any, path: str) -> str | None:
    """The path of the first modifierExtension anywhere in the resource, if any."""
    if isinstance(value, dict):
        if value.get("modifierExtension"):
            return f"{path}.modifierExtension"
        for key, item in value.items():
            if (found := _modifier_extensions(item, f"{path}.{key}")) is not None:
                return found
    elif isinstance(value, list):
        for n, item in enumerate(value):
            if (found := _modifier_extensions(item, f"{path}[{n}]")) is not None:
                return found
    return None


def check_modifiers(resource: dict[str, Any]) -> None:
    """A modifierExtension changes what the data means; Backstride understands none, so it must
    refuse any rather than triage answers that may mean something else (FHIR R4 §2.4.1)."""
    if (where := _modifier_extensions(resource, "QuestionnaireResponse")) is not None:
        raise Refused(where, "modifierExtension is not understood here, so the response cannot be accepted")


def _identifier(value: Any, where: str) -> dict[str, str]:
    if not isinstance(value, dict) or not value.get("system") or not value.get("value"):
        raise Refused(where, "an identifier needs a system and a value")
    system, text = str(value["system"]), str(value["value"])
    if not SYSTEM.match(system) or len(text) > 200:
        raise Refused(where, "an identifier's system is a URI (up to 255 characters), its value up to 200")
    return {"system": system, "value": text}


def _reference(value: Any, where: str, pattern: re.Pattern[str], what: str) -> dict[str, Any] | None:
    if value is None:
        return None
    kept: dict[str, Any] = {}
    if "reference" in value:
        if not pattern.match(str(value["reference"])):
            raise Refused(f"{where}.reference", f"{what} must be a relative reference on the EHR's server")
        kept["reference"] = value["reference"]
    if "identifier" in value:
        kept["identifier"] = _identifier(value["identifier"], f"{where}.identifier")
    if "display" in value:
        kept["display"] = str(value["display"])[:200]
    if "reference" not in kept and "identifier" not in kept:
        raise Refused(where, f"{what} needs a reference or an identifier")
    return kept


def source(resource: dict[str, Any]) -> dict[str, Any]:
    """What is kept of the response beyond its answers (ResponseSource's fields)."""
    kept: dict[str, Any] = {
        "subject": _reference(resource.get("subject"), "subject", PATIENT_REFERENCE, "subject (a Patient)"),
        "author": _reference(resource.get("author"), "author", AUTHOR_REFERENCE, "author"),
        "authored": resource.get("authored"),
    }
    if "identifier" in resource:
        kept["identifier"] = _identifier(resource["identifier"], "identifier")
    return {k: v for k, v in kept.items() if v is not None}


def _unescape_token(token: str) -> tuple[str, str]:
    """system|value of a search token, undoing FHIR's escapes (\\| \\, \\$ \\\\)."""
    parts, current, escaped = [], "", False
    for char in token:
        if escaped:
            current, escaped = current + char, False
        elif char == "\\":
            escaped = True
        elif char == "|":
            parts.append(current)
            current = ""
        elif char == ",":
            raise BadCondition("If-None-Exist names one identifier, not a list")
        else:
            current += char
    if escaped:  # a lone backslash at the end escapes nothing: not the identifier it seems to be
        raise BadCondition("If-None-Exist ends in an unfinished escape (\\)")
    parts.append(current)
    if len(parts) != 2 or not parts[0] or not parts[1]:
        raise BadCondition("If-None-Exist is identifier=system|value")
    return parts[0], parts[1]


def condition(header: str) -> dict[str, str]:
    """The identifier an `If-None-Exist: identifier=system|value` header searches for."""
    params = parse_qsl(header.removeprefix("?"), keep_blank_values=True)
    if len(params) != 1 or params[0][0] != "identifier":
        raise BadCondition("If-None-Exist supports one parameter here: identifier=system|value")
    system, value = _unescape_token(params[0][1])
    return _identifier({"system": system, "value": value}, "If-None-Exist")


def conditional_key(header: str | None, kept: dict[str, Any]) -> dict[str, str] | None:
    """The identifier the create is conditional on: the header's, or else the resource's. Both
    given must agree, or the response could not be found again by what the header asked."""
    searched = condition(header) if header is not None else None
    own = kept.get("identifier")
    if searched and own and searched != own:
        raise Refused("identifier", "If-None-Exist names another identifier than the resource's")
    return searched or own


def stored_identifier(kept: dict[str, Any] | None, clinic_system: str, intake_id: str) -> dict[str, str]:
    """The identifier a stored response is served with: the EHR's, or Backstride's own."""
    return dict((kept or {}).get("identifier") or {"system": clinic_system, "value": intake_id})
