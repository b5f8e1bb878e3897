"""PostgreSQL restarted while intakes are being submitted: every 201 is stored, the
outage answers 503 with Retry-After (never a 500), and the service recovers by itself.

The database is a throwaway cluster of this test's own (initdb in a temp folder, another
port), so the machine's server is not disturbed. Runs where PostgreSQL's server programs are
(tests/postgres_cluster.py finds them); skipped without them, except where PostgreSQL is
required (CI), where that fails.
"""

import asyncio
import json
import os
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import httpx
import pytest

from services.core import migrations
from tests.factories import intake_body
from tests.live import serve
from tests.postgres_cluster import Cluster, private_cluster

BACKSTRIDE = str(Path(sys.executable).with_name("backstride"))


@pytest.fixture
def cluster() -> Iterator[Cluster]:
    with private_cluster() as started:
        yield started


def test_restart_under_load_loses_no_accepted_intake(cluster: Cluster) -> None:
    migrations.upgrade(cluster.url)
    secret = "f" * 40
    env = {"DATABASE_URL": cluster.url, "SECRET_KEY": secret, "BACKSTRIDE_ENV": "test",
           "RATE_LIMIT_INTAKES_PER_MINUTE": "100000"}  # fmt: skip
    created = subprocess.run(
        [BACKSTRIDE, "clinic", "create", "--name", "F", "--slug", "faults", "--json"],
        env={**os.environ, **env}, capture_output=True, text=True, check=True,
    )  # fmt: skip
    key = json.loads(created.stdout)["secret_key"]
    with serve(env) as base:
        accepted, statuses = asyncio.run(load_through_a_restart(base, key, cluster))
    assert statuses[500] == 0 and statuses[0] == 0, statuses  # 0: the connection itself failed
    assert statuses[503] > 0, f"the outage was never seen: {statuses}"
    print(f"responses through the restart: {dict(statuses)}")
    assert len(accepted) > 20, statuses
    stored = asyncio.run(stored_intakes(cluster.port))
    assert set(accepted) <= stored, f"{len(set(accepted) - stored)} accepted intakes are missing"


async def load_through_a_restart(base: str, key: str, cluster: Cluster) -> tuple[list[str], Counter[int]]:
    accepted: list[str] = []
    statuses: Counter[int] = Counter()
    stop = asyncio.Event()

    async def submitter(http: httpx.AsyncClient) -> None:
        while not stop.is_set():
            try:
                response = await http.post(
                    "/v1/intakes", json=intake_body(),
                    headers={"Authorization": f"Bearer {key}", "Idempotency-Key": str(uuid.uuid4())},
                )  # fmt: skip
            except httpx.TransportError:
                statuses[0] += 1
                continue
            statuses[response.status_code] += 1
            if response.status_code == 201:
                accepted.append(response.json()["id"])
            elif response.status_code == 503:
                assert response.headers["retry-after"]
                await asyncio.sleep(0.05)

    async with httpx.AsyncClient(base_url=base, timeout=30) as http:
        tasks = [asyncio.create_task(submitter(http)) for _ in range(4)]
        await asyncio.sleep(1.5)
        await asyncio.to_thread(cluster.ctl, "-m", "fast", "stop")
        await asyncio.sleep(1.5)  # down: every request should now be a 503
        await asyncio.to_thread(cluster.ctl, "start")
        before = statuses[201]
        deadline = time.monotonic() + 20
        while statuses[201] < before + 20 and time.monotonic() < deadline:  # noqa: ASYNC110 - polling counters
            await asyncio.sleep(0.1)  # recovered by itself: no one restarts the API
        stop.set()
        await asyncio.gather(*tasks)
    assert statuses[201] >= before + 20, f"no recovery after the restart: {statuses}"
    return accepted, statuses


async def stored_intakes(port: int) -> set[str]:
    connection = await asyncpg.connect(f"postgresql://root@127.0.0.1:{port}/postgres")
    try:
        return {str(row["id"]) for row in await connection.fetch("SELECT id FROM intakes")}
    finally:
        await connection.close()
