"""The hazard log (docs/clinical-safety.md) keeps up with the rules and the tests it cites."""

import ast
import re
from pathlib import Path

from services.triage import ruleset

ROOT = Path(__file__).parents[1]
LOG = (ROOT / "docs" / "clinical-safety.md").read_text(encoding="utf-8")
CITED_TEST = re.compile(r"`(tests/[\w/]+\.py)::(\w+)(?:\[([^\]]+)\])?`")


def test_every_red_flag_rule_is_in_the_hazard_log() -> None:
    red_flag_rules = [r.id for r in ruleset.load().rules if r.red_flag is not None]
    assert len(red_flag_rules) >= 20
    missing = [rule for rule in red_flag_rules if f"`{rule}`" not in LOG]
    assert missing == []


def test_every_screening_and_notes_rule_is_in_the_hazard_log() -> None:
    review_rules = [r.id for r in ruleset.load().rules if r.clinician_review is not None]
    assert [rule for rule in review_rules if f"`{rule}`" not in LOG] == []


def test_every_test_the_log_cites_exists() -> None:
    cited = CITED_TEST.findall(LOG)
    assert len(cited) >= 40
    for file, name, case in cited:
        source = (ROOT / file).read_text(encoding="utf-8")
        functions = {
            node.name
            for node in ast.walk(ast.parse(source))
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        }
        assert name in functions, f"{file}::{name}"
        if case:  # a case of a parametrised test: its id is written in the test's file
            assert f'("{case}",' in source, f"{file}::{name}[{case}]"
