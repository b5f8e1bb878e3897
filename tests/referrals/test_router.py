"""The queue API as physios use it (SPEC §6)."""

import uuid
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from services.clinics.schemas import ClinicCreated
from services.referrals.models import Referral
from tests.factories import intake_body, login, make_clinic, make_user
from tests.referrals.conftest import Staff, submit


async def ids(client: httpx.AsyncClient, headers: dict[str, str], query: str = "") -> list[str]:
    response = await client.get(f"/v1/referrals{query}", headers=headers)
    assert response.status_code == 200, response.text
    return [item["id"] for item in response.json()["items"]]


async def test_queue_orders_by_urgency_then_age(client: httpx.AsyncClient, sk: dict[str, str], staff: Staff) -> None:
    order = ["routine", "self_care", "emergency", "urgent", "routine", "emergency"]
    made = [await submit(client, sk, u) for u in order]
    expected = [r["id"] for u in ("emergency", "urgent", "routine", "self_care") for r in made if r["urgency"] == u]
    assert await ids(client, staff.physio_headers) == expected


async def test_keyset_pages_cover_the_queue_once_while_rows_arrive(
    client: httpx.AsyncClient, sk: dict[str, str], staff: Staff
) -> None:
    for urgency in ["routine"] * 5 + ["urgent"] * 3:
        await submit(client, sk, urgency)
    seen: list[str] = []
    cursor = None
    while True:
        query = f"?limit=3&cursor={cursor}" if cursor else "?limit=3"
        page = (await client.get(f"/v1/referrals{query}", headers=staff.physio_headers)).json()
        seen += [item["id"] for item in page["items"]]
        # New arrivals between pages sort before the cursor (more urgent) or after it (newer):
        # the first kind is not repeated, the second is picked up.
        await submit(client, sk, "emergency")
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == len(set(seen))
    assert len(seen) == 8


async def test_filters(client: httpx.AsyncClient, sk: dict[str, str], staff: Staff) -> None:
    urgent = await submit(client, sk, "urgent")
    routine = await submit(client, sk, "routine")
    mine = await submit(client, sk, "self_care")
    await client.post(f"/v1/referrals/{mine['id']}/claim", headers=staff.physio_headers)
    h = staff.physio_headers
    assert await ids(client, h, "?urgency=urgent") == [urgent["id"]]
    assert await ids(client, h, "?urgency=urgent&urgency=routine") == [urgent["id"], routine["id"]]
    assert await ids(client, h, "?status=in_review") == [mine["id"]]
    assert await ids(client, h, "?assignee=me") == [mine["id"]]
    assert await ids(client, h, f"?assignee={staff.physio.id}") == [mine["id"]]
    assert await ids(client, h, "?assignee=none") == [urgent["id"], routine["id"]]
    assert await ids(client, staff.other_headers, "?assignee=me") == []


@pytest.mark.parametrize(
    "query",
    ["?status=open", "?urgency=high", "?assignee=someone", "?limit=0", "?limit=101", "?cursor=bm9wZQ", "?colour=red"],
)
async def test_bad_queries_are_422(client: httpx.AsyncClient, staff: Staff, query: str) -> None:
    response = await client.get(f"/v1/referrals{query}", headers=staff.physio_headers)
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"


async def test_assignee_me_needs_a_user(client: httpx.AsyncClient, sk: dict[str, str]) -> None:
    assert (await client.get("/v1/referrals?assignee=me", headers=sk)).status_code == 422


async def test_overdue_is_marked_and_filterable(
    client: httpx.AsyncClient, sk: dict[str, str], staff: Staff, session: AsyncSession
) -> None:
    late = await submit(client, sk, "routine")
    fresh = await submit(client, sk, "routine")
    past = datetime.now(UTC) - timedelta(hours=1)
    await session.execute(update(Referral).where(col(Referral.id) == uuid.UUID(late["id"])).values(due_at=past))
    items = {i["id"]: i for i in (await client.get("/v1/referrals", headers=staff.physio_headers)).json()["items"]}
    assert items[late["id"]]["overdue"] is True
    assert items[fresh["id"]]["overdue"] is False
    assert await ids(client, staff.physio_headers, "?overdue=true") == [late["id"]]
    assert fresh["id"] in await ids(client, staff.physio_headers, "?overdue=false")


async def test_emergency_is_due_now(client: httpx.AsyncClient, sk: dict[str, str], staff: Staff) -> None:
    emergency = await submit(client, sk, "emergency")
    detail = (await client.get(f"/v1/referrals/{emergency['id']}", headers=staff.physio_headers)).json()
    assert detail["due_at"] == detail["created_at"]


