"""A person changes a referral's urgency (SPEC §5a): POST /v1/referrals/{id}/urgency."""

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from services.clinics.schemas import ClinicCreated
from services.export import service as export
from services.export.schemas import IntegrationIn
from tests.factories import TEST_SETTINGS, intake_body, make_clinic
from tests.referrals.conftest import Staff, submit


async def read(client: httpx.AsyncClient, headers: dict[str, str], referral_id: str) -> httpx.Response:
    return await client.get(f"/v1/referrals/{referral_id}", headers=headers)


async def change(
    client: httpx.AsyncClient, headers: dict[str, str], referral_id: str, body: dict[str, Any], etag: str | None
) -> httpx.Response:
    extra = {"If-Match": etag} if etag else {}
    return await client.post(f"/v1/referrals/{referral_id}/urgency", json=body, headers={**headers, **extra})


@pytest.mark.parametrize(
    ("urgency", "pathway", "hours"),
    [
        ("emergency", "emergency_department", 0),
        ("urgent", "urgent_medical", 24),
        ("routine", "physiotherapy", 120),
        ("self_care", "self_management", 336),
    ],
)
async def test_the_pathway_and_due_time_follow_the_urgency(
    client: httpx.AsyncClient, sk: dict[str, str], staff: Staff, urgency: str, pathway: str, hours: int
) -> None:
    referral = await submit(client, sk, "routine")
    etag = (await read(client, staff.physio_headers, referral["id"])).headers["etag"]
    before = datetime.now(UTC)
    response = await change(client, staff.physio_headers, referral["id"], {"urgency": urgency, "reason": "r"}, etag)
    assert response.status_code == 200, response.text
    changed = response.json()
    assert (changed["urgency"], changed["pathway"]) == (urgency, pathway)
    due = datetime.fromisoformat(changed["due_at"])
    assert before + timedelta(hours=hours) <= due <= datetime.now(UTC) + timedelta(hours=hours)
    assert response.headers["etag"] == f'"{changed["version"]}"' != etag


async def test_a_pathway_of_the_urgency_may_be_chosen_and_others_are_refused(
    client: httpx.AsyncClient, sk: dict[str, str], staff: Staff
) -> None:
    referral = await submit(client, sk, "routine")
    etag = (await read(client, staff.physio_headers, referral["id"])).headers["etag"]
    wrong = {"urgency": "urgent", "pathway": "physiotherapy", "reason": "r"}
    refused = await change(client, staff.physio_headers, referral["id"], wrong, etag)
    assert refused.status_code == 422 and refused.json()["type"] == "/problems/pathway-not-of-urgency"
    same_day = {"urgency": "urgent", "pathway": "same_day_medical", "reason": "saw them walk in"}
    response = await change(client, staff.physio_headers, referral["id"], same_day, etag)
    assert (response.json()["pathway"], response.status_code) == ("same_day_medical", 200)


async def test_who_from_to_and_why_reach_the_audit_trail_and_the_export(
    client: httpx.AsyncClient, sk: dict[str, str], staff: Staff, session: AsyncSession, clinic: ClinicCreated
) -> None:
    integration = {"base_url": "http://127.0.0.1:9/fhir", "auth": {"type": "none"}, "enabled": True}
    await export.put_integration(session, clinic.clinic_id, IntegrationIn.model_validate(integration), TEST_SETTINGS)
    referral = await submit(client, sk, "routine")
    etag = (await read(client, staff.physio_headers, referral["id"])).headers["etag"]
    body = {"urgency": "emergency", "reason": "Phoned: now numb around the bottom"}
    changed = (await change(client, staff.physio_headers, referral["id"], body, etag)).json()
    override = changed["urgency_override"]
    assert override["by"] == staff.physio.email and override["reason"] == body["reason"]
    assert override["from"] == {"urgency": "routine", "pathway": "physiotherapy"}
    assert override["to"] == {"urgency": "emergency", "pathway": "emergency_department"}
    trail = (await client.get(f"/v1/referrals/{referral['id']}/events", headers=staff.admin_headers)).json()["items"]
    [event] = [e for e in trail if e["action"] == "urgency_changed"]
    assert event["actor"] == staff.physio.email and event["note"] == body["reason"]
    assert event["detail"]["from"]["urgency"] == "routine" and event["detail"]["to"]["urgency"] == "emergency"
    exports = (await client.get("/v1/exports", headers=staff.admin_headers)).json()["items"]
    assert [e["event"] for e in exports if e["referral_id"] == referral["id"]] == [
        "referral.created",
        "referral.urgency_changed",
    ]
    bundle = (await client.get(f"/v1/referrals/{referral['id']}/fhir", headers=sk)).json()
    [request] = [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "ServiceRequest"]
    assert request["priority"] == "stat"
    notes = " ".join(n["text"] for n in request["note"])
    assert staff.physio.email in notes and body["reason"] in notes and "routine (physiotherapy)" in notes


