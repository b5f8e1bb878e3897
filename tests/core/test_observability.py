"""Metrics, request ids and logs that carry no clinical data."""

import json
import logging
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from starlette.types import Message, Receive, Scope, Send

from services.core.observability import REQUESTS, HideLinkTokens, JsonFormatter, RequestContext, log_config, request_id
from tests.factories import intake_body

SECRETS = ["Zebedee", "Quixote-Family", "MRN-SECRET-77", "zebedee@private.example", "xylophone-notes"]


def secret_intake() -> dict[str, Any]:
    return intake_body(
        patient={"given_name": "Zebedee", "family_name": "Quixote-Family", "mrn": "MRN-SECRET-77",
                 "email": "zebedee@private.example"},
        notes="xylophone-notes",
        history={"previous_back_injury": True, "previous_injury_notes": "xylophone-notes"},
    )  # fmt: skip


async def test_metrics_count_requests_and_intakes_and_name_no_patient(
    client: httpx.AsyncClient, sk: dict[str, str]
) -> None:
    body = secret_intake()
    body["neuro"]["saddle_numbness"] = True
    assert (await client.post("/v1/intakes", json=body, headers=sk)).status_code == 201
    # Clinical values in the path too: a matched route (a 422) and an unmatched one (a 404).
    assert (await client.get("/v1/intakes/Zebedee", headers=sk)).status_code == 422
    assert (await client.get("/v1/MRN-SECRET-77/Quixote-Family", headers=sk)).status_code == 404
    response = await client.get("/metrics")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/plain")
    text = response.text
    assert 'backstride_intakes_total{urgency="emergency"}' in text
    assert 'backstride_http_requests_total{method="POST",route="/v1/intakes",status="201"}' in text
    assert 'route="/v1/intakes/{intake_id}",status="422"' in text
    assert "backstride_export_items" in text and "backstride_export_lag_seconds" in text
    for secret in SECRETS:
        assert secret not in text, secret


def requests_counted(method: str, status: str) -> float:
    return sum(
        sample.value
        for metric in REQUESTS.collect()
        for sample in metric.samples
        if sample.name.endswith("_total") and sample.labels["method"] == method and sample.labels["status"] == status
    )


