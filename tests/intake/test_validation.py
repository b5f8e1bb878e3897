"""Every field, enum and bound of SPEC §4 is enforced with a 422 problem naming the field."""

import uuid
from datetime import date, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from services.clinics.schemas import ClinicCreated
from services.intake.models import Intake
from tests.factories import intake_body, v1_body


def years_ago(years: int, days: int = 0) -> str:
    today = date.today()
    try:
        day = today.replace(year=today.year - years)
    except ValueError:  # 29 February
        day = today.replace(year=today.year - years, day=28)
    return (day + timedelta(days=days)).isoformat()


INVALID: list[tuple[str, dict[str, Any], list[Any]]] = [
    ("empty given name", {"patient": {"given_name": "  "}}, ["body", "patient", "given_name"]),
    ("long family name", {"patient": {"family_name": "x" * 101}}, ["body", "patient", "family_name"]),
    ("bad date", {"patient": {"birth_date": "14/05/1992"}}, ["body", "patient", "birth_date"]),
    # Dates worked out when the test runs, not when the module loads (a run can cross midnight).
    ("too young", {"patient": {"birth_date": "{12 years less a day}"}}, ["body", "patient", "birth_date"]),
    ("too old", {"patient": {"birth_date": "{111 years}"}}, ["body", "patient", "birth_date"]),
    ("sex enum", {"patient": {"sex": "F"}}, ["body", "patient", "sex"]),
    ("email", {"patient": {"email": "not-an-email"}}, ["body", "patient", "email"]),
    ("phone", {"patient": {"phone": "call me"}}, ["body", "patient", "phone"]),
    ("no consent", {"consent": {"data_processing": False}}, ["body", "consent", "data_processing"]),
    ("side enum", {"pain": {"side": "middle"}}, ["body", "pain", "side"]),
    ("weeks upper", {"pain": {"weeks_since_onset": 521}}, ["body", "pain", "weeks_since_onset"]),
    ("weeks negative", {"pain": {"weeks_since_onset": -1}}, ["body", "pain", "weeks_since_onset"]),
    ("weeks float", {"pain": {"weeks_since_onset": 2.5}}, ["body", "pain", "weeks_since_onset"]),
    ("intensity upper", {"pain": {"intensity_now": 11}}, ["body", "pain", "intensity_now"]),
    ("intensity string", {"pain": {"intensity_running": "5"}}, ["body", "pain", "intensity_running"]),
    ("timing enum", {"pain": {"timing": ["sometimes"]}}, ["body", "pain", "timing", 0]),
    ("timing repeated", {"pain": {"timing": ["at_rest", "at_rest"]}}, ["body", "pain", "timing"]),
    ("bool as string", {"pain": {"worsening": "yes"}}, ["body", "pain", "worsening"]),
    ("radiates enum", {"pain": {"radiates_to_leg": "foot"}}, ["body", "pain", "radiates_to_leg"]),
    (
        "numbness side enum",
        {"neuro": {"numbness_or_tingling": True, "numbness_side": "up"}},
        ["body", "neuro", "numbness_side"],
    ),
    ("numbness side without numbness", {"neuro": {"numbness_side": "left"}}, ["body", "neuro"]),
    ("condition enum", {"history": {"conditions": ["flu"]}}, ["body", "history", "conditions", 0]),
    (
        "injury notes long",
        {"history": {"previous_injury_notes": "x" * 1001}},
        ["body", "history", "previous_injury_notes"],
    ),
    ("weekly km upper", {"running": {"weekly_km": 400.5}}, ["body", "running", "weekly_km"]),
    (
        "mileage increase upper",
        {"running": {"mileage_increase_pct": 1001}},
        ["body", "running", "mileage_increase_pct"],
    ),
    ("surface enum", {"running": {"surface": "sand"}}, ["body", "running", "surface"]),
    ("shoe km upper", {"running": {"shoe_km": 5001}}, ["body", "running", "shoe_km"]),
    ("stretching upper", {"running": {"stretching_per_week": 22}}, ["body", "running", "stretching_per_week"]),
    (
        "strength negative",
        {"running": {"strength_sessions_per_week": -1}},
        ["body", "running", "strength_sessions_per_week"],
    ),
    ("lands harder enum", {"running": {"lands_harder_on": "both"}}, ["body", "running", "lands_harder_on"]),
    ("notes long", {"notes": "x" * 2001}, ["body", "notes"]),
    ("NUL in text", {"notes": "a\x00b"}, ["body", "notes"]),
    ("unknown field", {"pain": {"colour": "red"}}, ["body", "pain", "colour"]),
    # v2 (SPEC §4)
    ("leg pain side enum", {"pain": {"leg_pain_side": "central"}}, ["body", "pain", "leg_pain_side"]),
    ("night pain as string", {"pain": {"night_pain": "no"}}, ["body", "pain", "night_pain"]),
    ("stiffness upper", {"pain": {"morning_stiffness_minutes": 601}}, ["body", "pain", "morning_stiffness_minutes"]),
    ("stiffness negative", {"pain": {"morning_stiffness_minutes": -1}}, ["body", "pain", "morning_stiffness_minutes"]),
    ("stiffness float", {"pain": {"morning_stiffness_minutes": 30.5}}, ["body", "pain", "morning_stiffness_minutes"]),
    ("hopping as number", {"pain": {"hurts_to_hop_or_bear_weight": 1}},
     ["body", "pain", "hurts_to_hop_or_bear_weight"]),
    ("walking as string", {"neuro": {"walking_difficulty": "true"}}, ["body", "neuro", "walking_difficulty"]),
    ("trauma kind enum", {"history": {"recent_trauma_kind": "major"}}, ["body", "history", "recent_trauma_kind"]),
    ("bone stress enum", {"history": {"bone_stress_risk": ["shin_splints"]}},
     ["body", "history", "bone_stress_risk", 0]),
    ("bone stress repeated", {"history": {"bone_stress_risk": ["missed_periods"] * 2}},
     ["body", "history", "bone_stress_risk"]),
    ("identifier system not a URI", {"patient": {"identifiers": [{"system": "nhs number", "value": "1"}]}},
     ["body", "patient", "identifiers", 0, "system"]),
    ("identifier without value", {"patient": {"identifiers": [{"system": "urn:oid:2.16.840.1.113883.2.1.4.1"}]}},
     ["body", "patient", "identifiers", 0, "value"]),
    ("identifier empty value", {"patient": {"identifiers": [{"system": "https://fhir.nhs.uk/Id/nhs-number",
                                                             "value": " "}]}},
     ["body", "patient", "identifiers", 0, "value"]),
    ("eleven identifiers", {"patient": {"identifiers": [{"system": "urn:x:a", "value": str(n)} for n in range(11)]}},
     ["body", "patient", "identifiers"]),
    ("identifier unknown field", {"patient": {"identifiers": [{"system": "urn:x:a", "value": "1", "use": "official"}]}},
     ["body", "patient", "identifiers", 0, "use"]),
]  # fmt: skip


