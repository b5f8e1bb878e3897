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
                        "interaction": [{"code": "read"}, {"code": "search-type"}],
                        "searchParam": [{"name": "url", "type": "uri"}, {"name": "version", "type": "token"}],
                        "documentation": f"Only {ids.QUESTIONNAIRE_URL} (id backstride-intake), version "
                        f"{ids.QUESTIONNAIRE_VERSION}.",
                    },
                    {
                        "type": "QuestionnaireResponse",
                        "interaction": [{"code": "create"}, {"code": "read"}, {"code": "vread"}],
                        "versioning": "versioned",
                        "conditionalCreate": True,
                        "documentation": "Answers to backstride-intake, versions "
                        + " or ".join(ids.QUESTIONNAIRE_VERSIONS)
                        + " (any other is refused); triaged like POST /v1/intakes. Conditional create on "
                        "If-None-Exist: identifier=system|value, or on the resource's identifier. subject "
                        "(Patient/{id} on the clinic's server, or an identifier), author and authored are "
                        "kept; a modifierExtension is refused. Each response has one version.",
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
