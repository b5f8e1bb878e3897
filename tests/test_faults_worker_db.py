"""PostgreSQL restarted while `backstride worker` is delivering: the worker rides it out by itself
(no one restarts it), and every referral reaches the FHIR receiver, nothing lost and nothing
created twice.

Delivery is at least once (README, "Worker"): a Bundle the receiver took while the database was
going away has its outcome lost, so it is sent again once its lease runs out, and its conditional
creates make that harmless. So "exactly once" is counted where it is promised: one Patient, one
ServiceRequest and one QuestionnaireResponse per referral at the receiver, keyed by identifier,
and every export delivered. Re-sends are bounded by the one batch in hand when the database went.

The database is a throwaway cluster of this test's own (initdb in a temp folder, another port),
so the machine's server is not disturbed.
"""

import asyncio
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import httpx
import pytest

from services.core import migrations
from services.core.db import Database
from tests.factories import intake_body, make_clinic
from tests.live import serve
from tests.postgres_cluster import Cluster, private_cluster
from tests.test_faults_export import Receiver, wait_for

BACKSTRIDE = str(Path(sys.executable).with_name("backstride"))
SECRET = "w" * 40
BATCH = 4
WORKER_SETTINGS = {
    "EXPORT_BATCH_SIZE": str(BATCH),
    "EXPORT_LEASE_SECONDS": "4",  # an outcome lost with the database is sent again within seconds
    "EXPORT_RETRY_BASE_SECONDS": "0.2",
    "EXPORT_RETRY_MAX_SECONDS": "1",
    "EXPORT_POLL_SECONDS": "0.1",
    "EXPORT_MAX_ATTEMPTS": "50",
}
BEFORE, AFTER = 20, 4  # intakes submitted before the restart, and after it


@pytest.fixture
def cluster() -> Iterator[Cluster]:
    with private_cluster() as started:
        yield started


@pytest.fixture
def receiver(tmp_path: Path) -> Iterator[Receiver]:
    receiver = Receiver(tmp_path / "receiver-state.json")
    receiver.start()
    # Slow enough that the worker is seen with deliveries in hand.
    httpx.post(f"{receiver.base}/_control", json={"delay": 0.5}, timeout=5).raise_for_status()
    yield receiver
    if receiver.process is not None and receiver.process.poll() is None:
        receiver.kill()


async def committed_clinic(url: str) -> str:
    database = Database(url, pooled=False)
    try:
        async with database.sessionmaker() as session, session.begin():
            return (await make_clinic(session)).secret_key
    finally:
        await database.dispose()


async def exports(port: int) -> list[asyncpg.Record]:
    connection = await asyncpg.connect(f"postgresql://root@127.0.0.1:{port}/postgres", timeout=5)
    try:
        return list(await connection.fetch("SELECT id, referral_id, status, attempts, last_error FROM export_items"))
    finally:
        await connection.close()


def submit(http: httpx.Client, key: str, within: float = 30) -> str:
    """An intake, its 201 waited for (the API answers 503 until it has its database back); its referral id."""
    headers = {"Authorization": f"Bearer {key}", "Idempotency-Key": str(uuid.uuid4())}
    deadline = time.monotonic() + within
    while True:
        response = http.post("/v1/intakes", json=intake_body(), headers=headers)
        if response.status_code == 201:
            return str(response.json()["referral"]["id"])
        assert response.status_code == 503 and time.monotonic() < deadline, response.text
        time.sleep(0.2)


