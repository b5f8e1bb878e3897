"""`make bench`: Backstride's speed on PostgreSQL, next to ceilings measured in the same run.

    .venv/bin/python -m bench.run [--rows 1000000] [--seconds 10] [--out bench/results.json]

Everything runs as it would in production: each server is its own uvicorn process (one worker),
the load comes from wrk in another process, the export worker is `backstride worker --drain`.
Phases: intake throughput against the two ceilings (bench/ceilings.py); intake latency quiet and
under a login flood (bench/flood.py); queue listing with 10
thousand and with `--rows` referrals in a clinic; export drain rate with one and two workers to
an instant receiver (bench/receiver.py); the dashboard page (bench/dashboard.py); the API process's peak RSS.
Prints a table, writes JSON.
"""

import argparse
import asyncio
import json
import os
import platform
import secrets
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import asyncpg
import httpx

from bench import dashboard, report
from bench.report import PACED_SHARE, QUEUE_RUNS
from bench.seed import seed_referrals
from services.accounts import service as accounts
from services.clinics import service as clinics
from services.core import migrations
from services.core.db import Database, unit_of_work
from services.core.pagination import encode_cursor
from tests.live import free_port, wait_ready

ROOT = Path(__file__).resolve().parent.parent
BODY = ROOT / "bench" / "intake.json"
LUA = ROOT / "bench" / "load.lua"
CONCURRENCY = 32
PHASES = ("intake", "flood", "queue", "export", "dashboard")
PROFILE: dict[str, Path] = {}  # where py-spy writes (--profile)


@contextmanager
def process(argv: list[str], env: dict[str, str], base: str | None = None) -> Iterator[subprocess.Popen[bytes]]:
    """A child process (output discarded), waited for until `base`/readyz answers, if given."""
    child = subprocess.Popen(
        argv, env={**os.environ, **env}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=ROOT
    )
    try:
        if base is not None:
            wait_ready(base, child, within=60)
        yield child
    finally:
        child.terminate()
        try:
            child.wait(timeout=15)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()


@contextmanager
def serve(app: str, port: int, env: dict[str, str], name: str = "") -> Iterator[subprocess.Popen[bytes]]:
    argv = [sys.executable, "-m", "uvicorn", app, "--port", str(port), "--workers", "1"]
    if app == "services.asgi:app":  # the real thing, exactly as `backstride serve` runs it (JSON access logs)
        argv = [str(ROOT / ".venv/bin/backstride"), "serve", "--port", str(port)]
    with process(argv, env, base=f"http://127.0.0.1:{port}") as server:
        if "dir" not in PROFILE or not name:
            yield server
            return
        out = PROFILE["dir"] / f"{name}.txt"  # collapsed stacks: bench/profile.py sums them
        spy = [
            str(ROOT / ".venv/bin/py-spy"),
            "record",
            "--nonblocking",
            "--subprocesses",
            "-p",
            str(server.pid),
            "--format",
            "raw",
            "-o",
            str(out),
        ]
        with subprocess.Popen(spy, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) as recording:
            try:
                yield server
            finally:
                recording.send_signal(signal.SIGINT)
                recording.wait(timeout=60)


def wrk(
    url: str,
    *,
    connections: int,
    seconds: float,
    method: str = "GET",
    auth: str = "",
    body: bool = False,
    rate: float = 0,
    cookie: str = "",
) -> dict[str, Any]:
    """Run wrk against one URL; its Lua script prints one JSON summary line. With `rate`, each
    connection pauses between requests so that together they offer about that many per second."""
    parts = urlsplit(url)
    env = {
        **os.environ,
        "BENCH_DELAY_MS": str(1000 * connections / rate if rate else 0),
        "BENCH_METHOD": method,
        "BENCH_PATH": parts.path + (f"?{parts.query}" if parts.query else ""),
        "BENCH_AUTH": auth,
        "BENCH_COOKIE": cookie,
        "BENCH_BODY_FILE": str(BODY) if body else "",
    }
    base = f"{parts.scheme}://{parts.netloc}"
    threads = min(2, connections)
    argv = ["wrk", "-t", str(threads), "-c", str(connections), "-d", f"{max(1, round(seconds))}s", "-s", str(LUA), base]
    done = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"wrk failed: {done.stderr.strip()}")
    out = done.stdout
    line = next(raw for raw in out.splitlines() if raw.startswith("BENCH_JSON "))
    raw = json.loads(line.removeprefix("BENCH_JSON "))
    seconds_run = raw["duration_us"] / 1e6
    return {
        "requests": raw["requests"],
        "ok": raw["ok"],
        "not_ok": raw["not_ok"],
        "socket_errors": raw["socket_errors"],
        "throughput_rps": round(raw["ok"] / seconds_run, 1),
        "p50_ms": raw["p50_us"] / 1000,
        "p95_ms": raw["p95_us"] / 1000,
        "p99_ms": raw["p99_us"] / 1000,
        "max_ms": raw["max_us"] / 1000,
    }


