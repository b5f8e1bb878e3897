"""Triage through the HTTP API, including the shared clinical vignettes."""

from typing import Any

import httpx
import pytest

from services.core.schemas import ClinicCreated
from tests.factories import intake_body, vignettes

VIGNETTES = vignettes()


def check_expectation(result: dict[str, Any], expect: dict[str, Any]) -> None:
    assert result["urgency"] == expect["urgency"]
    assert set(expect["focus_includes"]) <= {f["code"] for f in result["focus_areas"]}
    if expect.get("emergency_red_flag"):
        assert any(flag["emergency"] for flag in result["red_flags"])
    assert result["reasons"] and all(r["sources"] for r in result["reasons"])


@pytest.mark.parametrize("vignette", VIGNETTES, ids=[v["name"] for v in VIGNETTES])
async def test_vignette_through_intake_submission(
    client: httpx.AsyncClient, sk: dict[str, str], vignette: dict[str, Any]
) -> None:
    response = await client.post("/v1/intakes", json=vignette["intake"], headers=sk)
    assert response.status_code == 201, response.text
    referral = response.json()["referral"]
    check_expectation(referral["triage"], vignette["expect"])
    assert referral["urgency"] == vignette["expect"]["urgency"]


@pytest.mark.parametrize("vignette", VIGNETTES, ids=[v["name"] for v in VIGNETTES])
async def test_vignette_through_evaluate(
    client: httpx.AsyncClient, clinic: ClinicCreated, vignette: dict[str, Any]
) -> None:
    body = {k: v for k, v in vignette["intake"].items() if k not in ("patient", "consent")}
    response = await client.post(
        "/v1/triage/evaluate", json=body, headers={"Authorization": f"Bearer {clinic.publishable_key}"}
    )
    assert response.status_code == 200, response.text
    check_expectation(response.json(), vignette["expect"])


async def test_evaluate_validates_like_intake(client: httpx.AsyncClient, sk: dict[str, str]) -> None:
    response = await client.post("/v1/triage/evaluate", json=intake_body(pain={"side": "up"}), headers=sk)
    assert response.status_code == 422
    assert ["body", "pain", "side"] in [e["loc"] for e in response.json()["errors"]]


async def test_evaluate_stores_nothing_and_matches_intake(client: httpx.AsyncClient, sk: dict[str, str]) -> None:
    body = intake_body(history={"recent_trauma": True})
    dry = (await client.post("/v1/triage/evaluate", json=body, headers=sk)).json()
    stored = (await client.post("/v1/intakes", json=body, headers=sk)).json()["referral"]["triage"]
    assert dry == stored


async def test_ruleset_endpoint(client: httpx.AsyncClient, sk: dict[str, str]) -> None:
    response = await client.get("/v1/triage/ruleset", headers=sk)
    assert response.status_code == 200
    ruleset = response.json()
    assert ruleset["version"]
    rule = next(r for r in ruleset["rules"] if r["id"] == "RF-SADDLE-NUMBNESS")
    assert rule["urgency"] == "emergency" and rule["version"] >= 1
    assert rule["when"]["field"] == "neuro.saddle_numbness"
