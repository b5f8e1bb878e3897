"""The rules are data: well-formed, versioned, and citing their documents verbatim."""

import hashlib
import json
import re
from pathlib import Path

import pytest

from services.triage import ruleset

FINGERPRINTS = Path(__file__).with_name("ruleset_fingerprints.json")
SHARED_NAMES = re.compile(r"^\d{3}_[0-9a-f]{16}\.txt$")


def test_every_document_quote_is_verbatim_in_its_file() -> None:
    rules = ruleset.load()
    documents = {p.name: p.read_text(encoding="utf-8") for p in ruleset.SOURCES_DIR.iterdir()}
    cited = [s for s in rules.citations() if s.kind == "document"]
    assert len(cited) > 20
    for source in cited:
        assert source.document in documents, source.document
        assert source.quote and source.quote in documents[source.document], source.quote


def test_guideline_citations_name_their_guideline_and_claim_no_quote() -> None:
    guidelines = [s for s in ruleset.load().citations() if s.kind == "guideline"]
    assert guidelines
    for source in guidelines:
        assert not SHARED_NAMES.match(source.document)
        assert re.search(r"\(.*\d{4}\)", source.document), source.document
        assert source.quote is None and source.statement


def test_sources_are_the_five_documents() -> None:
    assert sorted(p.name for p in ruleset.SOURCES_DIR.iterdir()) == [
        "000_07e2518f9f46aab7.txt",
        "001_4d944876ad22fb1c.txt",
        "002_af04152357953029.txt",
        "003_458bfd5d931b6a87.txt",
        "004_701412f67a0d4aa3.txt",
    ]


def test_every_rule_cites_and_every_focus_code_is_reachable() -> None:
    rules = ruleset.load()
    assert all(rule.sources for rule in rules.rules)
    codes = {rule.focus.code for rule in rules.rules if rule.focus}
    assert len(codes) == 12


def test_rule_change_requires_a_version_bump() -> None:
    """Edit rules.yaml => bump `version` and record the new fingerprint here."""
    digest = hashlib.sha256(ruleset.RULES_FILE.read_bytes()).hexdigest()
    recorded = json.loads(FINGERPRINTS.read_text())
    assert recorded.get(ruleset.load().version) == digest, "rules.yaml changed without a new version"


def test_misquote_is_refused_at_load() -> None:
    text = ruleset.RULES_FILE.read_text(encoding="utf-8").replace(
        "persistent pain that does not improve with rest", "pain that never improves", 1
    )
    with pytest.raises(ValueError, match="not verbatim"):
        ruleset.parse(text)


def test_unknown_field_is_refused_at_load() -> None:
    text = ruleset.RULES_FILE.read_text(encoding="utf-8").replace("neuro.saddle_numbness", "neuro.saddle", 1)
    with pytest.raises(ValueError, match="unknown field"):
        ruleset.parse(text)
