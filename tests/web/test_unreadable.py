"""One stored intake the code can no longer read (a bug, a hand edit, a model made stricter) must
not hide the queue: the physio still sees every referral, the emergency first, and that row says
its answers could not be shown."""

import uuid

import httpx
import pytest
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from services.clinics.schemas import ClinicCreated
from services.intake.models import Intake
from tests.factories import intake_body, make_user, ui_login


async def test_an_unreadable_intake_leaves_the_queue_and_its_referral_page_readable(
    client: httpx.AsyncClient,
    session: AsyncSession,
    clinic: ClinicCreated,
    sk: dict[str, str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    emergency = intake_body(patient={"given_name": "Ada"}, neuro={"saddle_numbness": True})
    routine = intake_body(patient={"given_name": "Bea"})
    created = [(await client.post("/v1/intakes", json=body, headers=sk)).json() for body in (emergency, routine)]
    assert [c["referral"]["urgency"] for c in created] == ["emergency", "self_care"]
    broken = created[0]
    await session.execute(
        update(Intake).where(col(Intake.id) == uuid.UUID(broken["id"])).values(answers={"patient": "not what we wrote"})
    )
    user, password = await make_user(session, clinic.slug)
    await ui_login(client, user.email, password)

    for path in ("/ui", "/ui/queue/live"):
        response = await client.get(path, follow_redirects=False)
        assert response.status_code == 200, (path, response.status_code, response.headers.get("location"))
        html = response.text
        assert broken["referral"]["id"] in html and created[1]["referral"]["id"] in html
        assert "Bea" in html  # the readable row as ever
        assert "could not be read" in html
        # The unreadable row keeps its urgency and its place: first.
        assert html.index(broken["referral"]["id"]) < html.index(created[1]["referral"]["id"])

    page = await client.get(f"/ui/referrals/{broken['referral']['id']}", follow_redirects=False)
    assert page.status_code == 200
    assert "could not be read" in page.text and "Emergency" in page.text
    # The administrator learns which intake, and nothing of what it says.
    logged = [r.getMessage() for r in caplog.records if r.name == "backstride.intake"]
    assert logged and all(broken["id"] in line for line in logged)
    assert not any("not what we wrote" in r.getMessage() for r in caplog.records)
    # Filters that are wrong still are the caller's mistake.
    refused = await client.get("/ui", params={"urgency": "whenever"}, follow_redirects=False)
    assert (refused.status_code, refused.headers["location"]) == (303, "/ui?msg=bad-filters")