async def test_a_stale_or_missing_etag_is_refused(client: httpx.AsyncClient, sk: dict[str, str], staff: Staff) -> None:
    referral = await submit(client, sk, "routine")
    body = {"urgency": "urgent", "reason": "r"}
    stale = await change(client, staff.physio_headers, referral["id"], body, '"0"')
    assert stale.status_code == 412
    missing = await change(client, staff.physio_headers, referral["id"], body, None)
    assert missing.status_code == 428
    assert (await read(client, staff.physio_headers, referral["id"])).json()["urgency"] == "routine"


async def test_keys_cannot_change_an_urgency(client: httpx.AsyncClient, sk: dict[str, str]) -> None:
    referral = await submit(client, sk, "routine")
    etag = (await read(client, sk, referral["id"])).headers["etag"]
    response = await change(client, sk, referral["id"], {"urgency": "urgent", "reason": "r"}, etag)
    assert response.status_code == 403
    assert (await read(client, sk, referral["id"])).json()["urgency"] == "routine"


@pytest.mark.parametrize(
    "body", [{"urgency": "urgent"}, {"urgency": "urgent", "reason": ""}, {"urgency": "soon", "reason": "r"}]
)
async def test_a_reason_and_a_real_urgency_are_required(
    client: httpx.AsyncClient, sk: dict[str, str], staff: Staff, body: dict[str, Any]
) -> None:
    referral = await submit(client, sk, "routine")
    etag = (await read(client, staff.physio_headers, referral["id"])).headers["etag"]
    assert (await change(client, staff.physio_headers, referral["id"], body, etag)).status_code == 422


async def test_closed_referrals_keep_their_urgency(client: httpx.AsyncClient, sk: dict[str, str], staff: Staff) -> None:
    referral = await submit(client, sk, "routine")
    h = staff.physio_headers
    await client.post(f"/v1/referrals/{referral['id']}/claim", headers=h)
    for to in ("declined", "closed"):
        etag = (await read(client, h, referral["id"])).headers["etag"]
        assert (await client.post(f"/v1/referrals/{referral['id']}/transitions", json={"to": to},
                                  headers={**h, "If-Match": etag})).status_code == 200  # fmt: skip
    etag = (await read(client, h, referral["id"])).headers["etag"]
    response = await change(client, h, referral["id"], {"urgency": "urgent", "reason": "r"}, etag)
    assert response.status_code == 409


async def test_another_clinics_referral_is_not_found(
    client: httpx.AsyncClient, sk: dict[str, str], staff: Staff, session: AsyncSession
) -> None:
    other = await make_clinic(session)
    theirs = (
        await client.post("/v1/intakes", json=intake_body(), headers={"Authorization": f"Bearer {other.secret_key}"})
    ).json()["referral"]
    response = await change(client, staff.physio_headers, theirs["id"], {"urgency": "urgent", "reason": "r"}, '"1"')
    assert response.status_code == 404
