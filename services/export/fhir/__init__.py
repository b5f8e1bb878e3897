"""FHIR R4 views of Backstride data, built and validated with fhir.resources (R4B models)."""
