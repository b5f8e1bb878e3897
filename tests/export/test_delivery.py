"""What a delivery makes of the server's answers (export/delivery.py): an OperationOutcome summed
up for last_error and any other body never kept, Retry-After read as seconds or a date, an answer
read only up to a limit, and a Bundle sent part by part with each part relinked to the last."""

import asyncio
import json
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any, cast

import aiohttp
import pytest
from aiohttp.base_protocol import BaseProtocol

from services.export.delivery import MAX_ANSWER_BYTES, MAX_ERROR, Answer, Sender, outcome, read_some, retry_after
from services.export.fhir.transaction import UnreadableResponse
from services.export.models import FhirIntegration
from services.export.smart import Tokens


def answered(body: Any, status: int = 400, reason: str = "Bad Request") -> Answer:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return Answer(status, reason, "", raw)


def operation_outcome(*issues: Any) -> dict[str, Any]:
    return {"resourceType": "OperationOutcome", "issue": list(issues)}


# As Medplum answers a resource that breaks a FHIR invariant.
INVARIANT: dict[str, Any] = {
    "severity": "error",
    "code": "invariant",
    "details": {"text": "Constraint ref-1 not met: SHALL have a contained resource if a local reference is provided"},
    "expression": ["ServiceRequest.requester"],
}


# outcome


def test_an_issue_gives_severity_code_text_and_where() -> None:
    assert outcome(answered(operation_outcome(INVARIANT))) == (
        "HTTP 400: error invariant: Constraint ref-1 not met: SHALL have a contained resource "
        "if a local reference is provided (at ServiceRequest.requester)"
    )


def test_diagnostics_are_given_after_the_text_once() -> None:
    issue = {"severity": "error", "code": "processing", "diagnostics": "Transaction requires strict isolation"}
    assert outcome(answered(operation_outcome(issue), 422)) == (
        "HTTP 422: error processing: Transaction requires strict isolation"
    )
    both = {**issue, "details": {"text": "Too many entries"}}
    assert outcome(answered(operation_outcome(both))) == (
        "HTTP 400: error processing: Too many entries; Transaction requires strict isolation"
    )
    same = {**issue, "details": {"text": issue["diagnostics"]}}
    assert outcome(answered(operation_outcome(same))).endswith(": Transaction requires strict isolation")


def test_several_issues_are_joined() -> None:
    warning = {"severity": "warning", "code": "informational", "details": {"text": "Unknown code"},
               "location": ["Observation.code"]}  # fmt: skip
    assert outcome(answered(operation_outcome(INVARIANT, warning))) == (
        f"HTTP 400: error invariant: {INVARIANT['details']['text']} (at ServiceRequest.requester); "
        "warning informational: Unknown code (at Observation.code)"
    )


def test_an_issue_with_only_severity_and_code_gives_those() -> None:
    assert outcome(answered(operation_outcome({"severity": "fatal", "code": "exception"}), 500)) == (
        "HTTP 500: fatal exception"
    )


def test_at_most_three_places_are_named() -> None:
    issue = {**INVARIANT, "expression": ["A.a", "B.b", "C.c", "D.d"]}
    assert outcome(answered(operation_outcome(issue))).endswith("(at A.a, B.b, C.c)")


@pytest.mark.parametrize(
    "body",
    [operation_outcome(), {"resourceType": "OperationOutcome"}, operation_outcome("an issue", 7), {"issue": "x"}],
    ids=["no issues", "no issue element", "issues not objects", "issue not a list"],
)
def test_an_outcome_without_readable_issues_gives_the_reason(body: dict[str, Any]) -> None:
    assert outcome(answered(body)) == "HTTP 400: Bad Request"


SECRET = "patient Sam Runner, MRN 12345"
NOT_OUTCOMES = [
    f"<html><body><h1>400 Bad Request</h1><p>{SECRET}</p></body></html>".encode(),
    json.dumps({"resourceType": "Bundle", "type": "searchset", "id": SECRET}).encode(),
    json.dumps([operation_outcome(INVARIANT), SECRET]).encode(),
    json.dumps({"error": SECRET, "issue": [INVARIANT]}).encode(),
    f"\x00\x01\x02{SECRET}\x7f".encode(),
    b"\xff\xfe\xfa\xc3(" + SECRET.encode(),
    b'{"resourceType": "OperationOutcome", "issue": [' + SECRET.encode(),
    b"",
]


