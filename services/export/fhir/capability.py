"""The CapabilityStatement: exactly what /fhir supports, no more."""

from typing import Any

from services.export.fhir import identifiers as ids


def capability_statement(base_url: str, software_version: str) -> dict[str, Any]:
    return {
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": "2026-11-22",
        "kind": "instance",
        "software": {"name": "Backstride", "version": software_version},
        "implementation": {"description": "Backstride intake and referral service", "url": base_url},
        "fhirVersion": "4.0.1",
        "format": ["application/fhir+json"],
        "rest": [
            {
                "mode": "server",
                "security": {
                    "description": "Authorization: Bearer with a clinic key (sk_/pk_) or a user access token. "
                    "Every resource belongs to the caller's clinic."
                },
                "resource": [
                    {
                        "type": "Questionnaire",
                        "interaction": [{"code": "read"}],
                        "documentation": f"Only {ids.QUESTIONNAIRE_URL} (id backstride-intake).",
                    },
                    {
                        "type": "QuestionnaireResponse",
                        "interaction": [{"code": "create"}],
                        "documentation": "Answers to backstride-intake; triaged like POST /v1/intakes.",
                    },
                    {
                        "type": "ServiceRequest",
                        "interaction": [{"code": "read"}, {"code": "search-type"}],
                        "searchParam": [
                            {"name": "status", "type": "token"},
                            {"name": "_lastUpdated", "type": "date"},
                            {"name": "_count", "type": "number"},
                        ],
                    },
                ],
            }
        ],
    }