async def test_a_request_the_client_abandoned_counts_as_499_and_a_failure_as_500(app: FastAPI) -> None:
    """A hang-up mid-body is the client's doing: counted as a server error, it would page someone."""
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
             "path": "/v1/intakes", "raw_path": b"/v1/intakes", "query_string": b"", "root_path": "",
             "headers": [(b"content-type", b"application/json"), (b"content-length", b"500")],
             "client": ("127.0.0.1", 1), "server": ("testserver", 80), "scheme": "http"}  # fmt: skip
    sent: list[Message] = []

    async def hung_up() -> Message:
        return {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        sent.append(message)

    before = requests_counted("POST", "499"), requests_counted("POST", "500")
    await app(scope, hung_up, send)
    assert sent == []  # nobody to answer
    assert (requests_counted("POST", "499"), requests_counted("POST", "500")) == (before[0] + 1, before[1])

    async def broken(scope: Scope, receive: Receive, send: Send) -> None:
        raise RuntimeError("a bug, not a hang-up")

    with pytest.raises(RuntimeError):
        await RequestContext(broken)(scope, no_body, send)
    assert requests_counted("POST", "500") == before[1] + 1


async def no_body() -> Message:
    return {"type": "http.request", "body": b"", "more_body": False}


async def test_request_ids_are_given_and_echoed(client: httpx.AsyncClient) -> None:
    fresh = await client.get("/healthz")
    assert len(fresh.headers["x-request-id"]) == 32
    echoed = await client.get("/healthz", headers={"X-Request-ID": "lb-1234.abc"})
    assert echoed.headers["x-request-id"] == "lb-1234.abc"
    refused = await client.get("/healthz", headers={"X-Request-ID": "<script>"})
    assert refused.headers["x-request-id"] != "<script>"


async def test_no_clinical_value_reaches_a_log_line(
    client: httpx.AsyncClient, sk: dict[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    body = secret_intake()
    created = (await client.post("/v1/intakes", json=body, headers=sk)).json()
    await client.get(f"/v1/intakes/{created['id']}", headers=sk)
    await client.get(f"/v1/referrals/{created['referral']['id']}/fhir", headers=sk)
    await client.post("/v1/intakes", json={**body, "pain": {"side": "Zebedee"}}, headers=sk)  # a 422
    await client.post("/v1/triage/evaluate", json=body, headers=sk)
    formatter = JsonFormatter()
    lines = [formatter.format(record) for record in caplog.records] + [r.getMessage() for r in caplog.records]
    for secret in SECRETS:
        assert not any(secret in line for line in lines), secret


def test_json_log_lines_carry_the_request_id_and_no_exception_text() -> None:
    token = request_id.set("req-42")
    try:
        raise ValueError("patient Zebedee")
    except ValueError:
        record = logging.getLogger("t").makeRecord(
            "t", logging.ERROR, __file__, 1, "failed %s", ("x",), __import__("sys").exc_info()
        )
    finally:
        request_id.reset(token)
    token = request_id.set("req-42")
    try:
        line = json.loads(JsonFormatter().format(record))
    finally:
        request_id.reset(token)
    assert line["request_id"] == "req-42" and line["message"] == "failed x" and line["exception"] == "ValueError"
    assert "Zebedee" not in json.dumps(line)


def test_token_bucket_refills() -> None:
    from services.core.ratelimit import Limiter, RateLimited

    limiter = Limiter()
    for _ in range(3):
        limiter.hit("k", "a", per_minute=3, now=100.0)
    with pytest.raises(RateLimited) as refused:
        limiter.hit("k", "a", per_minute=3, now=100.0)
    assert refused.value.headers["Retry-After"] == "20"
    limiter.hit("k", "b", per_minute=3, now=100.0)  # another key has its own bucket
    limiter.hit("k", "a", per_minute=3, now=120.5)  # one token back after 20 s


async def test_publishable_intakes_and_logins_are_rate_limited(
    client: httpx.AsyncClient, sk: dict[str, str], clinic: object, app: object
) -> None:
    from services.clinics.schemas import ClinicCreated

    assert isinstance(clinic, ClinicCreated)
    settings = app.state.settings  # type: ignore[attr-defined]
    pk = {"Authorization": f"Bearer {clinic.publishable_key}"}
    statuses = [
        (await client.post("/v1/intakes", json=intake_body(), headers=pk)).status_code
        for _ in range(settings.rate_limit_intakes_per_minute + 1)
    ]
    assert statuses[:-1] == [201] * settings.rate_limit_intakes_per_minute
    refused = await client.post("/v1/intakes", json=intake_body(), headers=pk)
    assert refused.status_code == 429 and int(refused.headers["retry-after"]) >= 1
    assert refused.headers["content-type"] == "application/problem+json"
    assert (await client.post("/v1/intakes", json=intake_body(), headers=sk)).status_code == 201  # EHRs are not limited
    # Failed logins from one address: past the free ones, each delays the next (accounts/throttle.py).
    logins = [
        (await client.post("/v1/auth/token", data={"username": "x@y.example", "password": "nope"})).status_code
        for _ in range(settings.login_free_failures + 1)
    ]
    assert logins[-1] == 429 and set(logins[:-1]) == {401}


def test_access_log_lines_hide_one_time_link_tokens() -> None:
    config = log_config("INFO")
    assert config["loggers"]["uvicorn.access"]["filters"] == ["link_tokens"]
    assert config["filters"]["link_tokens"]["()"] is HideLinkTokens
    said = []
    for path in ("/ui/invite/SECRET-TOKEN-abc", "/ui/admin/users"):
        args = ("127.0.0.1:5000", "GET", path, "1.1", 200)  # as uvicorn logs a request
        record = logging.LogRecord("uvicorn.access", logging.INFO, __file__, 1, '%s - "%s %s HTTP/%s" %d', args, None)
        assert HideLinkTokens().filter(record)
        said.append(json.loads(JsonFormatter().format(record))["message"])
    assert said == [
        '127.0.0.1:5000 - "GET /ui/invite/... HTTP/1.1" 200',
        '127.0.0.1:5000 - "GET /ui/admin/users HTTP/1.1" 200',
    ]
