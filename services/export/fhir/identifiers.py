"""Identifier systems and code systems.

Each clinic gets its own identifier system per resource type, so two clinics
exporting to one FHIR server can never collide, and conditional creates
(`ifNoneExist=identifier=system|value`) make re-sending a referral harmless.
"""

import uuid

CODES = "urn:backstride:codes"  # Backstride's own codes: urgency, focus areas, red flags
QUESTIONNAIRE_URL = "urn:backstride:fhir:Questionnaire/backstride-intake"
QUESTIONNAIRE_VERSION = "2.0.0"
# Responses to these versions are accepted; 1.0.0 has no v2 questions (they are "not asked").
QUESTIONNAIRE_VERSIONS = ("1.0.0", "2.0.0")
REFERRAL_STATUS_EXTENSION = "urn:backstride:fhir:StructureDefinition/referral-status"
# On a Questionnaire item: this answer alone means emergency care (the form warns at once).
EMERGENCY_ANSWER_EXTENSION = "urn:backstride:fhir:StructureDefinition/emergency-answer"

SNOMED = "http://snomed.info/sct"
LOINC = "http://loinc.org"
IDENTIFIER_TYPE = "http://terminology.hl7.org/CodeSystem/v2-0203"
CONDITION_CLINICAL = "http://terminology.hl7.org/CodeSystem/condition-clinical"
CONDITION_VERIFICATION = "http://terminology.hl7.org/CodeSystem/condition-ver-status"
CONDITION_CATEGORY = "http://terminology.hl7.org/CodeSystem/condition-category"
FLAG_CATEGORY = "http://terminology.hl7.org/CodeSystem/flag-category"
OBSERVATION_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"


def system(clinic_id: uuid.UUID, kind: str) -> str:
    """e.g. urn:backstride:clinic:<id>:servicerequest"""
    return f"urn:backstride:clinic:{clinic_id}:{kind}"


def full_url(system_uri: str, value: str) -> str:
    """A stable urn:uuid for an entry: the same resource gets the same fullUrl in every Bundle."""
    return f"urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, f'{system_uri}|{value}')}"
