"""The rules are data: well-formed, versioned, and citing only what supports them."""

import hashlib
import json
import re
from pathlib import Path

import pytest

from services.triage import ruleset
from services.triage.ruleset import RulesError

FINGERPRINTS = Path(__file__).with_name("ruleset_fingerprints.json")
SHARED_NAMES = re.compile(r"^\d{3}_[0-9a-f]{16}\.txt$")
# The guidance SPEC §5 names; a guideline citation names one of these.
GUIDANCE = ["NG59", "Clinical Knowledge Summary", "Cauda Equina", "NG234", "NG65", "NG41", "NG156", "IOC", "Finucane"]


def rule(rule_id: str) -> ruleset.Rule:
    return next(r for r in ruleset.load().rules if r.id == rule_id)


def test_every_document_quote_is_verbatim_in_its_file() -> None:
    rules = ruleset.load()
    documents = {p.name: p.read_text(encoding="utf-8") for p in ruleset.SOURCES_DIR.iterdir()}
    cited = [s for s in rules.citations() if s.kind == "document"]
    assert len(cited) > 20
    for source in cited:
        assert source.document in documents, source.document
        assert source.quote and source.quote in documents[source.document], source.quote


def test_guideline_citations_name_the_guidance_and_say_what_the_rule_takes() -> None:
    guidelines = [s for s in ruleset.load().citations() if s.kind == "guideline"]
    assert guidelines
    for source in guidelines:
        assert source.document and not SHARED_NAMES.match(source.document)
        assert re.search(r"\(.*\d{4}\)", source.document), source.document
        assert any(name in source.document for name in GUIDANCE), source.document
        assert source.quote is None and source.statement


def test_local_citations_are_statements_only() -> None:
    local = [s for s in ruleset.load().citations() if s.kind == "local"]
    assert local
    assert all(s.document is None and s.quote is None and s.statement for s in local)


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


# --- citations that hold (issue: what a passage does and does not support) -----------------


def test_weakness_with_numbness_does_not_rest_its_urgency_on_the_articles() -> None:
    assert {s.kind for s in rule("RF-WEAKNESS-WITH-NUMBNESS").sources} == {"guideline", "local"}


@pytest.mark.parametrize(("rule_id", "threshold"), [("FA-LOAD", "10%"), ("FA-FOOTWEAR-SURFACE", "700 km")])
def test_thresholds_no_source_gives_are_marked_local(rule_id: str, threshold: str) -> None:
    local = [s for s in rule(rule_id).sources if s.kind == "local"]
    assert local and threshold in local[0].statement  # type: ignore[operator]


def test_worsening_does_not_quote_a_passage_about_rest_and_treatment() -> None:
    sources = rule("SPH-WORSENING").sources
    assert all(s.kind != "document" for s in sources)


def test_sciatica_signs_do_not_borrow_another_passages_these_symptoms() -> None:
    quotes = [s.quote or "" for s in rule("SPH-SCIATICA-SIGNS").sources]
    assert not any(q.startswith("These symptoms") for q in quotes)


def test_urgent_and_emergency_rules_rest_on_guidance_not_on_the_articles_alone() -> None:
    for r in ruleset.load().rules:
        if r.urgency in ("emergency", "urgent"):
            assert any(s.kind == "guideline" for s in r.sources), r.id


# --- the loader refuses a careless edit, naming the rule and field ---------------------------


def test_rule_change_requires_a_version_bump() -> None:
    """Edit rules.yaml => bump `version` and record the new fingerprint here."""
    digest = hashlib.sha256(ruleset.RULES_FILE.read_bytes()).hexdigest()
    recorded = json.loads(FINGERPRINTS.read_text())
    assert recorded.get(ruleset.load().version) == digest, "rules.yaml changed without a new version"


def _edited(old: str, new: str) -> str:
    text = ruleset.RULES_FILE.read_text(encoding="utf-8")
    assert old in text
    return text.replace(old, new, 1)


def test_misquote_is_refused_at_load() -> None:
    text = _edited("persistent pain that does not improve with rest", "pain that never improves")
    with pytest.raises(RulesError, match="rule SPH-PERSISTS-DESPITE-REST: quote not verbatim"):
        ruleset.parse(text)


def test_unknown_field_is_refused_at_load() -> None:
    with pytest.raises(RulesError, match=r"rule RF-SADDLE-NUMBNESS: `when` reads unknown field neuro\.saddle$"):
        ruleset.parse(_edited("neuro.saddle_numbness", "neuro.saddle"))


def test_unknown_fact_is_refused_at_load() -> None:
    text = _edited("facts.other_leg_symptom", "facts.other_leg_symptoms")
    with pytest.raises(RulesError, match=r"rule RF-WALKING-WITH-LEG-SYMPTOMS: `when` reads unknown field facts\.other"):
        ruleset.parse(text)


def test_a_pathway_of_another_urgency_is_refused_naming_rule_and_field() -> None:
    text = _edited(
        "    urgency: emergency\n    pathway: emergency_department",
        "    urgency: emergency\n    pathway: physiotherapy",
    )
    with pytest.raises(RulesError, match=r"rule RF-SADDLE-NUMBNESS.*pathway physiotherapy does not belong"):
        ruleset.parse(text)


def test_a_misspelt_urgency_is_refused_naming_rule_and_field() -> None:
    with pytest.raises(RulesError, match="rule RF-SADDLE-NUMBNESS, field urgency"):
        ruleset.parse(_edited("    urgency: emergency\n", "    urgency: emergancy\n"))


def test_an_unlisted_guideline_is_refused() -> None:
    with pytest.raises(RulesError, match="is not listed under `guidance`"):
        ruleset.parse(_edited("document: *ng41", 'document: "NICE NG41 (2016)"'))


def test_yaml_that_does_not_parse_is_a_rules_error() -> None:
    with pytest.raises(RulesError, match="not valid YAML"):
        ruleset.parse("rules: [unclosed")