@pytest.mark.parametrize(("case", "change", "loc"), INVALID, ids=[c[0] for c in INVALID])
async def test_invalid_field_is_422_naming_it(
    client: httpx.AsyncClient, sk: dict[str, str], case: str, change: dict[str, Any], loc: list[Any]
) -> None:
    dates = {"{12 years less a day}": years_ago(12, days=1), "{111 years}": years_ago(111)}
    birth = change.get("patient", {}).get("birth_date")
    if birth in dates:
        change = {**change, "patient": {**change["patient"], "birth_date": dates[birth]}}
    response = await client.post("/v1/intakes", json=intake_body(**change), headers=sk)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["status"] == 422 and problem["instance"] == "/v1/intakes"
    assert loc in [e["loc"] for e in problem["errors"]], problem["errors"]
    assert all(set(e) == {"loc", "msg", "type"} for e in problem["errors"])


@pytest.mark.parametrize(
    "section", ["patient", "consent", "pain", "neuro", "function", "history", "running", "self_report"]
)
async def test_missing_section_is_422(client: httpx.AsyncClient, sk: dict[str, str], section: str) -> None:
    body = intake_body()
    del body[section]
    response = await client.post("/v1/intakes", json=body, headers=sk)
    assert response.status_code == 422
    assert ["body", section] in [e["loc"] for e in response.json()["errors"]]


async def test_unknown_top_level_field_is_422(client: httpx.AsyncClient, sk: dict[str, str]) -> None:
    response = await client.post("/v1/intakes", json={**intake_body(), "diagnosis": "x"}, headers=sk)
    assert response.status_code == 422
    assert ["body", "diagnosis"] in [e["loc"] for e in response.json()["errors"]]


