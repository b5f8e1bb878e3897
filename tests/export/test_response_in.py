"""A QuestionnaireResponse sent to `POST /fhir/QuestionnaireResponse` (fhir/response_in.py): the
If-None-Exist header read as one identifier, FHIR's escapes and percent-encoding undone; modifier
extensions refused; identifier, subject, author and authored kept when they are what Backstride
can keep; the identifier a create is conditional on and the one a stored response is served with."""

from typing import Any

import pytest

from services.export.fhir.response_in import (
    BadCondition,
    Refused,
    check_modifiers,
    condition,
    conditional_key,
    source,
    stored_identifier,
)
from tests.factories import intake_body, questionnaire_response

EHR = "urn:oid:1.2.826.0.1.3680043.2.1"


def identifier(value: str, system: str = EHR) -> dict[str, str]:
    return {"system": system, "value": value}


# condition: If-None-Exist


@pytest.mark.parametrize(
    ("header", "found"),
    [
        (f"identifier={EHR}|qr-1", identifier("qr-1")),
        (f"?identifier={EHR}|qr-1", identifier("qr-1")),
        ("identifier=https://ehr.example.org/ids|A 1", identifier("A 1", "https://ehr.example.org/ids")),
        (f"identifier={EHR}|77\\|A\\,b\\$c\\\\d", identifier("77|A,b$c\\d")),
        ("identifier=urn%3Aoid%3A1.2%7Cqr%201", identifier("qr 1", "urn:oid:1.2")),
        (f"identifier={EHR}|a%2Bb%26c%3Dd", identifier("a+b&c=d")),
        (f"identifier={EHR}|a%5C%7Cb%5C%2Cc", identifier("a|b,c")),  # escapes percent-encoded
        (f"identifier={EHR}|caf%C3%A9", identifier("café")),
    ],
    ids=["plain", "with ?", "URL system", "escaped | , $ \\", "percent-encoded",
         "percent-encoded + & =", "percent-encoded escapes", "percent-encoded UTF-8"],
)  # fmt: skip
def test_if_none_exist_names_one_identifier(header: str, found: dict[str, str]) -> None:
    assert condition(header) == found


@pytest.mark.parametrize(
    "header",
    [
        "",
        "?",
        "identifier",
        "identifier=",
        "identifier=onlyvalue",
        "identifier=|qr-1",
        f"identifier={EHR}|",
        f"identifier={EHR}|a|b",
        f"identifier={EHR}|a\\\\|",
        f"identifier={EHR}|a,{EHR}|b",
        f"identifier={EHR}|a%2Cb",
        f"identifier={EHR}|a%7Cb",
        f"_id=5&identifier={EHR}|a",
        f"identifier={EHR}|a&identifier={EHR}|b",
        f"identifier:exact={EHR}|a",
        "status=completed",
    ],
    ids=["empty", "only ?", "no value", "empty value", "no system", "empty system", "empty value after |",
         "two |", "escaped backslash, then | and nothing", "a list", "a percent-encoded list",
         "a percent-encoded |", "another parameter too", "identifier twice", "a modifier", "another parameter"],
)  # fmt: skip
def test_conditions_other_than_one_identifier_are_bad(header: str) -> None:
    with pytest.raises(BadCondition):
        condition(header)


@pytest.mark.parametrize(
    "header",
    ["identifier=not-a-uri|qr-1", "identifier=urn: spaced|qr-1", f"identifier={EHR}|{'v' * 201}"],
    ids=["system not a URI", "system with a space", "value too long"],
)
def test_an_identifier_unfit_to_keep_is_refused_as_the_headers(header: str) -> None:
    with pytest.raises(Refused) as raised:
        condition(header)
    assert raised.value.where == "If-None-Exist"


def test_a_dangling_escape_is_a_bad_condition() -> None:
    with pytest.raises(BadCondition):
        condition(f"identifier={EHR}|qr-1\\")


# check_modifiers


def response() -> dict[str, Any]:
    return questionnaire_response(intake_body())


MODIFIER = [{"url": "http://example.org/fhir/StructureDefinition/entered-in-error", "valueBoolean": True}]


def test_a_response_without_modifier_extensions_is_taken() -> None:
    resource = response()
    resource["extension"] = [{"url": "http://example.org/fhir/StructureDefinition/device", "valueString": "x"}]
    resource["modifierExtension"] = []
    check_modifiers(resource)


def test_a_modifier_extension_on_the_response_is_refused() -> None:
    with pytest.raises(Refused) as raised:
        check_modifiers({**response(), "modifierExtension": MODIFIER})
    assert raised.value.where == "QuestionnaireResponse.modifierExtension"


def test_a_modifier_extension_deep_in_the_items_is_refused_where_it_is() -> None:
    resource = response()
    group = next(n for n, g in enumerate(resource["item"]) if g.get("item"))
    resource["item"][group]["item"][0]["answer"][0]["modifierExtension"] = MODIFIER
    with pytest.raises(Refused) as raised:
        check_modifiers(resource)
    assert raised.value.where == f"QuestionnaireResponse.item[{group}].item[0].answer[0].modifierExtension"


# source


def test_subject_author_authored_and_identifier_are_kept_as_sent() -> None:
    resource = {
        **response(),
        "identifier": identifier("qr-1"),
        "subject": {"reference": "Patient/ehr-42", "display": "Sam Runner"},
        "author": {"reference": "PractitionerRole/9", "identifier": identifier("p-9")},
        "authored": "2026-11-20T08:15:00+01:00",
    }
    assert source(resource) == {
        "identifier": identifier("qr-1"),
        "subject": {"reference": "Patient/ehr-42", "display": "Sam Runner"},
        "author": {"reference": "PractitionerRole/9", "identifier": identifier("p-9")},
        "authored": "2026-11-20T08:15:00+01:00",
    }


