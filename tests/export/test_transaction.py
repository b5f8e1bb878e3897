"""A transaction Bundle in parts (fhir/transaction.py): split keeps every entry once and in order,
relink points references at where the server put earlier parts' resources, and locations reads
those places from a transaction-response or refuses an answer it cannot read."""

import copy
import uuid
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.export.fhir.transaction import UnreadableResponse, locations, relink, split
from services.triage.schemas import TriageResult
from tests.export.test_mapping import make
from tests.factories import VIGNETTES, VIGNETTES_V2, intake_body, references, vignettes


def url(n: int) -> str:
    return f"urn:uuid:{uuid.UUID(int=n)}"


def entry(n: int, kind: str = "Observation", **resource: Any) -> dict[str, Any]:
    return {
        "fullUrl": url(n),
        "resource": {"resourceType": kind, **resource},
        "request": {"method": "POST", "url": kind, "ifNoneExist": f"identifier=urn:x|{n}"},
    }


def bundle(count: int) -> dict[str, Any]:
    return {"resourceType": "Bundle", "type": "transaction", "entry": [entry(n) for n in range(count)]}


def answer(*where: str | None) -> dict[str, Any]:
    """A transaction-response with one entry per location (None: an entry without one)."""
    entries = [{"response": {"status": "201 Created", **({"location": w} if w is not None else {})}} for w in where]
    return {"resourceType": "Bundle", "type": "transaction-response", "entry": entries}


def urls(part: dict[str, Any]) -> list[str]:
    return [e["fullUrl"] for e in part["entry"]]


# split


@pytest.mark.parametrize(("limit", "sizes"), [(1, [1] * 19), (8, [8, 8, 3]), (19, [19]), (100, [19])])
def test_split_gives_parts_of_at_most_limit_entries_in_order(limit: int, sizes: list[int]) -> None:
    whole = bundle(19)
    parts = split(whole, limit)
    assert [len(p["entry"]) for p in parts] == sizes
    assert [u for p in parts for u in urls(p)] == urls(whole)  # in order, every entry once


def test_each_part_is_a_transaction_bundle_like_the_whole() -> None:
    whole = {**bundle(10), "id": "b-1", "meta": {"profile": ["http://example.org/p"]}}
    for part in split(whole, 4):
        assert {k: v for k, v in part.items() if k != "entry"} == {k: v for k, v in whole.items() if k != "entry"}


def test_split_leaves_the_bundle_as_it_was() -> None:
    whole = bundle(10)
    before = copy.deepcopy(whole)
    split(whole, 3)
    assert whole == before


