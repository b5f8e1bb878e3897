"""A transaction Bundle sent in parts, for servers that limit conditional transactions.

Medplum runs a transaction holding conditional requests at its strictest isolation and refuses
one of more than 8 entries ("Transaction requires strict isolation but has too many entries");
a referral with several red flags has more. Its entries come in reference order (mapping.py),
so the first part refers only to itself, and each later part to itself and to what the parts
before it created, whose addresses the server's transaction-response gives: those references
are rewritten to them. Every entry is conditional, so sending all parts again after a failure
in between creates nothing twice.
"""

import re
from typing import Any

# "Patient/123", "Patient/123/_history/2" or the same as an absolute URL.
_LOCATION = re.compile(r"(?:^|/)([A-Z][A-Za-z]{1,63})/([A-Za-z0-9\-.]{1,64})(?:/_history/[^/]+)?/?$")


class UnreadableResponse(ValueError):
    """The server took a part but did not say where it put its resources."""


def split(bundle: dict[str, Any], limit: int) -> list[dict[str, Any]]:
    """The Bundle as transactions of at most `limit` entries, in order."""
    entries = bundle["entry"]
    limit = max(1, limit)
    return [{**bundle, "entry": entries[i : i + limit]} for i in range(0, len(entries), limit)]


def relink(part: dict[str, Any], located: dict[str, str]) -> dict[str, Any]:
    """The part with every reference to an earlier part's entry (its fullUrl) pointing at where
    the server put it."""
    return _relink(part, located) if located else part


def _relink(value: Any, located: dict[str, str]) -> Any:
    if isinstance(value, dict):
        if isinstance(value.get("reference"), str) and value["reference"] in located:
            return {**value, "reference": located[value["reference"]]}
        return {key: _relink(item, located) for key, item in value.items()}
    if isinstance(value, list):
        return [_relink(item, located) for item in value]
    return value


def locations(part: dict[str, Any], response: Any) -> dict[str, str]:
    """fullUrl -> "Type/id" for each entry of a part, from the server's transaction-response."""
    if not isinstance(response, dict) or response.get("type") != "transaction-response":
        raise UnreadableResponse("the server's answer is not a transaction-response Bundle")
    answered = response.get("entry")
    if not isinstance(answered, list):
        raise UnreadableResponse("the server's transaction-response has no entries")
    if len(answered) != len(part["entry"]):
        raise UnreadableResponse("the server's transaction-response has another number of entries")
    found: dict[str, str] = {}
    for sent, got in zip(part["entry"], answered, strict=True):
        said = got.get("response") if isinstance(got, dict) else None
        location = said.get("location") if isinstance(said, dict) else None
        match = _LOCATION.search(location) if isinstance(location, str) else None
        if match is None or match.group(1) != sent["resource"]["resourceType"]:
            kind = sent["resource"]["resourceType"]
            raise UnreadableResponse(f"the server's transaction-response gives no location for the {kind}")
        found[sent["fullUrl"]] = f"{match.group(1)}/{match.group(2)}"
    return found
