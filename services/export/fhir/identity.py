"""Who a referral's Patient is on the clinic's FHIR server.

The Patient entry is a conditional create that matches the EHR's own patient by any of the
identifiers the clinic vouches for: the MRN (under the clinic's `mrn_system`) and the EHR's
identifiers, from an EHR or the clinic's staff only. Identifiers typed into the public form
(a `pk_` intake) match nothing: anyone can type anyone's MRN. A QuestionnaireResponse whose
subject is the EHR's Patient (`Patient/123`) needs no Patient entry at all.

Every Patient Backstride creates also carries the intake's own identifier, so a re-sent Bundle
finds the Patient it made even when nothing else matches. A patient without identifiers is not
matched by name and birth date: two people can share both, and a referral filed under the wrong
person is worse than a second record a clerk merges.
"""

import hashlib
import uuid
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from services.export.fhir import identifiers as ids
from services.intake.schemas import StoredIntake

# Channels whose identifiers the clinic vouches for (its EHR over REST or FHIR, its staff).
TRUSTED = ("secret", "user", "fhir")
# FHIR search escapes these with a backslash, but servers get it wrong: Medplum removes the
# escapes before splitting at `|`, so `77\|A` is searched as value `77`, another patient's MRN.
# An identifier holding one is never searched for; a digest of it is (see `Identity`).
SEARCH_SPECIAL = frozenset("\\,|$")
DIGEST_SYSTEM = "urn:backstride:identifier-sha256"
MRN_TYPE = {"coding": [{"system": ids.IDENTIFIER_TYPE, "code": "MR", "display": "Medical record number"}]}


@dataclass(frozen=True)
class Identity:
    reference: str | None  # the EHR's own Patient: no Patient entry, every subject points at it
    identifiers: list[dict[str, Any]]  # on the Patient Backstride sends
    search: list[dict[str, str]]  # what its conditional create looks for (any one matches)

    def if_none_exist(self) -> str:
        return "identifier=" + ",".join(token(i["system"], i["value"]) for i in self.search)


def token(system: str, value: str) -> str:
    """`system|value` for a FHIR search URL: search-escaped (\\ , | $), then percent-encoded."""
    return f"{_escape(system)}|{_escape(value)}"


def _escape(text: str) -> str:
    for special in ("\\", ",", "|", "$"):
        text = text.replace(special, "\\" + special)
    return quote(text, safe=":/")


def digest(identifier: dict[str, Any]) -> dict[str, str]:
    """A search-safe stand-in for an identifier: the same identifier always gives the same digest."""
    value = hashlib.sha256(f"{identifier['system']}|{identifier['value']}".encode()).hexdigest()
    return {"system": DIGEST_SYSTEM, "value": value}


def _vouched(intake: StoredIntake, clinic_id: uuid.UUID, mrn_system: str | None) -> list[dict[str, Any]]:
    """The EHR identifiers of the intake's patient that may find the EHR's patient."""
    patient, source = intake.patient, intake.fhir_source
    found: list[dict[str, Any]] = []
    if intake.submitted_via in TRUSTED:
        if patient.mrn:
            found.append({"system": mrn_system or ids.system(clinic_id, "mrn"), "value": patient.mrn, "type": MRN_TYPE})
        found += [{"system": i.system, "value": i.value} for i in patient.identifiers or []]
        subject = (source.subject or {}) if source else {}
        if isinstance(subject.get("identifier"), dict):
            found.append({k: v for k, v in subject["identifier"].items() if k in ("system", "value")})
    elif intake.submitted_via is None and patient.mrn:
        # Intakes from before the channel was kept were exported under this identifier: keeping
        # it finds the Patients made then (and, as then, only those Backstride made itself).
        found.append({"system": ids.system(clinic_id, "mrn"), "value": patient.mrn, "type": MRN_TYPE})
    unique: dict[tuple[str, str], dict[str, Any]] = {}
    for identifier in found:
        if identifier.get("system") and identifier.get("value"):
            unique.setdefault((identifier["system"], identifier["value"]), identifier)
    return list(unique.values())


def identity(intake: StoredIntake, clinic_id: uuid.UUID, mrn_system: str | None) -> Identity:
    subject = (intake.fhir_source.subject or {}) if intake.fhir_source else {}
    reference = subject.get("reference") if intake.submitted_via == "fhir" else None
    own = {"system": ids.system(clinic_id, "patient"), "value": str(intake.id)}
    identifiers: list[dict[str, Any]] = []
    search: list[dict[str, str]] = []
    for identifier in _vouched(intake, clinic_id, mrn_system):
        identifiers.append(identifier)
        plain = {"system": identifier["system"], "value": identifier["value"]}
        if SEARCH_SPECIAL & set(plain["system"] + plain["value"]):
            identifiers.append(digest(plain))
            search.append(digest(plain))
        else:
            search.append(plain)
    return Identity(reference, [*identifiers, own], [*search, own])
