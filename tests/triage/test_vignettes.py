"""The shared clinical vignettes (tests/triage/vignettes*.jsonl, copied from the shared set):
through the engine on their intake date, and through the three ways an intake arrives,
`POST /v1/intakes`, `POST /v1/triage/evaluate` and `POST /fhir/QuestionnaireResponse`.

Through the API the intake date is today, so each birth date is moved to keep the age the
case was written for (same_age_today).
"""

import copy
from datetime import UTC, date, datetime
from typing import Any

import httpx
import pytest

from services.clinics.schemas import ClinicCreated
from services.intake.schemas import IntakeIn
from services.triage import service
from tests.factories import (
    V1_VIGNETTES_DATE,
    VIGNETTES,
    VIGNETTES_V2,
    questionnaire_response,
    same_age_today,
    vignettes,
)

CASES = [*vignettes(VIGNETTES), *vignettes(VIGNETTES_V2)]
IDS = [case.get("id", case["name"]) for case in CASES]
FHIR = "application/fhir+json"


def intake_date(case: dict[str, Any]) -> date:
    return date.fromisoformat(case["intake_date"]) if "intake_date" in case else V1_VIGNETTES_DATE


def for_today(case: dict[str, Any]) -> dict[str, Any]:
    body: dict[str, Any] = copy.deepcopy(case["intake"])
    today = datetime.now(UTC).date()
    body["patient"]["birth_date"] = same_age_today(body["patient"]["birth_date"], intake_date(case), today)
    return body


def check(result: dict[str, Any], expect: dict[str, Any]) -> None:
    assert result["urgency"] == expect["urgency"]
    assert result["pathway"] == expect["pathway"]
    assert result["due_within_hours"] == expect["due_within_hours"]
    assert set(expect["focus_includes"]) <= {f["code"] for f in result["focus_areas"]}
    assert bool(result["red_flags"]) is expect["red_flag"]
    if expect.get("emergency_red_flag"):
        assert any(flag["emergency"] for flag in result["red_flags"])
    reviews = {c["code"] for c in result["clinician_review"]}
    assert set(expect["clinician_review_includes"]) <= reviews
    if "screening_incomplete" not in expect["clinician_review_includes"]:
        assert "screening_incomplete" not in reviews  # every red-flag question was asked
    assert result["reasons"] and all(r["sources"] for r in result["reasons"])


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_vignette_on_its_intake_date(case: dict[str, Any]) -> None:
    body = IntakeIn.model_validate(case["intake"], context={"stored": True})  # ages as on the day
    result = service.evaluate(body, body.patient.birth_date, intake_date(case))
    check(result.model_dump(mode="json"), case["expect"])


@pytest.mark.parametrize("case", CASES, ids=IDS)
async def test_vignette_through_intake_submission(
    client: httpx.AsyncClient, sk: dict[str, str], case: dict[str, Any]
) -> None:
    response = await client.post("/v1/intakes", json=for_today(case), headers=sk)
    assert response.status_code == 201, response.text
    referral = response.json()["referral"]
    check(referral["triage"], case["expect"])
    assert (referral["urgency"], referral["pathway"]) == (case["expect"]["urgency"], case["expect"]["pathway"])
    created = datetime.fromisoformat(response.json()["created_at"])
    due = datetime.fromisoformat(referral["due_at"])
    assert (due - created).total_seconds() == case["expect"]["due_within_hours"] * 3600


@pytest.mark.parametrize("case", CASES, ids=IDS)
async def test_vignette_through_evaluate(
    client: httpx.AsyncClient, clinic: ClinicCreated, case: dict[str, Any]
) -> None:
    body = {k: v for k, v in for_today(case).items() if k not in ("patient", "consent")}
    body["patient"] = {"birth_date": for_today(case)["patient"]["birth_date"]}  # the birth date alone
    response = await client.post(
        "/v1/triage/evaluate", json=body, headers={"Authorization": f"Bearer {clinic.publishable_key}"}
    )
    assert response.status_code == 200, response.text
    check(response.json(), case["expect"])


@pytest.mark.parametrize("case", CASES, ids=IDS)
async def test_vignette_through_questionnaire_response(
    client: httpx.AsyncClient, sk: dict[str, str], case: dict[str, Any]
) -> None:
    # A case that leaves the v2 questions out answers version 1.0.0, as a v1 client's response would.
    version = "2.0.0" if "intake_date" in case else "1.0.0"
    resource = questionnaire_response(for_today(case), version=version)
    response = await client.post("/fhir/QuestionnaireResponse", json=resource, headers={**sk, "Content-Type": FHIR})
    assert response.status_code == 201, response.text
    intake_id = response.json()["id"]
    stored = (await client.get(f"/v1/intakes/{intake_id}", headers=sk)).json()
    check(stored["referral"]["triage"], case["expect"])
