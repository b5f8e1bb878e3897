"""Claims under real concurrency: a server process (two on PostgreSQL), many simultaneous
HTTP requests, and committed data — no per-test transaction here."""

import asyncio
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from sqlalchemy import delete, func, select
from sqlmodel import col

from services.accounts import service as accounts
from services.accounts import throttle
from services.accounts.models import LoginThrottle, User
from services.clinics.models import Clinic
from services.clinics.schemas import ClinicCreated
from services.core.config import Settings
from services.core.db import Database
from services.intake import service as intake
from services.intake.schemas import IntakeIn
from services.referrals.models import Referral, ReferralEvent
from tests.factories import intake_body, make_clinic, make_user, secret_principal
from tests.live import serve

PHYSIOS = 12


@pytest.fixture
def server(settings: Settings) -> Iterator[str]:
    env = {
        "DATABASE_URL": settings.database_url,
        "SECRET_KEY": settings.secret_key.get_secret_value(),
        "BACKSTRIDE_ENV": "test",
        # The lockout is under test here, not the per-account rate limit in front of it.
        "RATE_LIMIT_LOGINS_PER_MINUTE": "1000",
    }
    with serve(env, workers=1 if settings.is_sqlite else 2) as base:
        yield base


@pytest.fixture
async def team(database: Database, settings: Settings) -> AsyncIterator[tuple[ClinicCreated, list[User], list[str]]]:
    """A committed clinic with physios and their access tokens; deleted afterwards."""
    async with database.sessionmaker() as session, session.begin():
        clinic = await make_clinic(session)
        physios = [(await make_user(session, clinic.slug))[0] for _ in range(PHYSIOS)]
        tokens = [await accounts.start_session(session, settings, p) for p in physios]
    yield clinic, physios, tokens
    async with database.sessionmaker() as session, session.begin():
        await session.execute(delete(Clinic).where(col(Clinic.id) == clinic.clinic_id))


async def make_referrals(database: Database, clinic: ClinicCreated, count: int) -> list[uuid.UUID]:
    async with database.sessionmaker() as session, session.begin():
        made = [
            await intake.submit(session, secret_principal(clinic), IntakeIn.model_validate(intake_body()), None)
            for _ in range(count)
        ]
    return [created.referral.id for created, _ in made]


async def test_many_simultaneous_claims_have_one_winner(
    server: str, database: Database, team: tuple[ClinicCreated, list[User], list[str]]
) -> None:
    clinic, _, tokens = team
    [referral_id] = await make_referrals(database, clinic, 1)
    async with httpx.AsyncClient(base_url=server, timeout=30) as http:
        responses = await asyncio.gather(
            *(http.post(f"/v1/referrals/{referral_id}/claim", headers={"Authorization": f"Bearer {t}"}) for t in tokens)
        )
    statuses = Counter(r.status_code for r in responses)
    assert statuses == {200: 1, 409: PHYSIOS - 1}
    winner = next(r.json() for r in responses if r.status_code == 200)
    async with database.sessionmaker() as session:
        stored = await session.get(Referral, referral_id)
        assert stored is not None and str(stored.assignee_id) == winner["assignee"]
        assert stored.status == "in_review" and stored.version == 2
        claims = await session.execute(
            select(func.count())
            .select_from(ReferralEvent)
            .where(col(ReferralEvent.referral_id) == referral_id, col(ReferralEvent.action) == "claimed")
        )
        assert claims.scalar_one() == 1


async def test_simultaneous_next_never_hands_out_a_referral_twice(
    server: str, database: Database, team: tuple[ClinicCreated, list[User], list[str]]
) -> None:
    clinic, physios, tokens = team
    referral_ids = set(await make_referrals(database, clinic, 30))

    async def drain(http: httpx.AsyncClient, token: str) -> list[str]:
        got: list[str] = []
        while True:
            response = await http.post("/v1/referrals/next", headers={"Authorization": f"Bearer {token}"})
            if response.status_code == 204:
                return got
            assert response.status_code == 200, response.text
            got.append(response.json()["id"])

    async with httpx.AsyncClient(base_url=server, timeout=30) as http:
        per_physio = await asyncio.gather(*(drain(http, t) for t in tokens))
    handed_out = [rid for claims in per_physio for rid in claims]
    assert len(handed_out) == len(set(handed_out)) == 30
    assert {uuid.UUID(r) for r in handed_out} == referral_ids
    async with database.sessionmaker() as session:
        rows = (await session.execute(select(Referral).where(col(Referral.id).in_(referral_ids)))).scalars().all()
        owner = {str(r.id): str(r.assignee_id) for r in rows}
    for physio, claims in zip(physios, per_physio, strict=True):
        assert all(owner[rid] == str(physio.id) for rid in claims)


async def test_simultaneous_wrong_passwords_all_count(
    server: str, database: Database, settings: Settings, team: tuple[ClinicCreated, list[User], list[str]]
) -> None:
    """Guessing in parallel must not slip past the throttle: every failure is counted (those that
    arrive after the block are refused before any password check), so the next attempt from that
    address waits, while the real user elsewhere is not kept out."""
    clinic, _, _ = team
    async with database.sessionmaker() as session, session.begin():
        user, password = await make_user(session, clinic.slug)
    form = {"username": user.email, "password": "wrong-password"}
    attacker = {"X-Forwarded-For": "203.0.113.7"}  # uvicorn believes 127.0.0.1's forwarded address
    async with httpx.AsyncClient(base_url=server, timeout=30) as http:
        guesses = await asyncio.gather(*(http.post("/v1/auth/token", data=form, headers=attacker) for _ in range(12)))
        checked = [r.status_code for r in guesses].count(401)
        assert {r.status_code for r in guesses} <= {401, 429} and checked >= settings.login_free_failures
        again = await http.post("/v1/auth/token", data={**form, "password": password}, headers=attacker)
        elsewhere = await http.post(
            "/v1/auth/token", data={**form, "password": password}, headers={"X-Forwarded-For": "198.51.100.20"}
        )
    assert again.status_code == 429 and int(again.headers["retry-after"]) >= 1
    assert elsewhere.status_code == 200
    # Every checked guess was counted, none lost to a race: this account from that address.
    key = throttle.counters(settings, "203.0.113.7", user.email)[1].key
    async with database.sessionmaker() as session:
        counted = (
            await session.execute(select(col(LoginThrottle.failures)).where(col(LoginThrottle.key) == key))
        ).scalar_one()
    assert counted == checked