async def test_detail_has_intake_and_etag_and_records_the_read(
    client: httpx.AsyncClient, sk: dict[str, str], staff: Staff
) -> None:
    referral = await submit(client, sk)
    response = await client.get(f"/v1/referrals/{referral['id']}", headers=staff.physio_headers)
    assert response.status_code == 200
    detail = response.json()
    assert response.headers["etag"] == f'"{detail["version"]}"'
    assert detail["intake"]["patient"]["given_name"] == "Sam"
    assert detail["triage"]["urgency"] == "routine"
    assert detail["pathway"] == detail["triage"]["pathway"] == "physiotherapy"
    events = (await client.get(f"/v1/referrals/{referral['id']}/events", headers=staff.admin_headers)).json()
    assert [e["action"] for e in events["items"]] == ["created", "viewed"]
    viewed = events["items"][1]
    assert viewed["actor"] == staff.physio.email and viewed["actor_type"] == "user"
    assert viewed["actor_id"] == str(staff.physio.id)


async def test_list_items_carry_the_pathway(client: httpx.AsyncClient, sk: dict[str, str], staff: Staff) -> None:
    same_day = (
        await client.post("/v1/intakes", json=intake_body(neuro={"walking_difficulty": True}), headers=sk)
    ).json()["referral"]
    routine = await submit(client, sk)
    items = (await client.get("/v1/referrals", headers=staff.physio_headers)).json()["items"]
    assert [(i["id"], i["pathway"]) for i in items] == [
        (same_day["id"], "same_day_medical"),
        (routine["id"], "physiotherapy"),
    ]


async def test_claim_then_second_claim_conflicts(client: httpx.AsyncClient, sk: dict[str, str], staff: Staff) -> None:
    referral = await submit(client, sk)
    first = await client.post(f"/v1/referrals/{referral['id']}/claim", headers=staff.physio_headers)
    assert first.status_code == 200
    assert first.json()["status"] == "in_review" and first.json()["assignee"] == str(staff.physio.id)
    assert first.headers["etag"] == '"2"'
    second = await client.post(f"/v1/referrals/{referral['id']}/claim", headers=staff.other_headers)
    assert second.status_code == 409
    assert second.json()["type"] == "/problems/referral-claimed"


async def test_keys_cannot_claim(client: httpx.AsyncClient, sk: dict[str, str]) -> None:
    referral = await submit(client, sk)
    assert (await client.post(f"/v1/referrals/{referral['id']}/claim", headers=sk)).status_code == 403
    assert (await client.post("/v1/referrals/next", headers=sk)).status_code == 403


async def test_next_claims_in_priority_order_then_204(
    client: httpx.AsyncClient, sk: dict[str, str], staff: Staff
) -> None:
    routine = await submit(client, sk, "routine")
    urgent = await submit(client, sk, "urgent")
    first = await client.post("/v1/referrals/next", headers=staff.physio_headers)
    second = await client.post("/v1/referrals/next", headers=staff.other_headers)
    assert first.json()["id"] == urgent["id"] and second.json()["id"] == routine["id"]
    assert second.json()["assignee"] == str(staff.other_physio.id)
    empty = await client.post("/v1/referrals/next", headers=staff.physio_headers)
    assert empty.status_code == 204 and empty.content == b""


async def transition(
    client: httpx.AsyncClient, referral_id: str, to: str, headers: dict[str, str], etag: str | None = None
) -> httpx.Response:
    if etag is None:
        etag = (await client.get(f"/v1/referrals/{referral_id}", headers=headers)).headers["etag"]
    return await client.post(
        f"/v1/referrals/{referral_id}/transitions",
        json={"to": to, "note": f"to {to}"},
        headers={**headers, "If-Match": etag},
    )


PATHS = {  # a way to reach each status from new
    "new": [],
    "in_review": ["in_review"],
    "accepted": ["in_review", "accepted"],
    "declined": ["in_review", "declined"],
    "scheduled": ["in_review", "accepted", "scheduled"],
    "closed": ["in_review", "declined", "closed"],
}
# SPEC §6, written out: "new → in_review → accepted | declined, then accepted → scheduled →
# closed; declined → closed. Illegal transitions → 409." Every other move (back, skipping a
# step, staying put, leaving closed) is illegal.
LEGAL = {
    ("new", "in_review"),
    ("in_review", "accepted"),
    ("in_review", "declined"),
    ("accepted", "scheduled"),
    ("scheduled", "closed"),
    ("declined", "closed"),
}
ALL = [(a, b) for a in PATHS for b in PATHS]


