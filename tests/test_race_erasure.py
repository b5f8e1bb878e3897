"""A patient's erasure racing new notes on their referral: each note is either removed with
the rest or refused (410), never left behind (README, "Data rights", Concurrency).

A real server with two worker processes on PostgreSQL (when reachable, as CI requires). Every
round fires one erasure, several notes and a transition with a note together, the notes a little later each round, so
that over the rounds they land before, during and after the erasure's transaction. Afterwards
every row of every table is searched for the notes' text.
"""

import asyncio
import uuid
from collections import Counter
from pathlib import Path

import httpx
from sqlalchemy import inspect, text

from services.core.db import Database
from tests.race_clinic import LiveClinic, live_clinic

ROUNDS = 30
NOTES = 3  # per round, 3 ms apart
# The notes leave this long after the erasure (before it, when negative): 1 ms later each round.
OFFSETS = [(n - 15) / 1000 for n in range(ROUNDS)]


def test_a_note_racing_the_erasure_is_removed_or_refused(tmp_path: Path) -> None:
    with live_clinic(tmp_path, {"physio": "physio", "admin": "clinic_admin"}) as clinic:
        outcomes, marker = run_rounds(clinic)
        left = asyncio.run(rows_containing(clinic.database_url, marker))
    print(f"racing an erasure: {dict(outcomes)}")
    behind = [(table, row) for table, row in left if f"{marker}-control" not in row]
    assert not behind, f"{len(behind)} notes outlived their patient's erasure, e.g. {behind[:3]}"
    # A control note on a referral nobody erased: the search does find a note where there is one.
    assert [table for table, _ in left] == ["referral_events"], left
    # Both sides of the race were reached: notes committed before the erasure, and notes refused after it.
    assert outcomes["note 201"] > 0 and outcomes["note 410"] > 0, outcomes


def run_rounds(clinic: LiveClinic) -> tuple[Counter[str], str]:
    physio, admin = clinic.login("physio"), clinic.login("admin")
    marker = f"racenote{uuid.uuid4().hex}"
    outcomes: Counter[str] = Counter()
    for n in range(ROUNDS):
        created = clinic.submit()
        referral_id, intake_id = created["referral"]["id"], created["id"]
        etag = httpx.get(f"{clinic.base}/v1/referrals/{referral_id}", headers=physio, timeout=15).headers["etag"]
        erasure, move, notes = asyncio.run(
            race(clinic.base, admin, physio, (intake_id, referral_id, etag), f"{marker}-{n}", OFFSETS[n])
        )
        assert erasure.status_code == 200, erasure.text
        assert erasure.json()["erased_referral_ids"] == [referral_id], erasure.text
        for note in notes:
            assert note.status_code in (201, 410), note.text  # stored (then erased), or refused as erased
            outcomes[f"note {note.status_code}"] += 1
        # A transition's note too: moved before the erasure (its note then erased), or too late (412).
        assert move.status_code in (200, 412), move.text
        outcomes[f"transition {move.status_code}"] += 1
    control = clinic.submit()["referral"]["id"]
    response = httpx.post(
        f"{clinic.base}/v1/referrals/{control}/notes", json={"text": f"{marker}-control"}, headers=physio, timeout=15
    )
    assert response.status_code == 201, response.text
    return outcomes, marker


async def race(
    base: str, admin: dict[str, str], physio: dict[str, str], ids: tuple[str, str, str], text: str, lag: float
) -> tuple[httpx.Response, httpx.Response, list[httpx.Response]]:
    """The erasure, a transition with a note and NOTES notes, all at once (the notes `lag` s after
    the erasure, or before it when negative)."""
    intake_id, referral_id, etag = ids
    clients = [httpx.AsyncClient(base_url=base, timeout=30) for _ in range(2 + NOTES)]
    try:
        await asyncio.gather(*(client.get("/healthz") for client in clients))  # connect first
        start = asyncio.Event()

        async def erase() -> httpx.Response:
            await start.wait()
            await asyncio.sleep(max(0.0, -lag))
            body = {"intake_ids": [intake_id], "reason": "erasure request 42"}
            return await clients[0].post("/v1/patient-data/erase", json=body, headers=admin)

        async def note(i: int) -> httpx.Response:
            await start.wait()
            await asyncio.sleep(max(0.0, lag) + i * 0.003)
            body = {"text": f"{text}-{i} the patient mentioned their knee"}
            return await clients[2 + i].post(f"/v1/referrals/{referral_id}/notes", json=body, headers=physio)

        async def move() -> httpx.Response:
            await start.wait()
            await asyncio.sleep(max(0.0, lag) + 0.0015)
            body = {"to": "in_review", "note": f"{text}-t taking it; they run 60 km a week"}
            headers = {**physio, "If-Match": etag}
            return await clients[1].post(f"/v1/referrals/{referral_id}/transitions", json=body, headers=headers)

        erasing, moving = asyncio.create_task(erase()), asyncio.create_task(move())
        noting = [asyncio.create_task(note(i)) for i in range(NOTES)]
        await asyncio.sleep(0)
        start.set()
        return await erasing, await moving, list(await asyncio.gather(*noting))
    finally:
        await asyncio.gather(*(client.aclose() for client in clients))


async def rows_containing(url: str, needle: str) -> list[tuple[str, str]]:
    """(table, row as text) of every row, in every table, with `needle` anywhere in any column."""
    database = Database(url, pooled=False)
    try:
        async with database.engine.connect() as connection:
            tables = await connection.run_sync(lambda sync: inspect(sync).get_table_names())
            found = []
            for table in tables:
                rows = (await connection.execute(text(f'SELECT * FROM "{table}"'))).all()
                found += [(table, str(tuple(row))) for row in rows if needle in str(tuple(row))]
            return found
    finally:
        await database.dispose()