@pytest.mark.parametrize(
    "body",
    NOT_OUTCOMES,
    ids=["HTML", "another resource", "a JSON list", "JSON not FHIR", "junk bytes", "invalid UTF-8", "cut short",
         "empty"],
)  # fmt: skip
def test_any_other_body_gives_status_and_reason_only(body: bytes) -> None:
    summary = outcome(answered(body, 502, "Bad Gateway"))
    assert summary == "HTTP 502: Bad Gateway"


def test_a_deeply_nested_body_gives_status_and_reason_only() -> None:
    assert outcome(answered(b"[" * 100_000, 502, "Bad Gateway")) == "HTTP 502: Bad Gateway"


def test_long_texts_are_clipped_and_the_whole_to_max_error() -> None:
    long = {"severity": "error", "code": "invalid", "details": {"text": "x" * 5000}, "expression": ["y" * 500]}
    one = outcome(answered(operation_outcome(long)))
    assert one == f"HTTP 400: error invalid: {'x' * 300} (at {'y' * 100})"
    many = outcome(answered(operation_outcome(*[long] * 50)))
    assert len(many) == MAX_ERROR and many.startswith("HTTP 400: error invalid: xxx")
    assert len(outcome(answered(b"", 400, "r" * 5000))) == MAX_ERROR


@pytest.mark.parametrize(("status", "ok"), [(199, False), (200, True), (201, True), (299, True), (300, False),
                                            (400, False), (503, False)])  # fmt: skip
def test_an_answer_is_ok_for_2xx_only(status: int, ok: bool) -> None:
    assert Answer(status, "", "", b"").ok is ok


# retry_after


@pytest.mark.parametrize(("header", "seconds"), [("120", 120.0), ("0", 0.0), (" 7 ", 7.0)])
def test_retry_after_in_seconds(header: str, seconds: float) -> None:
    assert retry_after(header) == seconds


def test_retry_after_as_an_http_date_is_the_seconds_until_then() -> None:
    header = format_datetime(datetime.now(UTC) + timedelta(seconds=90), usegmt=True)
    wait = retry_after(header)
    assert wait is not None and 85 <= wait <= 90


def test_retry_after_a_date_gone_by_is_now() -> None:
    assert retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0


@pytest.mark.parametrize(
    "header",
    ["", "soon", "-5", "1.5", "1e3", "Wed, 99 Oct 2015 07:28:00 GMT", "Wed, 21 Oct 2015 07:28:00 -0000"],
    ids=["empty", "a word", "negative", "a fraction", "an exponent", "no such day", "no time zone"],
)
def test_retry_after_that_is_neither_seconds_nor_a_date_is_none(header: str) -> None:
    assert retry_after(header) is None


def test_retry_after_with_a_digit_float_cannot_read_is_none() -> None:
    assert retry_after("²") is None


# read_some


def stream(*chunks: bytes, eof: bool = True) -> aiohttp.StreamReader:
    """A response body as aiohttp's client reads it, from an open connection."""
    loop = asyncio.get_running_loop()
    protocol = BaseProtocol(loop)
    protocol.connection_made(asyncio.Transport())
    reader = aiohttp.StreamReader(protocol, 4 * MAX_ANSWER_BYTES, loop=loop)  # never asks to pause
    for chunk in chunks:
        reader.feed_data(chunk)
    if eof:
        reader.feed_eof()
    return reader


async def test_read_some_stops_at_the_limit_and_leaves_the_rest_unread() -> None:
    reader = stream(b"a" * 10, b"b" * 10, b"c" * 10)
    assert await read_some(reader, 25) == b"a" * 10 + b"b" * 10 + b"c" * 5
    assert await reader.read() == b"c" * 5


async def test_read_some_reads_a_shorter_body_to_its_end() -> None:
    assert await read_some(stream(b"short", b" body"), 1000) == b"short body"
    assert await read_some(stream(), 1000) == b""


