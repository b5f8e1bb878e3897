"""Every error path answers RFC 9457 problem+json, never a 500."""

import json
from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.exc import TimeoutError as PoolTimeout

from tests.factories import intake_body

PROBLEM_KEYS = {"type", "title", "status", "detail", "instance"}


def assert_problem(response: httpx.Response, status: int) -> dict[str, object]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem: dict[str, object] = response.json()
    assert set(problem) >= PROBLEM_KEYS
    assert problem["status"] == status
    return problem


async def test_unknown_path_is_404_problem(client: httpx.AsyncClient) -> None:
    problem = assert_problem(await client.get("/v1/nothing-here"), 404)
    assert problem["instance"] == "/v1/nothing-here"


async def test_wrong_method_is_405_problem(client: httpx.AsyncClient, sk: dict[str, str]) -> None:
    response = await client.delete("/v1/intakes", headers=sk)
    assert_problem(response, 405)
    assert "POST" in response.headers["allow"]


async def test_malformed_json_is_422_problem(client: httpx.AsyncClient, sk: dict[str, str]) -> None:
    response = await client.post(
        "/v1/intakes", content=b'{"patient": {', headers={**sk, "content-type": "application/json"}
    )
    problem = assert_problem(response, 422)
    assert problem["errors"][0]["type"] == "json_invalid"  # type: ignore[index]


# UTF-16 would be decoded by Python's json (it guesses the encoding) and accepted: JSON must be UTF-8.
UTF16 = [json.dumps(intake_body()).encode("utf-16"), json.dumps(intake_body()).encode("utf-16-le")]


@pytest.mark.parametrize(
    "payload",
    [b"\xff\xfe{}", b"[]", b"null", b"42", b'"text"', b'{"patient": NaN}', *UTF16],
    ids=lambda p: repr(p[:12]),
)
async def test_wrong_shapes_and_encodings_are_4xx_problems(
    client: httpx.AsyncClient, sk: dict[str, str], payload: bytes
) -> None:
    response = await client.post("/v1/intakes", content=payload, headers={**sk, "content-type": "application/json"})
    assert 400 <= response.status_code < 500
    assert response.headers["content-type"] == "application/problem+json"


async def test_deeply_nested_body_is_4xx(client: httpx.AsyncClient, sk: dict[str, str]) -> None:
    nested = "[" * 5000 + "]" * 5000
    response = await client.post(
        "/v1/intakes", content=nested.encode(), headers={**sk, "content-type": "application/json"}
    )
    assert 400 <= response.status_code < 500


async def test_oversized_body_is_413_problem(client: httpx.AsyncClient, sk: dict[str, str]) -> None:
    body = intake_body(notes="x" * 70_000)
    problem = assert_problem(await client.post("/v1/intakes", json=body, headers=sk), 413)
    assert problem["instance"] == "/v1/intakes"


async def test_oversized_body_without_content_length_is_413(client: httpx.AsyncClient, sk: dict[str, str]) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(80):
            yield b"x" * 1024

    response = await client.post("/v1/intakes", content=chunks(), headers={**sk, "content-type": "application/json"})
    assert "content-length" not in response.request.headers
    assert_problem(response, 413)


async def test_body_just_under_the_limit_is_read(client: httpx.AsyncClient, sk: dict[str, str]) -> None:
    padding = " " * (64 * 1024 - len(json.dumps(intake_body())) - 1)
    payload = json.dumps(intake_body()) + padding
    assert len(payload) < 64 * 1024
    response = await client.post("/v1/intakes", content=payload, headers={**sk, "content-type": "application/json"})
    assert response.status_code == 201


async def test_no_free_database_connection_is_503_not_500(app: FastAPI, client: httpx.AsyncClient) -> None:
    # What SQLAlchemy raises when every pooled connection stays busy past the pool's timeout.
    async def pool_exhausted() -> None:
        raise PoolTimeout("QueuePool limit of size 20 overflow 0 reached")

    app.add_api_route("/_test/pool-exhausted", pool_exhausted)
    response = await client.get("/_test/pool-exhausted")
    assert_problem(response, 503)
    assert response.headers["retry-after"].isdigit()


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", "application/xml"])
async def test_a_json_body_sent_as_another_media_type_says_so(
    client: httpx.AsyncClient, sk: dict[str, str], content_type: str
) -> None:
    """curl -d without -H "Content-Type: application/json" sends a form: 415 naming the cause,
    not a 422 about missing fields; nothing is stored."""
    body = json.dumps(intake_body()).encode()
    response = await client.post("/v1/intakes", content=body, headers={**sk, "content-type": content_type})
    problem = assert_problem(response, 415)
    assert "Content-Type: application/json" in str(problem["detail"])
    assert (await client.get("/v1/referrals", headers=sk)).json()["items"] == []


async def test_json_media_types_with_parameters_are_json(client: httpx.AsyncClient, sk: dict[str, str]) -> None:
    body = json.dumps(intake_body()).encode()
    for content_type in ("application/json; charset=utf-8", "Application/JSON"):
        response = await client.post("/v1/intakes", content=body, headers={**sk, "content-type": content_type})
        assert response.status_code == 201, response.text


async def test_fhir_says_it_as_an_operation_outcome(client: httpx.AsyncClient, sk: dict[str, str]) -> None:
    response = await client.post(
        "/fhir/QuestionnaireResponse", content=b"{}", headers={**sk, "content-type": "text/plain"}
    )
    assert response.status_code == 415 and response.headers["content-type"].startswith("application/fhir+json")
    outcome = response.json()
    assert outcome["resourceType"] == "OperationOutcome"
    assert "application/fhir+json" in json.dumps(outcome)