def open_loop(pid: int, url: str, *, rate: float, seconds: float, auth: str) -> dict[str, Any]:
    """Intakes at a constant `rate` from bench/openloop.py (requests leave on time whatever the
    server does), with the server process's CPU time per request."""
    argv = [sys.executable, "-m", "bench.openloop", url, str(rate), str(seconds), "--body", str(BODY), "--auth", auth,
            "--max-connections", str(CONCURRENCY)]  # fmt: skip
    before = cpu_seconds(pid)
    done = subprocess.run(argv, capture_output=True, text=True, check=False, cwd=ROOT)
    if done.returncode != 0:
        raise RuntimeError(f"bench.openloop failed: {done.stderr.strip()[-2000:]}")
    result: dict[str, Any] = json.loads(done.stdout)
    result["server_cpu_ms_per_request"] = round(1000 * (cpu_seconds(pid) - before) / max(1, result["requests"]), 2)
    return result


def machine_busy() -> tuple[int, int]:
    """All CPUs' busy and total jiffies so far (/proc/stat), to tell how busy the machine was."""
    fields = [int(f) for f in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle and iowait
    return sum(fields) - idle, sum(fields)


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measured(pid: int, url: str, **options: Any) -> dict[str, Any]:
    """wrk's figures plus the server process's CPU time per request (robust to a busy machine)."""
    before = cpu_seconds(pid)
    result = wrk(url, **options)
    result["server_cpu_ms_per_request"] = round(1000 * (cpu_seconds(pid) - before) / max(1, result["requests"]), 2)
    return result


def peak_rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return round(int(line.split()[1]) / 1024, 1)
    raise RuntimeError("no VmHWM")


async def setup(url: str) -> dict[str, Any]:
    """Clinics (bench, small, big, export), a physio in small and big, and their credentials."""
    database = Database(url, pooled=False)
    made: dict[str, Any] = {}
    async with database.sessionmaker() as session, unit_of_work(session):
        for slug in ("bench", "small", "big", "export"):
            created = await clinics.create_clinic(session, name=slug, slug=slug, origins=[])
            made[slug] = {"id": str(created.clinic_id), "secret_key": created.secret_key}
        for slug in ("small", "big"):
            password = secrets.token_urlsafe(16)
            email = f"physio@{slug}.example"
            await accounts.create_user(session, clinic_slug=slug, email=email, role="physio", password=password)
            made[slug]["login"] = {"email": email, "password": password, "clinic": slug}
    await database.dispose()
    return made


def login(base: str, credentials: dict[str, str]) -> str:
    form = {"username": credentials["email"], "password": credentials["password"]}
    response = httpx.post(f"{base}/v1/auth/token", data=form, timeout=30)
    response.raise_for_status()
    token: str = response.json()["access_token"]
    return token


async def deep_cursor(dsn: str, clinic_id: str, position: int) -> str:
    """The cursor a client holds after paging to `position` in the queue's order."""
    connection = await asyncpg.connect(dsn)
    row = await connection.fetchrow(
        "SELECT urgency_rank, created_at, id FROM referrals WHERE clinic_id = $1 "
        "ORDER BY urgency_rank, created_at, id OFFSET $2 LIMIT 1",
        uuid.UUID(clinic_id),
        position,
    )
    await connection.close()
    return encode_cursor(row["urgency_rank"], row["created_at"], row["id"])


async def fetch(dsn: str, sql: str, *args: Any) -> Any:
    connection = await asyncpg.connect(dsn)
    try:
        return await connection.fetchval(sql, *args)
    finally:
        await connection.close()


def intake_phase(results: dict[str, Any], made: dict[str, Any], env: dict[str, str], dsn: str, seconds: float) -> None:
    """Each endpoint at saturation (32 connections sending back to back), then the ceiling and the
    API at a constant rate of half the asyncpg ceiling's throughput, open-loop (bench/openloop.py)."""
    key = made["bench"]["secret_key"]
    ceiling_env = {**env, "BENCH_DSN": dsn, "BENCH_CLINIC_ID": made["bench"]["id"]}
    post: dict[str, Any] = {"connections": CONCURRENCY, "method": "POST", "body": True}
    saturated, paced = results["intake"], results["intake_paced"]
    ceiling_port, port = free_port(), free_port()
    with serve("bench.ceilings:app", ceiling_port, ceiling_env) as ceiling:
        for name, path in (("ceiling_validate_only", "/validate"), ("ceiling_asyncpg", "/asyncpg")):
            url = f"http://127.0.0.1:{ceiling_port}{path}"
            wrk(url, seconds=2, **post)  # warm-up
            saturated[name] = measured(ceiling.pid, url, seconds=seconds, **post)
        rate = round(saturated["ceiling_asyncpg"]["throughput_rps"] * PACED_SHARE)
        results["paced_rate_rps"] = rate
        url = f"http://127.0.0.1:{ceiling_port}/asyncpg"
        paced["ceiling_asyncpg"] = open_loop(ceiling.pid, url, rate=rate, seconds=seconds, auth="")
    with serve("services.asgi:app", port, env, "intake") as api:
        url = f"http://127.0.0.1:{port}/v1/intakes"
        wrk(url, seconds=2, auth=key, **post)  # warm-up
        saturated["backstride"] = measured(api.pid, url, seconds=seconds, auth=key, **post)
        paced["backstride"] = open_loop(api.pid, url, rate=rate, seconds=seconds, auth=key)
        results["memory"]["after intake"] = peak_rss_mib(api.pid)


def login_flood_phase(results: dict[str, Any], made: dict[str, Any], env: dict[str, str], seconds: float) -> None:
    """Intake latency at a modest set rate, quiet and then under a flood of 100 logins at a time
    with random emails from random addresses (issue #12: the flood once held the pool)."""
    port = free_port()
    key = made["bench"]["secret_key"]
    post: dict[str, Any] = {"connections": 4, "method": "POST", "body": True, "rate": 50}
    with serve("services.asgi:app", port, env, "flood") as api:
        url = f"http://127.0.0.1:{port}/v1/intakes"
        wrk(url, seconds=2, auth=key, **post)  # warm-up
        results["login_flood"]["quiet"] = measured(api.pid, url, seconds=seconds, auth=key, **post)
        argv = [sys.executable, "-m", "bench.flood", f"http://127.0.0.1:{port}", str(seconds + 2), "100"]
        with subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.PIPE, text=True) as flooding:
            time.sleep(1)  # the flood under way first
            results["login_flood"]["flooded"] = measured(api.pid, url, seconds=seconds, auth=key, **post)
            out, _ = flooding.communicate(timeout=seconds + 60)
        results["login_flood"]["login_answers"] = json.loads(out)