async def test_read_some_waits_for_a_body_that_arrives_in_pieces() -> None:
    reader = stream(eof=False)
    reading = asyncio.create_task(read_some(reader, 1000))
    for piece in (b"one ", b"two ", b"three"):
        await asyncio.sleep(0)
        reader.feed_data(piece)
    reader.feed_eof()
    assert await reading == b"one two three"


async def test_read_some_of_a_large_answer_is_max_answer_bytes() -> None:
    reader = stream(*[b"x" * (1 << 16)] * 40)  # 2.5 MiB
    assert len(await read_some(reader, MAX_ANSWER_BYTES)) == MAX_ANSWER_BYTES


async def test_read_some_with_no_room_reads_nothing() -> None:
    reader = stream(b"abc")
    assert await read_some(reader, 0) == b""
    assert await reader.read() == b"abc"


# send: the parts in order, each relinked to where the server put the ones before


class Scripted(Sender):
    """A Sender whose server answers from a script; what it was sent is kept."""

    def __init__(self, *answers: Answer) -> None:
        super().__init__(
            http=cast(aiohttp.ClientSession, None), tokens=cast(Tokens, None), guarded=False, allowed=(), per_server=1
        )
        self.answers = list(answers)
        self.sent: list[dict[str, Any]] = []

    async def post(self, integration: FhirIntegration, delivery: str, body: dict[str, Any]) -> Answer:
        self.sent.append(body)
        return self.answers.pop(0)


def entry(n: int, kind: str, **resource: Any) -> dict[str, Any]:
    return {"fullUrl": f"urn:uuid:{n}", "resource": {"resourceType": kind, **resource}}


def transaction_response(*where: str) -> Answer:
    body = {"resourceType": "Bundle", "type": "transaction-response",
            "entry": [{"response": {"status": "201 Created", "location": w}} for w in where]}  # fmt: skip
    return Answer(200, "OK", "", json.dumps(body).encode())


BUNDLE = {
    "resourceType": "Bundle",
    "type": "transaction",
    "entry": [
        entry(0, "Patient"),
        entry(1, "Condition", subject={"reference": "urn:uuid:0"}),
        entry(2, "Flag", subject={"reference": "urn:uuid:0"}),
        entry(3, "ServiceRequest", subject={"reference": "urn:uuid:0"}, reasonReference=[{"reference": "urn:uuid:1"}]),
    ],
}
NOBODY = cast(FhirIntegration, None)


async def test_each_part_is_sent_relinked_and_the_last_answer_is_the_deliverys() -> None:
    last = Answer(200, "OK", "", b"")
    sender = Scripted(transaction_response("Patient/p/_history/1", "Condition/c/_history/1"), last)
    assert await sender.send(NOBODY, "d-1", BUNDLE, 2) is last
    first, second = sender.sent
    assert first["entry"] == BUNDLE["entry"][:2]
    flag, request = (e["resource"] for e in second["entry"])
    assert flag["subject"] == {"reference": "Patient/p"}
    assert request["subject"] == {"reference": "Patient/p"}
    assert request["reasonReference"] == [{"reference": "Condition/c"}]


async def test_a_part_refused_ends_the_delivery_with_its_answer() -> None:
    refused = answered(operation_outcome(INVARIANT))
    sender = Scripted(transaction_response("Patient/p", "Condition/c"), refused)
    assert await sender.send(NOBODY, "d-1", BUNDLE, 2) is refused
    sender = Scripted(refused)
    assert await sender.send(NOBODY, "d-1", BUNDLE, 2) is refused and len(sender.sent) == 1


async def test_a_part_taken_without_saying_where_is_unreadable() -> None:
    sender = Scripted(Answer(200, "OK", "", b"<html>ok</html>"))
    with pytest.raises(UnreadableResponse):
        await sender.send(NOBODY, "d-1", BUNDLE, 2)
    assert len(sender.sent) == 1


async def test_a_bundle_within_the_limit_goes_in_one_transaction() -> None:
    sender = Scripted(Answer(200, "OK", "", b""))
    assert (await sender.send(NOBODY, "d-1", BUNDLE, 8)).ok
    assert sender.sent == [BUNDLE]