def test_nothing_is_kept_of_what_was_not_sent() -> None:
    resource = response()
    for absent in ("identifier", "subject", "author", "authored"):
        resource.pop(absent, None)
    assert source(resource) == {}


def test_a_reference_keeps_only_reference_identifier_and_a_short_display() -> None:
    subject = {"reference": "Patient/1", "type": "Patient", "display": "d" * 500,
               "extension": [{"url": "http://example.org/x", "valueString": "y"}]}  # fmt: skip
    assert source({"subject": subject}) == {"subject": {"reference": "Patient/1", "display": "d" * 200}}


def test_a_subject_known_only_by_identifier_is_kept() -> None:
    assert source({"subject": {"identifier": identifier("MRN-1")}}) == {"subject": {"identifier": identifier("MRN-1")}}


@pytest.mark.parametrize("kind", ["Practitioner", "PractitionerRole", "Patient", "RelatedPerson", "Organization",
                                  "Device"])  # fmt: skip
def test_an_author_may_be_anyone_who_records_answers(kind: str) -> None:
    assert source({"author": {"reference": f"{kind}/a-1"}}) == {"author": {"reference": f"{kind}/a-1"}}


@pytest.mark.parametrize(
    ("change", "where"),
    [
        ({"subject": {"reference": "Group/7"}}, "subject.reference"),
        ({"subject": {"reference": "https://other.example/fhir/Patient/1"}}, "subject.reference"),
        ({"subject": {"reference": "Patient/1/_history/2"}}, "subject.reference"),
        ({"subject": {"reference": "urn:uuid:6f1b0f4e-3c8e-4b7e-9a53-2f3d8b1c0d11"}}, "subject.reference"),
        ({"subject": {"reference": f"Patient/{'1' * 65}"}}, "subject.reference"),
        ({"subject": {"display": "Sam"}}, "subject"),
        ({"subject": {}}, "subject"),
        ({"subject": {"identifier": {"value": "MRN-1"}}}, "subject.identifier"),
        ({"author": {"reference": "Questionnaire/1"}}, "author.reference"),
        ({"author": {"display": "Dr Who"}}, "author"),
        ({"identifier": {"value": "no-system"}}, "identifier"),
        ({"identifier": {"system": EHR}}, "identifier"),
        ({"identifier": {"system": "not-a-uri", "value": "1"}}, "identifier"),
        ({"identifier": {"system": EHR, "value": "v" * 201}}, "identifier"),
        ({"identifier": "qr-1"}, "identifier"),
    ],
    ids=["subject a Group", "subject elsewhere", "subject versioned", "subject a urn", "subject id too long",
         "subject display only", "subject empty", "subject identifier without system", "author not a person",
         "author display only", "identifier without system", "identifier without value", "system not a URI",
         "value too long", "identifier a string"],
)  # fmt: skip
def test_what_cannot_be_kept_is_refused_where_it_is(change: dict[str, Any], where: str) -> None:
    with pytest.raises(Refused) as raised:
        source({**response(), **change})
    assert raised.value.where == where


# conditional_key


def test_without_header_or_identifier_the_create_is_not_conditional() -> None:
    assert conditional_key(None, {}) is None


def test_without_header_the_responses_own_identifier_is_the_key() -> None:
    assert conditional_key(None, {"identifier": identifier("qr-1")}) == identifier("qr-1")


def test_the_headers_identifier_is_the_key_of_a_response_without_one() -> None:
    assert conditional_key(f"identifier={EHR}|qr-1", {"subject": {"reference": "Patient/1"}}) == identifier("qr-1")


def test_a_header_that_agrees_with_the_responses_identifier_is_the_key() -> None:
    own = identifier("77|A,b$c\\d")
    assert conditional_key(f"identifier={EHR}|77\\|A\\,b\\$c\\\\d", {"identifier": own}) == own


def test_a_header_naming_another_identifier_is_refused() -> None:
    with pytest.raises(Refused) as raised:
        conditional_key(f"identifier={EHR}|other", {"identifier": identifier("mine")})
    assert raised.value.where == "identifier"


def test_a_bad_header_is_bad_even_when_the_response_has_an_identifier() -> None:
    with pytest.raises(BadCondition):
        conditional_key("status=completed", {"identifier": identifier("mine")})


# stored_identifier


def test_a_stored_response_is_served_with_the_ehrs_identifier() -> None:
    kept = {"identifier": identifier("qr-1")}
    served = stored_identifier(kept, "urn:backstride:clinic:c:intake", "i-1")
    assert served == identifier("qr-1")
    served["value"] = "changed"
    assert kept == {"identifier": identifier("qr-1")}  # a copy


@pytest.mark.parametrize("kept", [None, {}, {"subject": {"reference": "Patient/1"}}])
def test_without_one_it_is_served_with_backstrides_own(kept: dict[str, Any] | None) -> None:
    assert stored_identifier(kept, "urn:backstride:clinic:c:intake", "i-1") == identifier(
        "i-1", "urn:backstride:clinic:c:intake"
    )


def test_a_system_longer_than_255_characters_is_refused_wherever_its_colon_is() -> None:
    with pytest.raises(Refused):
        condition(f"identifier={'a' * 5000}:x|qr-1")
    assert condition(f"identifier=urn:{'a' * 251}|qr-1")["system"] == f"urn:{'a' * 251}"