@pytest.mark.parametrize(("start", "to"), ALL, ids=[f"{a}->{b}" for a, b in ALL])
async def test_transition_table(
    client: httpx.AsyncClient, sk: dict[str, str], staff: Staff, start: str, to: str
) -> None:
    referral = await submit(client, sk)
    for step in PATHS[start]:
        assert (await transition(client, referral["id"], step, staff.physio_headers)).status_code == 200
    response = await transition(client, referral["id"], to, staff.physio_headers)
    if (start, to) in LEGAL:
        assert response.status_code == 200, response.text
        assert response.json()["status"] == to
    else:
        assert response.status_code == 409, response.text
        assert response.json()["type"] == "/problems/illegal-transition"


async def test_stale_and_missing_if_match(client: httpx.AsyncClient, sk: dict[str, str], staff: Staff) -> None:
    referral = await submit(client, sk)
    old = (await client.get(f"/v1/referrals/{referral['id']}", headers=staff.physio_headers)).headers["etag"]
    claimed = await client.post(f"/v1/referrals/{referral['id']}/claim", headers=staff.physio_headers)
    stale = await transition(client, referral["id"], "accepted", staff.physio_headers, etag=old)
    assert stale.status_code == 412
    assert stale.json()["type"] == "/problems/stale-version"
    missing = await client.post(
        f"/v1/referrals/{referral['id']}/transitions", json={"to": "accepted"}, headers=staff.physio_headers
    )
    assert missing.status_code == 428
    fresh = await transition(client, referral["id"], "accepted", staff.physio_headers, etag=claimed.headers["etag"])
    assert fresh.status_code == 200
    assert fresh.headers["etag"] == '"3"'


async def test_only_the_reviewer_or_an_admin_decides(
    client: httpx.AsyncClient, sk: dict[str, str], staff: Staff
) -> None:
    referral = await submit(client, sk)
    await client.post(f"/v1/referrals/{referral['id']}/claim", headers=staff.physio_headers)
    assert (await transition(client, referral["id"], "accepted", staff.other_headers)).status_code == 409
    assert (await transition(client, referral["id"], "accepted", sk)).status_code == 403
    assert (await transition(client, referral["id"], "declined", staff.admin_headers)).status_code == 200
    # After the decision, scheduling and closing are open to the clinic, integrations included.
    assert (await transition(client, referral["id"], "closed", sk)).status_code == 200


async def test_audit_trail_records_every_action(client: httpx.AsyncClient, sk: dict[str, str], staff: Staff) -> None:
    referral = await submit(client, sk)
    rid = referral["id"]
    await client.post(f"/v1/referrals/{rid}/claim", headers=staff.physio_headers)
    await transition(client, rid, "accepted", staff.physio_headers)
    note = await client.post(
        f"/v1/referrals/{rid}/notes", json={"text": "Booked for Tuesday"}, headers=staff.physio_headers
    )
    assert note.status_code == 201
    events = (await client.get(f"/v1/referrals/{rid}/events?limit=100", headers=staff.physio_headers)).json()["items"]
    assert [e["action"] for e in events] == ["created", "claimed", "viewed", "transitioned", "noted"]
    assert events[0]["actor_type"] == "key" and events[0]["actor"].startswith("sk_")
    moved = events[3]
    assert (moved["from_status"], moved["to_status"], moved["note"]) == ("in_review", "accepted", "to accepted")
    assert events[4]["note"] == "Booked for Tuesday"
    times = [e["at"] for e in events]
    assert times == sorted(times)


async def test_events_paginate(client: httpx.AsyncClient, sk: dict[str, str], staff: Staff) -> None:
    rid = (await submit(client, sk))["id"]
    for n in range(4):
        await client.post(f"/v1/referrals/{rid}/notes", json={"text": f"n{n}"}, headers=staff.physio_headers)
    first = (await client.get(f"/v1/referrals/{rid}/events?limit=2", headers=staff.physio_headers)).json()
    rest = (
        await client.get(
            f"/v1/referrals/{rid}/events?limit=10&cursor={first['next_cursor']}", headers=staff.physio_headers
        )
    ).json()
    notes = [e["note"] for e in first["items"] + rest["items"]]
    assert notes == [None, "n0", "n1", "n2", "n3"] and rest["next_cursor"] is None


async def test_publishable_key_cannot_touch_the_queue(
    client: httpx.AsyncClient, sk: dict[str, str], clinic: ClinicCreated
) -> None:
    rid = (await submit(client, sk))["id"]
    pk = {"Authorization": f"Bearer {clinic.publishable_key}"}
    for method, path in [
        ("GET", "/v1/referrals"),
        ("GET", f"/v1/referrals/{rid}"),
        ("POST", f"/v1/referrals/{rid}/claim"),
        ("POST", "/v1/referrals/next"),
        ("GET", f"/v1/referrals/{rid}/events"),
    ]:
        assert (await client.request(method, path, headers=pk)).status_code == 403, path


