"""Hostile request bodies sent from outside, over raw sockets, to a live server.

Bodies that are huge (with an honest or a lying Content-Length, or chunked), nested
deeper than any form, wrongly encoded, cut short mid-JSON, or abandoned halfway by a
client that hangs up: each gets a 4xx (problem+json, or an OperationOutcome under /fhir)
or, when the client has gone, no answer at all. The server stays healthy and nothing is
stored, counted row by row in the database once the server has finished the request (its
own request count in /metrics says when); a good intake afterwards is stored once.
"""

import asyncio
import json
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Literal

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import text

from services.core import migrations
from services.core.db import Database
from services.core.observability import CLIENT_CLOSED
from tests.conftest import create_scratch_database, drop_scratch_database, live_backend
from tests.export.test_fhir_router import response_for
from tests.factories import intake_body, make_clinic
from tests.live import serve

LIMIT = 64 * 1024
TABLES = ("intakes", "referrals", "referral_events", "export_items")
Api = Literal["v1", "fhir"]


@dataclass(frozen=True)
class Live:
    base: str
    database_url: str
    keys: dict[str, str]  # "secret" / "publishable" -> key

    @property
    def port(self) -> int:
        return int(self.base.rsplit(":", 1)[1])


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    url, name = create_scratch_database(live_backend(), str(tmp_path_factory.mktemp("bodies")))
    try:
        migrations.upgrade(url)
        secret, publishable = asyncio.run(committed_clinic(url))
        env = {"DATABASE_URL": url, "SECRET_KEY": "b" * 40, "BACKSTRIDE_ENV": "test", "MAX_BODY_BYTES": str(LIMIT)}
        with serve(env) as base:
            # An enabled integration (that nothing delivers to), so a stored referral would also leave an
            # export item behind: that table is counted too.
            integration = {"base_url": "http://127.0.0.1:9/fhir", "auth": {"type": "none"}, "enabled": True}
            answer = httpx.put(f"{base}/v1/integrations/fhir", json=integration, headers=bearer(secret))
            assert answer.status_code == 200, answer.text
            yield Live(base, url, {"secret": secret, "publishable": publishable})
    finally:
        drop_scratch_database(name)


async def committed_clinic(url: str) -> tuple[str, str]:
    database = Database(url, pooled=False)
    try:
        async with database.sessionmaker() as session, session.begin():
            clinic = await make_clinic(session)
        return clinic.secret_key, clinic.publishable_key
    finally:
        await database.dispose()


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def stored(url: str) -> dict[str, int]:
    async def count() -> dict[str, int]:
        database = Database(url, pooled=False)
        try:
            async with database.sessionmaker() as session:
                return {t: (await session.execute(text(f"SELECT count(*) FROM {t}"))).scalar_one() for t in TABLES}
        finally:
            await database.dispose()

    return asyncio.run(count())


def posts_ended(base: str) -> Counter[int]:
    """POST requests the server has finished, by the status it ended with: its request counter,
    which RequestContext (the outermost middleware) bumps once the app is done with a request."""
    ended: Counter[int] = Counter()
    scrape = httpx.get(f"{base}/metrics", timeout=5)
    scrape.raise_for_status()
    for family in text_string_to_metric_families(scrape.text):
        for sample in family.samples:
            if sample.name == "backstride_http_requests_total" and sample.labels["method"] == "POST":
                ended[int(sample.labels["status"])] += int(sample.value)
    return ended


def one_more_ended(base: str, before: Counter[int], within: float = 15) -> int:
    """Wait until the server has finished exactly one more POST than `before`; its status.

    A server that went on with a request after the client left (and stored it late) has done so
    by then. A request the server ends without answering is counted as 499 when the client had
    hung up, else 500.
    """
    deadline = time.monotonic() + within
    while (total := (ended := posts_ended(base) - before).total()) < 1:
        if time.monotonic() > deadline:
            raise AssertionError(f"the server did not finish the request within {within:.0f} s")
        time.sleep(0.05)
    assert total == 1, f"more than one request ended: {dict(ended)}"
    [status] = ended
    return status