@given(count=st.integers(1, 60), limit=st.integers(1, 70))
def test_split_keeps_every_entry_once_for_any_size_and_limit(count: int, limit: int) -> None:
    whole = bundle(count)
    parts = split(whole, limit)
    assert all(0 < len(p["entry"]) <= limit for p in parts)
    assert len(parts) == -(-count // limit)  # as few parts as the limit allows
    assert [u for p in parts for u in urls(p)] == urls(whole)


# relink


def referring_part() -> dict[str, Any]:
    """A part whose resources refer to two earlier entries (0, 1), to its own entry (5), to a
    contained resource and to a resource on the server, at several depths."""
    observation = entry(
        6,
        subject={"reference": url(0), "display": "Sam"},
        derivedFrom=[{"reference": url(1)}, {"reference": url(5)}],
        extension=[{"url": "http://example.org/x", "valueReference": {"reference": url(1)}}],
        performer=[{"reference": "#device"}, {"reference": "Practitioner/9"}],
    )
    response = entry(5, "QuestionnaireResponse", item=[{"answer": [{"valueReference": {"reference": url(0)}}]}])
    return {"resourceType": "Bundle", "type": "transaction", "entry": [response, observation]}


LOCATED = {url(0): "Patient/p-0", url(1): "Condition/c-1", url(99): "Flag/f-99"}


def test_references_to_earlier_parts_are_rewritten_wherever_they_are() -> None:
    response, observation = (e["resource"] for e in relink(referring_part(), LOCATED)["entry"])
    assert observation["subject"] == {"reference": "Patient/p-0", "display": "Sam"}
    assert observation["derivedFrom"][0] == {"reference": "Condition/c-1"}
    assert observation["extension"][0]["valueReference"] == {"reference": "Condition/c-1"}
    assert response["item"][0]["answer"][0]["valueReference"] == {"reference": "Patient/p-0"}


def test_other_references_and_the_rest_of_the_part_are_untouched() -> None:
    part = referring_part()
    relinked = relink(part, LOCATED)
    observation = relinked["entry"][1]["resource"]
    assert observation["derivedFrom"][1] == {"reference": url(5)}  # this part's own entry
    assert observation["performer"] == [{"reference": "#device"}, {"reference": "Practitioner/9"}]
    assert urls(relinked) == urls(part)
    assert [e["request"] for e in relinked["entry"]] == [e["request"] for e in part["entry"]]
    assert sorted(references(relinked)) == sorted(LOCATED.get(r, r) for r in references(part))


def test_relink_does_not_change_the_part_it_is_given() -> None:
    part = referring_part()
    before = copy.deepcopy(part)
    relink(part, LOCATED)
    assert part == before


def test_the_first_part_goes_as_it_is() -> None:
    part = referring_part()
    assert relink(part, {}) == part


# locations


@pytest.mark.parametrize(
    "location",
    [
        "Patient/p-1",
        "Patient/p-1/_history/1",
        "https://fhir.example.org/fhir/R4/Patient/p-1",
        "https://fhir.example.org/fhir/R4/Patient/p-1/_history/a1b2",
        "http://hapi.example/baseR4/Patient/p-1/_history/3/",
    ],
)
def test_a_relative_or_absolute_location_with_or_without_history_gives_type_and_id(location: str) -> None:
    part = {"entry": [entry(0, "Patient")]}
    assert locations(part, answer(location)) == {url(0): "Patient/p-1"}


def test_each_entry_is_located_by_the_answer_in_the_same_place() -> None:
    part = {"entry": [entry(0, "Patient"), entry(1, "QuestionnaireResponse"), entry(2, "Observation")]}
    got = answer("Patient/a/_history/1", "QuestionnaireResponse/b/_history/1", "Observation/c/_history/4")
    assert locations(part, got) == {url(0): "Patient/a", url(1): "QuestionnaireResponse/b", url(2): "Observation/c"}


def with_entries(entries: Any) -> dict[str, Any]:
    return {"resourceType": "Bundle", "type": "transaction-response", "entry": entries}


@pytest.mark.parametrize(
    "response",
    [
        None,
        "Patient/p-1",
        [{"response": {"location": "Patient/p-1"}}],
        {"resourceType": "OperationOutcome", "issue": []},
        {**answer("Patient/p-1"), "type": "batch-response"},
        {"resourceType": "Bundle", "entry": answer("Patient/p-1")["entry"]},
        {"resourceType": "Bundle", "type": "transaction-response"},
        with_entries(None),
        with_entries({"response": {"location": "Patient/p-1"}}),
        with_entries([]),
        answer("Patient/p-1"),
        answer("Patient/p-1", "Condition/c-2", "Condition/c-3"),
        answer("Patient/p-1", None),
        with_entries([{"response": {"location": "Patient/p-1"}}, {}]),
        with_entries([{"response": {"location": "Patient/p-1"}}, None]),
        with_entries([{"response": {"location": "Patient/p-1"}}, {"response": {"location": 7}}]),
        answer("Patient/p-1", "Observation/o-2"),
        answer("Patient/p-1", "Observation"),
        answer("Patient/p-1", "Condition/"),
        answer("Patient/p-1", "Condition/has space"),
        answer("Patient/p-1", f"Condition/{'c' * 65}"),
    ],
    ids=["null", "a string", "a list", "an OperationOutcome", "a batch-response", "no type", "no entries",
         "entries null", "entries an object", "empty entries", "fewer entries", "more entries", "missing location",
         "entry without response", "entry null", "location not a string", "another resource type",
         "type without id", "empty id", "id with a space", "id too long"],
)  # fmt: skip
def test_an_answer_that_does_not_say_where_every_resource_went_is_unreadable(response: Any) -> None:
    part = {"entry": [entry(0, "Patient"), entry(1, "Condition")]}
    with pytest.raises(UnreadableResponse):
        locations(part, response)


def test_unreadable_says_which_resource_has_no_location() -> None:
    part = {"entry": [entry(0, "Patient"), entry(1, "Condition")]}
    with pytest.raises(UnreadableResponse, match="Condition"):
        locations(part, answer("Patient/p-1", "Observation/o-2"))


@pytest.mark.parametrize("odd", ["201 Created", ["Patient/p-1"]], ids=["a string", "a list"])
def test_an_entry_whose_response_is_not_an_object_is_unreadable(odd: Any) -> None:
    part = {"entry": [entry(0, "Patient")]}
    with pytest.raises(UnreadableResponse):
        locations(part, with_entries([{"response": odd}]))


# A referral's Bundle in parts of 8, as Medplum takes it.

EVERY_RED_FLAG = intake_body(
    pain={"night_pain": True, "hurts_to_hop_or_bear_weight": True},
    neuro={"saddle_numbness": True, "bladder_or_bowel_change": True, "leg_weakness": True,
           "weakness_progressing": True, "sexual_function_change": True, "walking_difficulty": True,
           "numbness_or_tingling": True, "numbness_side": "both"},
    history={"fever": True, "iv_drug_use": True, "recent_infection_or_procedure": True,
             "abdominal_pain_or_faintness": True, "conditions": ["osteoporosis", "cancer_history"],
             "recent_trauma": True, "bone_stress_risk": ["missed_periods"]},
)  # fmt: skip
REFERRALS = [("every red flag", EVERY_RED_FLAG)] + [
    (v.get("id", v["name"]), v["intake"]) for v in vignettes(VIGNETTES) + vignettes(VIGNETTES_V2)
]


def test_a_referral_with_every_red_flag_needs_several_parts() -> None:
    whole, _, referral = make(EVERY_RED_FLAG)
    assert isinstance(referral.triage, TriageResult) and len(referral.triage.red_flags) > 8 and len(split(whole, 8)) > 2


@pytest.mark.parametrize(("name", "body"), REFERRALS, ids=[r[0] for r in REFERRALS])
def test_every_part_refers_only_to_itself_and_to_parts_before_it(name: str, body: dict[str, Any]) -> None:
    whole, _, _ = make(body)
    sent: list[str] = []
    for part in split(whole, 8):
        sent += urls(part)
        for reference in references(part):
            assert reference.startswith("#") or reference in sent, reference


@pytest.mark.parametrize(("name", "body"), REFERRALS, ids=[r[0] for r in REFERRALS])
def test_sent_in_parts_each_part_refers_to_its_own_entries_or_to_where_the_server_put_earlier_ones(
    name: str, body: dict[str, Any]
) -> None:
    whole, _, _ = make(body)
    located: dict[str, str] = {}
    for part in split(whole, 8):
        relinked = relink(part, located)
        for reference in references(relinked):
            assert reference.startswith("#") or reference in urls(part) or reference in located.values(), reference
        # The server puts each resource somewhere and says where.
        kinds = [e["resource"]["resourceType"] for e in part["entry"]]
        made = [f"{kind}/{uuid.uuid4()}" for kind in kinds]
        located |= locations(part, answer(*(f"https://fhir.example.org/{m}/_history/1" for m in made)))
    assert set(located) == {e["fullUrl"] for e in whole["entry"]}
