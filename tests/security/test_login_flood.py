"""Attack 1: a flood of logins with random emails exhausted the database pool (logins held a
connection while argon2 ran): intakes slowed to 10 s, then got 503s."""

import asyncio
import uuid
from collections import Counter
from collections.abc import Iterator

import httpx
import pytest

from services.core.config import Settings
from tests.factories import intake_body
from tests.live import serve
from tests.security.conftest import Tenant, production_env


@pytest.fixture
def small_pool_server(settings: Settings) -> Iterator[str]:
    # A pool of 5 makes the old attack certain: 100 logins each holding a connection for argon2.
    with serve(production_env(settings, DB_POOL_SIZE="5")) as base:
        yield base


async def test_a_login_flood_leaves_intakes_answered_and_is_refused_quickly(
    small_pool_server: str, tenants: tuple[Tenant, Tenant]
) -> None:
    mine, _ = tenants
    flood_from = {"X-Forwarded-For": "203.0.113.66"}

    async def login(http: httpx.AsyncClient) -> int:
        form = {"username": f"{uuid.uuid4().hex}@example.org", "password": "guess-guess"}
        return (await http.post("/v1/auth/token", data=form, headers=flood_from)).status_code

    async def intake(http: httpx.AsyncClient) -> int:
        return (await http.post("/v1/intakes", json=intake_body(), headers=mine.sk)).status_code

    async with httpx.AsyncClient(base_url=small_pool_server, timeout=60) as http:
        flood = [login(http) for _ in range(100)]
        intakes = [intake(http) for _ in range(20)]
        results = await asyncio.gather(*flood, *intakes)
    logins, stored = Counter(results[:100]), Counter(results[100:])
    assert stored == Counter({201: 20}), stored  # every intake answered, none 503
    assert set(logins) <= {401, 429}, logins
    # The few that were checked failed (401); the excess was refused before any password check.
    assert logins[429] >= 50, logins