def test_worker_rides_out_a_database_restart(cluster: Cluster, receiver: Receiver, tmp_path: Path) -> None:
    migrations.upgrade(cluster.url)
    key = asyncio.run(committed_clinic(cluster.url))
    env = {"DATABASE_URL": cluster.url, "SECRET_KEY": SECRET, "BACKSTRIDE_ENV": "test", **WORKER_SETTINGS}
    worker_log = tmp_path / "worker.log"
    with worker_log.open("wb") as log, serve(env) as base, httpx.Client(base_url=base, timeout=30) as http:
        integration = {"base_url": f"{receiver.base}/fhir", "auth": {"type": "none"}, "enabled": True}
        put = http.put("/v1/integrations/fhir", json=integration, headers={"Authorization": f"Bearer {key}"})
        assert put.status_code == 200, put.text
        referrals = [submit(http, key) for _ in range(BEFORE)]  # queued before the worker starts: a backlog
        worker = subprocess.Popen([BACKSTRIDE, "worker"], env={**os.environ, **env}, stdout=log, stderr=log)
        try:
            referrals += restart_while_delivering(cluster, receiver, worker, worker_log, http, key)
            check_everything_delivered_once(cluster, receiver, worker, worker_log, referrals)
        finally:
            worker.kill()
            worker.wait(timeout=10)


def restart_while_delivering(
    cluster: Cluster,
    receiver: Receiver,
    worker: subprocess.Popen[bytes],
    worker_log: Path,
    http: httpx.Client,
    key: str,
) -> list[str]:
    def explain() -> str:
        tail = worker_log.read_text(errors="replace").splitlines()[-15:]
        return f"receiver: {receiver.state()}\nworker exit code: {worker.poll()}\nworker log tail:\n" + "\n".join(tail)

    def mid_delivery() -> bool:
        state = receiver.state()
        return bool(state["in_flight"]) and sum(state["delivered"].values()) >= BATCH

    # A batch delivered, the next in hand at the receiver: the database goes away now.
    wait_for("the worker delivering", mid_delivery, 30, explain)
    cluster.ctl("-m", "fast", "stop")
    delivered_at_stop = sum(receiver.state()["delivered"].values())
    assert delivered_at_stop < BEFORE, "the backlog went out before the database could be stopped"
    time.sleep(3)  # down: the worker can neither record its deliveries nor claim more
    assert worker.poll() is None, explain()
    cluster.ctl("start")
    return [submit(http, key) for _ in range(AFTER)]


def check_everything_delivered_once(
    cluster: Cluster, receiver: Receiver, worker: subprocess.Popen[bytes], worker_log: Path, referrals: list[str]
) -> None:
    def explain() -> str:
        tail = worker_log.read_text(errors="replace").splitlines()[-15:]
        items = asyncio.run(exports(cluster.port))
        statuses = [(r["status"], r["attempts"], r["last_error"]) for r in items]
        return f"exports: {statuses}\nworker exit code: {worker.poll()}\nworker log tail:\n" + "\n".join(tail)

    def all_delivered() -> bool:
        assert worker.poll() is None, explain()  # it must recover by itself: no one restarts it
        items = asyncio.run(exports(cluster.port))
        return len(items) == len(referrals) and all(r["status"] == "delivered" for r in items)

    wait_for("everything delivered after the restart", all_delivered, 45, explain)
    assert worker.poll() is None, explain()  # it recovered by itself, never restarted
    assert "cannot claim exports" in worker_log.read_text(errors="replace"), "the worker never saw the outage"

    items = asyncio.run(exports(cluster.port))
    state = receiver.state()
    # Nothing lost: one export per referral (its creation), each delivered and received.
    assert sorted(str(r["referral_id"]) for r in items) == sorted(referrals)
    assert set(state["delivered"]) == {str(r["id"]) for r in items}, state["delivered"]
    # Nothing created twice: each referral's resources once, by identifier.
    counts = state["resources"]
    assert (counts["ServiceRequest"], counts["Patient"], counts["QuestionnaireResponse"]) == (len(referrals),) * 3
    assert counts["Observation"] == 3 * len(referrals), counts
    assert state["service_requests"] == dict.fromkeys(referrals, "new")
    # Sent again only what the database's going away left unrecorded: at most the batch in hand.
    resent = {export: n - 1 for export, n in state["delivered"].items() if n > 1}
    assert sum(resent.values()) <= BATCH, resent
    print(f"{len(referrals)} exports delivered through a database restart; re-sent: {sum(resent.values())}")
