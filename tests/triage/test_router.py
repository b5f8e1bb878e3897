"""Triage through the HTTP API (the vignettes are in test_vignettes.py)."""

from datetime import UTC, datetime

import httpx

from tests.factories import born, intake_body


async def test_evaluate_validates_like_intake(client: httpx.AsyncClient, sk: dict[str, str]) -> None:
    response = await client.post("/v1/triage/evaluate", json=intake_body(pain={"side": "up"}), headers=sk)
    assert response.status_code == 422
    assert ["body", "pain", "side"] in [e["loc"] for e in response.json()["errors"]]


async def test_evaluate_stores_nothing_and_matches_intake(client: httpx.AsyncClient, sk: dict[str, str]) -> None:
    body = intake_body(history={"recent_trauma": True})
    dry = (await client.post("/v1/triage/evaluate", json=body, headers=sk)).json()
    stored = (await client.post("/v1/intakes", json=body, headers=sk)).json()["referral"]["triage"]
    assert dry == stored


async def test_evaluate_takes_the_age_from_the_birth_date_alone(client: httpx.AsyncClient, sk: dict[str, str]) -> None:
    today = datetime.now(UTC).date()
    body = {k: v for k, v in intake_body(history={"abdominal_pain_or_faintness": True}).items() if k != "consent"}
    body["patient"] = {"birth_date": born(60, today)}
    assert (await client.post("/v1/triage/evaluate", json=body, headers=sk)).json()["urgency"] == "emergency"
    body["patient"] = {"birth_date": born(59, today, last_day=True)}
    assert (await client.post("/v1/triage/evaluate", json=body, headers=sk)).json()["urgency"] == "urgent"


async def test_evaluate_without_a_birth_date_asks_for_it(client: httpx.AsyncClient, sk: dict[str, str]) -> None:
    body = {k: v for k, v in intake_body().items() if k not in ("patient", "consent")}
    result = (await client.post("/v1/triage/evaluate", json=body, headers=sk)).json()
    assert result["urgency"] == "routine"
    assert "patient.birth_date" in result["clinician_review"][0]["label"]


async def test_evaluate_checks_the_birth_date_it_is_given(client: httpx.AsyncClient, sk: dict[str, str]) -> None:
    body = {**intake_body(), "patient": {"birth_date": "1890-01-01"}}
    response = await client.post("/v1/triage/evaluate", json=body, headers=sk)
    assert response.status_code == 422
    assert ["body", "patient", "birth_date"] in [e["loc"] for e in response.json()["errors"]]


async def test_ruleset_endpoint(client: httpx.AsyncClient, sk: dict[str, str]) -> None:
    response = await client.get("/v1/triage/ruleset", headers=sk)
    assert response.status_code == 200
    ruleset = response.json()
    assert ruleset["version"]
    rule = next(r for r in ruleset["rules"] if r["id"] == "RF-SADDLE-NUMBNESS")
    assert (rule["urgency"], rule["pathway"], rule["due_within_hours"]) == ("emergency", "emergency_department", 0)
    assert rule["when"]["field"] == "neuro.saddle_numbness"
    assert "numb" in ruleset["notes_terms"]