def queue_phase(results: dict[str, Any], made: dict[str, Any], env: dict[str, str], dsn: str, rows: int) -> None:
    port = free_port()
    with serve("services.asgi:app", port, env, "queue") as api:
        base = f"http://127.0.0.1:{port}"
        for slug, count in (("small", 10_000), ("big", rows)):
            token = login(base, made[slug]["login"])
            cursor = asyncio.run(deep_cursor(dsn, made[slug]["id"], int(count * 0.9)))
            for page, query in (("first_page", ""), ("deep_page", f"?cursor={cursor}")):
                url = f"{base}/v1/referrals{query}"
                wrk(url, connections=1, seconds=1, auth=token)  # warm-up
                runs = [measured(api.pid, url, connections=1, seconds=5, auth=token) for _ in range(QUEUE_RUNS)]
                results["queue"][f"{count}_{page}"] = {"runs": runs, "referrals_in_clinic": count}
        results["memory"]["after queue"] = peak_rss_mib(api.pid)


def dashboard_phase(results: dict[str, Any], made: dict[str, Any], env: dict[str, str], rows: int) -> None:
    """GET /ui/dashboard (every chart: five windows, seven queries) over one connection, for a
    physio of the 10,000 and of the `rows` clinic, after bench/dashboard.py gave them claims and exports."""
    port = free_port()
    with serve("services.asgi:app", port, env, "dashboard") as api:
        base = f"http://127.0.0.1:{port}"
        for slug, count in (("small", 10_000), ("big", rows)):
            cookie = dashboard.session_cookie(base, made[slug]["login"])
            url = f"{base}/ui/dashboard"
            wrk(url, connections=1, seconds=2, cookie=cookie)  # warm-up
            results["dashboard"][f"{count}_dashboard"] = measured(
                api.pid, url, connections=1, seconds=10, cookie=cookie
            ) | {"referrals_in_clinic": count}