async def test_another_clinic_sees_none_of_it(
    client: httpx.AsyncClient, sk: dict[str, str], staff: Staff, session: AsyncSession
) -> None:
    rid = (await submit(client, sk))["id"]
    other = await make_clinic(session)
    outsider, password = await make_user(session, other.slug, "clinic_admin")
    theirs = await login(client, outsider.email, password)
    other_key = {"Authorization": f"Bearer {other.secret_key}"}
    assert await ids(client, theirs) == []
    assert await ids(client, other_key) == []
    assert (await client.post("/v1/referrals/next", headers=theirs)).status_code == 204
    calls = [
        ("GET", f"/v1/referrals/{rid}", None),
        ("POST", f"/v1/referrals/{rid}/claim", None),
        ("POST", f"/v1/referrals/{rid}/transitions", {"to": "in_review"}),
        ("POST", f"/v1/referrals/{rid}/notes", {"text": "x"}),
        ("GET", f"/v1/referrals/{rid}/events", None),
    ]
    for headers in (theirs, other_key):
        for method, path, body in calls:
            response = await client.request(method, path, json=body, headers={**headers, "If-Match": '"1"'})
            assert response.status_code == 404, (path, response.text)
    # ... and it is untouched for its own clinic.
    mine = (await client.get(f"/v1/referrals/{rid}/events", headers=staff.physio_headers)).json()["items"]
    assert [e["action"] for e in mine] == ["created"]
    assert (await client.post("/v1/intakes", json=intake_body(), headers=sk)).status_code == 201


@pytest.mark.parametrize("tag", ['"\u00b2"', "W/", '"99999999999999999999999"', "", ","])
async def test_odd_if_match_values_are_412(
    client: httpx.AsyncClient, sk: dict[str, str], staff: Staff, tag: str
) -> None:
    rid = (await submit(client, sk))["id"]
    response = await client.post(
        f"/v1/referrals/{rid}/transitions",
        json={"to": "in_review"},
        headers=[*((k.encode(), v.encode()) for k, v in staff.physio_headers.items()), (b"If-Match", tag.encode())],
    )
    assert response.status_code == 412, response.text


async def test_if_match_star_and_lists(client: httpx.AsyncClient, sk: dict[str, str], staff: Staff) -> None:
    rid = (await submit(client, sk))["id"]
    star = await transition(client, rid, "in_review", staff.physio_headers, etag="*")
    assert star.status_code == 200
    listed = await transition(client, rid, "accepted", staff.physio_headers, etag='"7", W/"2"')
    assert listed.status_code == 200


@pytest.mark.parametrize(
    "values",
    [
        [2**70, "2026-01-01T00:00:00+00:00", "00000000-0000-0000-0000-000000000000"],
        [1, "0001-01-01T00:00:00+01:00", "00000000-0000-0000-0000-000000000000"],
        [1, "9999-12-31T23:59:59-05:00", "00000000-0000-0000-0000-000000000000"],
        [1, "2026-01-01T00:00:00", "00000000-0000-0000-0000-000000000000"],
        [True, "2026-01-01T00:00:00+00:00", "not-a-uuid"],
    ],
)
async def test_forged_cursors_are_422(
    client: httpx.AsyncClient, sk: dict[str, str], staff: Staff, values: list[object]
) -> None:
    import base64
    import json

    cursor = base64.urlsafe_b64encode(json.dumps(values).encode()).decode().rstrip("=")
    rid = (await submit(client, sk))["id"]
    assert (await client.get(f"/v1/referrals?cursor={cursor}", headers=staff.physio_headers)).status_code == 422
    events = await client.get(f"/v1/referrals/{rid}/events?cursor={cursor}", headers=staff.physio_headers)
    assert events.status_code == 422


async def test_reading_the_intake_is_on_the_referrals_audit_trail(
    client: httpx.AsyncClient, sk: dict[str, str], staff: Staff
) -> None:
    referral = await submit(client, sk)
    detail = (await client.get(f"/v1/referrals/{referral['id']}", headers=staff.admin_headers)).json()
    assert (await client.get(f"/v1/intakes/{detail['intake_id']}", headers=staff.physio_headers)).status_code == 200
    events = (await client.get(f"/v1/referrals/{referral['id']}/events", headers=staff.admin_headers)).json()["items"]
    viewers = [e["actor"] for e in events if e["action"] == "viewed"]
    # The admin opened the referral, then the physio read its intake.
    assert viewers == [staff.admin.email, staff.physio.email]