def good_text(api: Api, given_name: str = "Sam") -> str:
    body = intake_body(patient={"given_name": given_name})
    return json.dumps(response_for(body) if api == "fhir" else body, ensure_ascii=False)


def with_answer(api: Api, json_value: str) -> str:
    """A good body with one answer (the given name) replaced by any JSON, valid for it or not."""
    return good_text(api, "ANSWER").replace('"ANSWER"', json_value, 1)


def head(path: str, key: str, headers: dict[str, str]) -> bytes:
    lines = [f"POST {path} HTTP/1.1", "Host: backstride.test", f"Authorization: Bearer {key}", "Connection: close"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def exchange(port: int, request: bytes, body: Iterable[bytes], hang_up: str | None = None) -> bytes:
    """Send a request over a new connection and return every byte of the answer.

    The body is streamed from a thread while the answer is read, as a real client does, so a
    server that answers early (413) and closes is heard rather than deadlocked against.
    hang_up: "half" shuts our sending side after the body, "close" drops the connection.
    """
    with socket.create_connection(("127.0.0.1", port), timeout=10) as connection:

        def send() -> None:
            try:
                connection.sendall(request)
                for chunk in body:
                    connection.sendall(chunk)
                if hang_up == "half":
                    connection.shutdown(socket.SHUT_WR)
            except OSError:  # the server answered and closed while we were still sending
                pass

        sender = threading.Thread(target=send)
        sender.start()
        if hang_up == "close":
            sender.join()
            return b""  # leaving the block closes the connection
        received = b""
        try:
            while chunk := connection.recv(65536):
                received += chunk
        except ConnectionResetError:  # the rest of our body was still arriving when it closed
            pass
        except TimeoutError:
            raise AssertionError(f"no answer and no close within 10 s; got {received[:200]!r}") from None
        finally:
            sender.join()
        return received


def parse(answer: bytes) -> tuple[int, dict[str, str], bytes]:
    header_block, _, payload = answer.partition(b"\r\n\r\n")
    status_line, *header_lines = header_block.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, v in (line.split(":", 1) for line in header_lines)}
    return int(status_line.split()[1]), headers, payload


@dataclass(frozen=True)
class Hostile:
    headers: dict[str, str]
    body: Iterable[bytes]
    hang_up: str | None = None  # see exchange()


@dataclass(frozen=True)
class Case:
    build: Callable[[Api], Hostile]
    v1: int | None  # the status expected under /v1; None: no answer (the client has gone)
    fhir: int | None  # ... and under /fhir


JSON = "application/json"


def json_request(body: bytes, charset: str = "") -> Hostile:
    return Hostile({"Content-Type": JSON + charset, "Content-Length": str(len(body))}, [body])


def deeply_nested(api: Api, depth: int) -> Hostile:
    return json_request(with_answer(api, "[" * depth + "]" * depth).encode())


def huge_with_length(api: Api) -> Hostile:
    body = huge(api)
    return Hostile({"Content-Type": JSON, "Content-Length": str(len(body))}, pieces(body))


def huge_length_little_sent(api: Api) -> Hostile:
    # The server must not wait for (or buffer) what it is told is coming: it answers at once.
    return Hostile({"Content-Type": JSON, "Content-Length": str(100 * LIMIT)}, [good_text(api).encode()[:100]])


def huge(api: Api) -> bytes:
    return with_answer(api, '"' + "x" * 16 * LIMIT + '"').encode()


def pieces(data: bytes, size: int = 16 * 1024) -> Iterator[bytes]:
    return (data[start : start + size] for start in range(0, len(data), size))


def chunked(data: bytes) -> Iterator[bytes]:
    for piece in pieces(data):
        yield f"{len(piece):x}\r\n".encode() + piece + b"\r\n"
    yield b"0\r\n\r\n"


def short_of_length(api: Api, hang_up: str) -> Hostile:
    # A complete, valid body: a server that acted on what it got before the client left would store it.
    body = good_text(api).encode()
    return Hostile({"Content-Type": JSON, "Content-Length": str(len(body) + 100)}, [body], hang_up)