def drain(env: dict[str, str], name: str = "") -> subprocess.Popen[bytes]:
    argv = [str(ROOT / ".venv/bin/backstride"), "worker", "--drain"]
    if "dir" in PROFILE and name:  # (its CPU figures then include py-spy's own)
        out = PROFILE["dir"] / f"{name}.txt"
        argv = [str(ROOT / ".venv/bin/py-spy"), "record", "--format", "raw", "-o", str(out), "--", *argv]
    return subprocess.Popen(argv, env={**os.environ, **env}, stdout=subprocess.DEVNULL)


def finish(child: subprocess.Popen[bytes]) -> float:
    """Wait for a drain; its CPU seconds (user and system, from the kernel's account of it)."""
    _, status, usage = os.wait4(child.pid, 0)
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode != 0 and "dir" not in PROFILE:  # (py-spy's own exit status is not the drain's)
        raise RuntimeError("a drain failed")
    return usage.ru_utime + usage.ru_stime


def export_phase(results: dict[str, Any], made: dict[str, Any], env: dict[str, str], dsn: str, seconds: float) -> None:
    receiver_port, port = free_port(), free_port()
    clinic = made["export"]
    with (
        process([sys.executable, "-m", "bench.receiver", str(receiver_port)], env),
        serve("services.asgi:app", port, env, "export") as api,
    ):
        base = f"http://127.0.0.1:{port}"
        headers = {"Authorization": f"Bearer {clinic['secret_key']}"}
        integration = {"base_url": f"http://127.0.0.1:{receiver_port}/fhir", "auth": {"type": "none"}, "enabled": True}
        httpx.put(f"{base}/v1/integrations/fhir", json=integration, headers=headers, timeout=30).raise_for_status()
        idle_cpu = finish(drain(env))  # a drain with nothing to do: start-up and shutdown alone
        for workers in (1, 2):
            # Twice the bundles for two workers: the drain then lasts as long, and the second
            # worker's start-up (a second or so) weighs as little on its rate as the first's.
            wrk(
                f"{base}/v1/intakes",
                connections=16,
                seconds=seconds * workers,
                method="POST",
                auth=clinic["secret_key"],
                body=True,
            )
            pending = asyncio.run(fetch(dsn, "SELECT count(*) FROM export_items WHERE status = 'pending'"))
            started, busy_before = time.monotonic(), machine_busy()
            drains = [drain(env, f"export_{workers}_{i}") for i in range(workers)]
            cpu = sum(finish(d) for d in drains) - workers * idle_cpu
            busy_after = machine_busy()
            wall = time.monotonic() - started
            span = asyncio.run(
                fetch(
                    dsn,
                    "SELECT extract(epoch FROM max(delivered_at) - min(delivered_at)) FROM export_items "
                    "WHERE status = 'delivered' AND delivered_at > now() - make_interval(secs => $1)",
                    wall,
                )
            )
            left = asyncio.run(fetch(dsn, "SELECT count(*) FROM export_items WHERE status <> 'delivered'"))
            results["export"][f"{workers}_worker{'s' if workers > 1 else ''}"] = {
                "bundles": pending,
                "not_delivered": left,
                "wall_seconds_incl_startup": round(wall, 2),
                "delivering_seconds": round(float(span), 2),
                "bundles_per_second": round(pending / float(span), 1),
                # The workers' CPU time, less what starting and stopping one costs (measured alone).
                "worker_cpu_ms_per_bundle": round(1000 * cpu / pending, 2),
                # Every CPU of the machine (workers, PostgreSQL, receiver): how much room was left.
                "machine_busy_pct": round(
                    100 * (busy_after[0] - busy_before[0]) / max(1, busy_after[1] - busy_before[1]), 1
                ),
            }
        results["memory"]["after export"] = peak_rss_mib(api.pid)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="referrals in the big clinic")
    parser.add_argument("--seconds", type=float, default=10, help="length of each intake run")
    parser.add_argument(
        "--admin-dsn", default=os.environ.get("BENCH_ADMIN_DSN", "postgresql://root@127.0.0.1:5432/postgres")
    )
    parser.add_argument("--out", default=str(ROOT / "bench" / "results.json"))
    parser.add_argument(
        "--only", default=",".join(PHASES), help=f"phases to run, comma-separated, of {','.join(PHASES)}"
    )
    parser.add_argument("--profile", metavar="DIR", help="py-spy records the API process of each phase into DIR")
    args = parser.parse_args()
    only = set(args.only.split(","))
    if args.profile:
        PROFILE["dir"] = Path(args.profile)
        PROFILE["dir"].mkdir(parents=True, exist_ok=True)
    if only - set(PHASES):
        parser.error(f"unknown phases: {sorted(only - set(PHASES))}")

    began = time.monotonic()
    name = f"backstride_bench_{uuid.uuid4().hex[:8]}"
    dsn = args.admin_dsn.rsplit("/", 1)[0] + f"/{name}"
    asyncio.run(fetch(args.admin_dsn, f'CREATE DATABASE "{name}"'))
    env = {
        "DATABASE_URL": dsn,
        "SECRET_KEY": secrets.token_hex(32),
        "LOG_LEVEL": "INFO",
        "EXPORT_POLL_SECONDS": "0.2",
    }
    results: dict[str, Any] = {
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
        "concurrency": CONCURRENCY,
        "intake": {},
        "intake_paced": {},
        "queue": {},
        "export": {},
        "memory": {},
        "login_flood": {},
        "dashboard": {},
    }
    try:
        asyncio.run(migrations.upgrade_async(dsn.replace("postgresql://", "postgresql+asyncpg://")))
        made = asyncio.run(setup(dsn.replace("postgresql://", "postgresql+asyncpg://")))
        if "intake" in only:
            intake_phase(results, made, env, dsn, args.seconds)
        if "flood" in only:
            login_flood_phase(results, made, env, args.seconds)
        if only & {"queue", "dashboard"}:
            started = time.monotonic()
            asyncio.run(seed_referrals(dsn, [(made["small"]["id"], 10_000), (made["big"]["id"], args.rows)]))
            results["queue"]["seed_seconds"] = round(time.monotonic() - started, 1)
        if "queue" in only:
            queue_phase(results, made, env, dsn, args.rows)
        if "export" in only:
            export_phase(results, made, env, dsn, args.seconds)
        if "dashboard" in only:
            # After the export phase, which counts every export item in the database as its own.
            asyncio.run(dashboard.seed_activity(dsn, [made["small"]["id"], made["big"]["id"]]))
            dashboard_phase(results, made, env, args.rows)
    finally:
        asyncio.run(fetch(args.admin_dsn, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    results["targets"] = report.targets(results)
    Path(args.out).write_text(json.dumps(results, indent=2) + "\n")
    print(report.table(results))
    missed = [t["target"] for t in results["targets"] if not t["met"]]
    took = time.monotonic() - began
    print(f"\n{len(missed)} of {len(results['targets'])} targets missed; took {took:.0f} s; JSON: {args.out}")
    sys.exit(1 if missed else 0)


if __name__ == "__main__":
    main()
