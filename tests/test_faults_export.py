"""The FHIR receiver killed outright for a while, under live traffic: once it is back, every
referral and every status change arrives, each export exactly once, and the worker never died.

Everything runs as its own process: the API under uvicorn, `backstride worker` (continuous,
so it must ride out the outage by itself) and tests/fhir_receiver.py. The receiver is
SIGKILLed (connection refused, not 503s) and a new one started on the same port; it keeps
its state in a file, so "exactly once" is counted across both of its lives.
"""

import asyncio
import os
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import closing
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest

from services.core import migrations
from tests.conftest import create_scratch_database, drop_scratch_database, live_backend
from tests.factories import SeededClinic, intake_body, seed_clinic
from tests.live import free_port, serve, wait_ready

BACKSTRIDE = str(Path(sys.executable).with_name("backstride"))
ROOT = Path(__file__).resolve().parents[1]
SECRET = "e" * 40
# Short backoff (0.2 s doubling up to 1 s, x0.5-1.5 jitter), so retries pile up within seconds and
# the backlog goes out soon after the receiver is back; attempts enough not to die during the outage.
WORKER_SETTINGS = {
    "EXPORT_RETRY_BASE_SECONDS": "0.2",
    "EXPORT_RETRY_MAX_SECONDS": "1",
    "EXPORT_POLL_SECONDS": "0.1",
    "EXPORT_MAX_ATTEMPTS": "50",
}
T = TypeVar("T")


def wait_for(what: str, check: Callable[[], T | None], within: float, explain: Callable[[], str]) -> T:
    """Poll `check` until it returns something truthy; fail with `explain()` after `within` seconds."""
    deadline = time.monotonic() + within
    while not (result := check()):
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {within:.0f} s\n{explain()}")
        time.sleep(0.1)
    return result


class Receiver:
    """tests/fhir_receiver.py on a fixed port, its state in a file: it can be killed and started again."""

    def __init__(self, state_file: Path) -> None:
        self.port, self.state_file = free_port(), state_file
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        command = [sys.executable, "-m", "tests.fhir_receiver", "--port", str(self.port)]
        self.process = subprocess.Popen([*command, "--state-file", str(self.state_file)], cwd=ROOT)
        wait_ready(self.base, self.process)

    def kill(self) -> None:
        assert self.process is not None
        self.process.kill()
        self.process.wait(timeout=10)

    def state(self) -> dict[str, Any]:
        response = httpx.get(f"{self.base}/_state", timeout=5)
        response.raise_for_status()
        state: dict[str, Any] = response.json()
        return state


@pytest.fixture
def scratch_url(tmp_path: Path) -> Iterator[str]:
    url, name = create_scratch_database(live_backend(), str(tmp_path))
    try:
        migrations.upgrade(url)
        yield url
    finally:
        drop_scratch_database(name)


@pytest.fixture
def receiver(tmp_path: Path) -> Iterator[Receiver]:
    receiver = Receiver(tmp_path / "receiver-state.json")
    receiver.start()
    yield receiver
    if receiver.process is not None and receiver.process.poll() is None:
        receiver.kill()


class Api:
    """The API as a clinic's systems and a physio use it."""

    def __init__(self, base: str, clinic: SeededClinic) -> None:
        self.http = httpx.Client(base_url=base, timeout=15)
        self.key = {"Authorization": f"Bearer {clinic.clinic.secret_key}"}
        login = self.http.post(
            "/v1/auth/token", data={"username": clinic.physio_email, "password": clinic.physio_password}
        )
        assert login.status_code == 200, login.text
        self.physio = {"Authorization": f"Bearer {login.json()['access_token']}"}

    def close(self) -> None:
        self.http.close()

    def submit(self, n: int) -> str:
        """An intake (it must get its 201); its referral's id."""
        body = intake_body(patient={"given_name": f"Runner{n}"})
        response = self.http.post("/v1/intakes", json=body, headers={**self.key, "Idempotency-Key": str(uuid.uuid4())})
        assert response.status_code == 201, response.text
        return str(response.json()["referral"]["id"])

    def claim(self, referral_id: str) -> str:
        """new -> in_review, by the physio; the new ETag."""
        response = self.http.post(f"/v1/referrals/{referral_id}/claim", headers=self.physio)
        assert response.status_code == 200, response.text
        return response.headers["etag"]

    def move(self, referral_id: str, etag: str, to: str) -> str:
        headers = {**self.physio, "If-Match": etag}
        response = self.http.post(f"/v1/referrals/{referral_id}/transitions", json={"to": to}, headers=headers)
        assert response.status_code == 200, response.text
        return response.headers["etag"]

    def every(self, path: str) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        params: dict[str, str] = {"limit": "100"}
        while True:
            response = self.http.get(path, params=params, headers=self.key)
            response.raise_for_status()
            page = response.json()
            items += page["items"]
            if not page["next_cursor"]:
                return items
            params["cursor"] = page["next_cursor"]

    def exports(self) -> list[dict[str, Any]]:
        return self.every("/v1/exports")


