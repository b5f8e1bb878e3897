"""Writers racing one transition, or one urgency change, with the same If-Match: exactly one wins
(README, "Optimistic concurrency": the UPDATE itself re-checks the version, so two racing writers
cannot both succeed).

A real server with two worker processes on PostgreSQL (when reachable, as CI requires); the
racing requests leave together, each on a connection opened beforehand, round after round.
"""

import asyncio
from collections import Counter
from pathlib import Path
from typing import Any

import httpx

from tests.race_clinic import LiveClinic, live_clinic

ROUNDS = 8
RACERS = 4
PHYSIOS = [f"physio{n}" for n in range(RACERS)]
URGENCIES = ["emergency", "urgent", "routine", "self_care"]


async def race(base: str, attempts: list[tuple[dict[str, str], dict[str, Any]]], path: str) -> list[httpx.Response]:
    """POST every (headers, body) to `path` at the same moment, each from its own warm connection."""
    clients = [httpx.AsyncClient(base_url=base, timeout=30) for _ in attempts]
    try:
        await asyncio.gather(*(client.get("/healthz") for client in clients))  # connect first
        start = asyncio.Event()

        async def one(client: httpx.AsyncClient, headers: dict[str, str], body: dict[str, Any]) -> httpx.Response:
            await start.wait()
            return await client.post(path, json=body, headers=headers)

        tasks = [asyncio.create_task(one(c, h, b)) for c, (h, b) in zip(clients, attempts, strict=True)]
        await asyncio.sleep(0)  # every task waits on the event
        start.set()
        return await asyncio.gather(*tasks)
    finally:
        await asyncio.gather(*(client.aclose() for client in clients))


def one_winner(responses: list[httpx.Response]) -> httpx.Response:
    """Exactly one 200; every other writer is told its If-Match is stale (412)."""
    statuses = Counter(r.status_code for r in responses)
    assert statuses == {200: 1, 412: len(responses) - 1}, [(r.status_code, r.text[:200]) for r in responses]
    for loser in (r for r in responses if r.status_code == 412):
        assert loser.json()["type"].endswith("stale-version"), loser.text
    return next(r for r in responses if r.status_code == 200)


def events(http: httpx.Client, referral_id: str, headers: dict[str, str], *actions: str) -> list[dict[str, Any]]:
    response = http.get(f"/v1/referrals/{referral_id}/events", params={"limit": 100}, headers=headers)
    assert response.status_code == 200, response.text
    return [e for e in response.json()["items"] if e["action"] in actions]


def transitions(http: httpx.Client, referral_id: str, headers: dict[str, str]) -> list[dict[str, Any]]:
    return events(http, referral_id, headers, "transitioned", "claimed")


def version(http: httpx.Client, referral_id: str, headers: dict[str, str]) -> tuple[int, dict[str, Any]]:
    response = http.get(f"/v1/referrals/{referral_id}", headers=headers)
    assert response.status_code == 200, response.text
    return int(response.headers["etag"].strip('"')), response.json()


def test_racing_writers_with_the_same_if_match_one_wins(tmp_path: Path) -> None:
    with live_clinic(tmp_path, dict.fromkeys(PHYSIOS, "physio")) as clinic:
        run_rounds(clinic)


def run_rounds(clinic: LiveClinic) -> None:
    physios = {name: clinic.login(name) for name in PHYSIOS}
    with httpx.Client(base_url=clinic.base, timeout=15) as http:
        for n in range(ROUNDS):
            referral_id = str(clinic.submit()["referral"]["id"])
            path = f"/v1/referrals/{referral_id}/transitions"
            before, _ = version(http, referral_id, clinic.key())

            # Every physio takes the new referral into review at once, with the same If-Match.
            if_match = {"If-Match": f'"{before}"'}
            attempts = [({**physios[p], **if_match}, {"to": "in_review", "note": f"mine: {p}"}) for p in PHYSIOS]
            winner = one_winner(asyncio.run(race(clinic.base, attempts, path)))
            reviewer = next(p for p in PHYSIOS if clinic.users[p][2] == winner.json()["assignee"])
            now, referral = version(http, referral_id, clinic.key())
            assert now == before + 1 == int(winner.headers["etag"].strip('"')), (n, before, now)
            assert (referral["status"], referral["assignee"]) == ("in_review", clinic.users[reviewer][2])
            moves = transitions(http, referral_id, clinic.key())
            assert [(e["from_status"], e["to_status"]) for e in moves] == [("new", "in_review")], moves
            assert moves[0]["note"] == f"mine: {reviewer}"  # the winner's own write, no one else's

            # Every physio sets another urgency at once with the same If-Match. The status stays, so
            # here only the version check can stop a second writer.
            if_match = {"If-Match": f'"{now}"'}
            attempts = [
                ({**physios[p], **if_match}, {"urgency": urgency, "reason": f"mine: {p}"})
                for p, urgency in zip(PHYSIOS, URGENCIES, strict=True)
            ]
            path = f"/v1/referrals/{referral_id}/urgency"
            winner = one_winner(asyncio.run(race(clinic.base, attempts, path)))
            now, referral = version(http, referral_id, clinic.key())
            assert now == int(winner.headers["etag"].strip('"')) == before + 2, (n, before, now)
            assert referral["urgency"] == winner.json()["urgency"]
            changes = events(http, referral_id, clinic.key(), "urgency_changed")
            assert [e["detail"]["to"]["urgency"] for e in changes] == [referral["urgency"]], changes
            path = f"/v1/referrals/{referral_id}/transitions"

            # The reviewer accepts and declines at once, from several tabs, with the same If-Match.
            if_match = {"If-Match": f'"{now}"'}
            targets = ["accepted", "declined"] * (RACERS // 2)
            attempts = [({**physios[reviewer], **if_match}, {"to": to}) for to in targets]
            winner = one_winner(asyncio.run(race(clinic.base, attempts, path)))
            final, referral = version(http, referral_id, clinic.key())
            assert final == now + 1 == int(winner.headers["etag"].strip('"')), (n, now, final)
            assert referral["status"] == winner.json()["status"]
            moves = transitions(http, referral_id, clinic.key())
            expected = [("new", "in_review"), ("in_review", referral["status"])]
            assert [(e["from_status"], e["to_status"]) for e in moves] == expected, moves