CASES = {
    "huge with Content-Length": Case(huge_with_length, 413, 413),
    "huge, chunked": Case(
        lambda api: Hostile({"Content-Type": JSON, "Transfer-Encoding": "chunked"}, chunked(huge(api))), 413, 413
    ),
    "huge Content-Length, little sent": Case(huge_length_little_sent, 413, 413),
    # Python's json gives up at about 1000 levels; what it does parse, the models refuse.
    "nested beyond the parser": Case(lambda api: deeply_nested(api, 20_000), 400, 400),
    "nested within the parser": Case(lambda api: deeply_nested(api, 900), 422, 422),
    "invalid UTF-8": Case(lambda api: json_request(good_text(api).encode().replace(b"Sam", b"S\xff\xfem")), 400, 400),
    "latin-1 sent as UTF-8": Case(
        lambda api: json_request(good_text(api, "Zo\u00eb").encode("latin-1"), "; charset=utf-8"), 400, 400
    ),
    "UTF-16 with BOM": Case(lambda api: json_request(good_text(api).encode("utf-16")), 400, 400),
    "UTF-16LE without BOM": Case(lambda api: json_request(good_text(api).encode("utf-16-le")), 400, 400),
    "truncated mid-JSON": Case(lambda api: json_request(good_text(api).encode()[:700]), 422, 400),
    "Content-Length beyond the bytes, half-closed": Case(lambda api: short_of_length(api, "half"), None, None),
    "Content-Length beyond the bytes, closed": Case(lambda api: short_of_length(api, "close"), None, None),
}
ENDPOINTS: dict[str, tuple[str, str, Api]] = {
    "intake, secret key": ("/v1/intakes", "secret", "v1"),
    "intake, publishable key": ("/v1/intakes", "publishable", "v1"),
    "triage, publishable key": ("/v1/triage/evaluate", "publishable", "v1"),
    "FHIR QuestionnaireResponse, secret key": ("/fhir/QuestionnaireResponse", "secret", "fhir"),
}


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_hostile_body_is_refused_and_leaves_nothing_behind(live: Live, endpoint: str, case: str) -> None:
    path, key, api = ENDPOINTS[endpoint]
    hostile = CASES[case].build(api)
    expected = CASES[case].fhir if api == "fhir" else CASES[case].v1
    before, ended_before = stored(live.database_url), posts_ended(live.base)

    answer = exchange(live.port, head(path, live.keys[key], hostile.headers), hostile.body, hostile.hang_up)

    ended_with = one_more_ended(live.base, ended_before)
    if expected is None:
        # The server must not act on what arrived before the client left: no success, even unheard;
        # and it counts the request as the client's hang-up (499), not as its own error (500).
        assert ended_with == CLIENT_CLOSED, f"the client had gone, yet the server ended with {ended_with}"
        if hostile.hang_up == "half":  # our side still listened: nothing may come back
            assert answer == b"", f"the client had gone, yet the server answered: {answer[:200]!r}"
    else:
        assert answer, "no answer at all"
        status, headers, payload = parse(answer)
        assert status == expected, payload[:500]
        assert ended_with == expected
        assert_error_document(api, headers, payload)
    assert httpx.get(f"{live.base}/healthz", timeout=5).status_code == 200
    assert stored(live.database_url) == before


def assert_error_document(api: Api, headers: dict[str, str], payload: bytes) -> None:
    document = json.loads(payload)
    if api == "fhir":
        assert headers["content-type"] == "application/fhir+json"
        assert document["resourceType"] == "OperationOutcome"
    else:
        assert headers["content-type"] == "application/problem+json"
        assert {"type", "title", "status", "detail"} <= set(document)


def test_a_good_intake_afterwards_is_stored_once(live: Live) -> None:
    before = stored(live.database_url)
    body = good_text("v1").encode()
    request = head("/v1/intakes", live.keys["publishable"], {"Content-Type": JSON, "Content-Length": str(len(body))})
    status, _, payload = parse(exchange(live.port, request, [body]))
    assert status == 201, payload[:500]
    # One intake, its referral, the referral's "created" event and its queued export.
    assert stored(live.database_url) == {t: n + 1 for t, n in before.items()}