def outbox(api: Api) -> str:
    items = api.exports()
    errors = Counter(i["last_error"] for i in items if i["status"] != "delivered")
    return f"exports by status: {dict(Counter(i['status'] for i in items))}; errors: {dict(errors)}"


def test_receiver_down_for_a_while_everything_delivered_once(
    scratch_url: str, receiver: Receiver, tmp_path: Path
) -> None:
    clinic = asyncio.run(seed_clinic(scratch_url))
    env = {"DATABASE_URL": scratch_url, "SECRET_KEY": SECRET, "BACKSTRIDE_ENV": "test", **WORKER_SETTINGS}
    worker_log = tmp_path / "worker.log"
    with worker_log.open("wb") as log:
        # Started first: it polls an empty outbox while the API comes up.
        worker = subprocess.Popen(
            [BACKSTRIDE, "worker"], env={**os.environ, **env}, stdout=log, stderr=subprocess.STDOUT
        )
        try:
            with serve(env) as base, closing(Api(base, clinic)) as api:
                integration = {"base_url": f"{receiver.base}/fhir", "auth": {"type": "none"}, "enabled": True}
                assert api.http.put("/v1/integrations/fhir", json=integration, headers=api.key).status_code == 200
                run_outage(api, receiver, worker, worker_log)
        finally:
            worker.kill()
            worker.wait(timeout=10)


def run_outage(api: Api, receiver: Receiver, worker: subprocess.Popen[bytes], worker_log: Path) -> None:
    def explain() -> str:
        tail = worker_log.read_text(errors="replace").splitlines()[-15:]
        return f"{outbox(api)}\nworker exit code: {worker.poll()}\nworker log tail:\n" + "\n".join(tail)

    def delivered(count: int) -> Callable[[], bool]:
        def check() -> bool:
            items = api.exports()
            return len(items) == count and all(i["status"] == "delivered" for i in items)

        return check

    referrals = [api.submit(n) for n in range(8)]
    wait_for("the first intakes delivered", delivered(len(referrals)), 30, explain)

    receiver.kill()
    down_at = time.monotonic()
    with pytest.raises(httpx.ConnectError):  # refused: nobody is listening any more
        httpx.get(f"{receiver.base}/readyz", timeout=2)
    newcomers = [api.submit(n) for n in range(8, 16)]
    # Status changes while it is down, each queued for export: claims, then some accepted or declined.
    # The newcomers' changes queue behind their own undelivered creation.
    plan = {referrals[0]: ["accepted"], referrals[1]: ["accepted"], referrals[2]: [], referrals[3]: []}
    plan |= {newcomers[0]: ["declined"], newcomers[1]: []}
    for referral_id, moves in plan.items():
        etag = api.claim(referral_id)
        for to in moves:
            etag = api.move(referral_id, etag, to)
    changes = sum(1 + len(moves) for moves in plan.values())
    referrals += newcomers

    def backed_off() -> bool:
        # An item refused several times (the backoff between tries growing), and a few seconds down.
        pending = [i for i in api.exports() if i["status"] == "pending"]
        worst = max(pending, key=lambda i: i["attempts"], default=None)
        refused = worst is not None and worst["attempts"] >= 4 and worst["last_error"] == "could not connect"
        return refused and time.monotonic() - down_at >= 3

    wait_for("the worker retrying through the outage", backed_off, 20, explain)
    receiver.start()
    up_at = time.monotonic()
    expected = len(referrals) + changes
    wait_for("everything delivered after the outage", delivered(expected), 30, explain)
    caught_up = time.monotonic() - up_at

    items = api.exports()
    state = receiver.state()
    assert worker.poll() is None, explain()
    assert len(items) == expected and {i["status"] for i in items} == {"delivered"}  # none dead, none pending
    # Each export exactly once, across both lives of the receiver.
    assert state["delivered"] == {i["id"]: 1 for i in items}
    # Nothing created twice: one of each resource per referral, each ServiceRequest at its latest status.
    counts = state["resources"]
    assert (counts["ServiceRequest"], counts["Patient"], counts["QuestionnaireResponse"]) == (len(referrals),) * 3
    assert counts["Observation"] == 3 * len(referrals)
    assert state["service_requests"] == {r["id"]: r["status"] for r in api.every("/v1/referrals")}
    failed_attempts = sum(i["attempts"] for i in items) - len(items)
    print(
        f"receiver down {up_at - down_at:.1f} s: {len(referrals)} intakes, {changes} status changes, "
        f"{failed_attempts} failed attempts; all {len(items)} exports delivered {caught_up:.1f} s after it came back"
    )
