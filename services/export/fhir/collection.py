"""Pure function: one patient's referral Bundles gathered into a single collection Bundle."""

from datetime import datetime
from typing import Any

from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.patient import Patient


def _relink(value: Any, old: set[str], new: str) -> Any:
    """`value` with every reference to one of the `old` addresses pointing at `new` instead."""
    if isinstance(value, dict):
        if value.get("reference") in old:
            return {**value, "reference": new}
        return {key: _relink(item, old, new) for key, item in value.items()}
    if isinstance(value, list):
        return [_relink(item, old, new) for item in value]
    return value


def collection(bundles: list[dict[str, Any]], at: datetime) -> dict[str, Any]:
    """Transaction Bundles (oldest intake first) as one `collection` Bundle with a single Patient.

    Without an MRN every intake has a Patient of its own; they are one person here, so the
    latest intake's Patient stands for all of them, carrying every one of their identifiers,
    and every reference to the others points at it. Entries lose their `request`: a
    collection is a set of resources, not instructions to a server.
    """
    patients: list[tuple[str, dict[str, Any]]] = []
    others: dict[str, dict[str, Any]] = {}
    for bundle in bundles:
        for entry in bundle["entry"]:
            if entry["resource"]["resourceType"] == "Patient":
                patients.append((entry["fullUrl"], entry["resource"]))
            else:
                others.setdefault(entry["fullUrl"], entry["resource"])
    if not patients:
        raise ValueError("no Bundle to gather")
    url, latest = patients[-1]
    identifiers: list[dict[str, Any]] = []
    for _, patient in patients:
        identifiers += [i for i in patient.get("identifier", []) if i not in identifiers]
    person = Patient.model_validate({**latest, "identifier": identifiers}).model_dump(mode="json")
    merged = {address for address, _ in patients}
    entries = [{"fullUrl": url, "resource": person}] + [
        {"fullUrl": address, "resource": _relink(resource, merged, url)} for address, resource in others.items()
    ]
    result = {"resourceType": "Bundle", "type": "collection", "timestamp": at.isoformat(), "entry": entries}
    return Bundle.model_validate(result).model_dump(mode="json")