async def test_bounds_are_inclusive_and_optional_fields_accepted(client: httpx.AsyncClient, sk: dict[str, str]) -> None:
    body = intake_body(
        patient={
            "birth_date": years_ago(12),
            "email": "runner@example.org",
            "phone": "+44 20 7946 0000",
            "mrn": "A-17",
        },
        consent={"data_processing": True, "contact_ok": False},
        pain={
            "weeks_since_onset": 520,
            "intensity_now": 10,
            "intensity_running": 0,
            "timing": ["during_run", "after_run", "at_rest", "at_night", "morning_stiffness"],
        },
        running={
            "weekly_km": 400,
            "mileage_increase_pct": 1000,
            "shoe_km": 0,
            "stretching_per_week": 21,
            "strength_sessions_per_week": 0,
            "lands_harder_on": "right",
        },
        history={"conditions": ["diabetes", "other"], "previous_injury_notes": "x" * 1000},
        notes="y" * 2000,
    )
    response = await client.post("/v1/intakes", json=body, headers=sk)
    assert response.status_code == 201, response.text


async def test_v2_answers_are_accepted_and_read_back(client: httpx.AsyncClient, sk: dict[str, str]) -> None:
    identifiers = [
        {"system": "https://fhir.nhs.uk/Id/nhs-number", "value": "9434765919"},
        {"system": "urn:oid:1.2.36.146.595.217.0.1", "value": "77|A,b$c\\d"},
    ] + [{"system": "urn:x:n", "value": str(n)} for n in range(8)]
    body = intake_body(
        patient={"identifiers": identifiers},
        pain={"radiates_to_leg": "above_knee", "leg_pain_side": "both", "morning_stiffness_minutes": 600},
        history={"recent_trauma": True, "recent_trauma_kind": "minor", "bone_stress_risk": ["missed_periods",
                 "previous_stress_fracture", "restricted_eating"]},
    )  # fmt: skip
    created = await client.post("/v1/intakes", json=body, headers=sk)
    assert created.status_code == 201, created.text
    stored = (await client.get(f"/v1/intakes/{created.json()['id']}", headers=sk)).json()
    assert stored["patient"]["identifiers"] == identifiers
    for section in ("pain", "neuro", "history"):
        assert {k: stored[section][k] for k in body[section]} == body[section]


async def test_a_v1_body_is_accepted_and_reads_back_with_its_v2_questions_not_asked(
    client: httpx.AsyncClient, sk: dict[str, str]
) -> None:
    created = await client.post("/v1/intakes", json=v1_body(), headers=sk)
    assert created.status_code == 201, created.text
    stored = (await client.get(f"/v1/intakes/{created.json()['id']}", headers=sk)).json()
    assert stored["pain"]["night_pain"] is None and stored["history"]["fever"] is None
    assert stored["patient"]["identifiers"] is None


async def test_a_v1_body_is_stored_and_hashed_as_before_v2(
    client: httpx.AsyncClient, sk: dict[str, str], session: AsyncSession, clinic: ClinicCreated
) -> None:
    """An EHR retrying across the upgrade sends the same Idempotency-Key and body: the stored hash,
    written by v1, must still match. The hashes below were computed by the v1 code (commit 4d28b9e)."""
    v1_hashes = {
        "42eb6cdcfc1c98234447d379ac5e16e9ebc27877eb0313014f909d87ccadf677": v1_body(),
        "ff49de8d06fd655dc875e9319d39032e6f87b885412e977f7c0d90561f05ee9b": v1_body(
            patient={"mrn": "MRN-1"}, notes="hello", neuro={"numbness_or_tingling": True, "numbness_side": "left"}
        ),
    }
    for number, (v1_hash, body) in enumerate(v1_hashes.items()):
        response = await client.post("/v1/intakes", json=body, headers={**sk, "Idempotency-Key": f"k{number}"})
        row = (
            await session.execute(select(Intake).where(col(Intake.id) == uuid.UUID(response.json()["id"])))
        ).scalar_one()
        assert row.request_hash == v1_hash
        assert "night_pain" not in row.answers["pain"] and "identifiers" not in row.answers["patient"]


async def test_validation_errors_do_not_echo_values(client: httpx.AsyncClient, sk: dict[str, str]) -> None:
    response = await client.post(
        "/v1/intakes", json=intake_body(patient={"email": "secret-person-at-home"}), headers=sk
    )
    assert response.status_code == 422
    assert "secret-person-at-home" not in response.text


async def test_rejected_intake_stores_nothing(
    client: httpx.AsyncClient, sk: dict[str, str], session: AsyncSession
) -> None:
    before = (await session.execute(select(func.count()).select_from(Intake))).scalar_one()
    await client.post("/v1/intakes", json=intake_body(pain={"intensity_now": 99}), headers=sk)
    after = (await session.execute(select(func.count()).select_from(Intake))).scalar_one()
    assert after == before
