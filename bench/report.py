"""The benchmark's targets (issue #15) and its one-screen summary."""

from typing import Any

INTAKE_RATIO = 0.6  # intake throughput against the same-schema asyncpg ceiling
INTAKE_CPU_MS = 2.0  # API CPU per intake
PACED_SHARE, INTAKE_P99_MS = 0.5, 50.0  # p99 at a constant rate of half the ceiling's throughput
QUEUE_P95_MS, QUEUE_GROWTH, QUEUE_RUNS = 15.0, 1.5, 3
DRAIN_PER_SECOND, TWO_WORKERS = 500.0, 1.7
RSS_MIB = 150.0
FLOOD_SLOWDOWN = 2.0  # intake p99 under a login flood, against its quiet value (issue #12)


def targets(results: dict[str, Any]) -> list[dict[str, Any]]:
    """Each target of the phases that ran, with the measured value and whether it was met."""
    checks: list[tuple[str, str, Any, bool]] = []
    intake, queue, export = results["intake"], results["queue"], results["export"]
    if intake:
        ours, ceiling = intake["backstride"], intake["ceiling_asyncpg"]
        paced = results["intake_paced"]["backstride"]
        ratio = ours["throughput_rps"] / ceiling["throughput_rps"]
        cpu, rate = ours["server_cpu_ms_per_request"], results["paced_rate_rps"]
        errors = ours["not_ok"] + ours["socket_errors"] + paced["not_ok"] + paced["socket_errors"]
        checks += [
            ("intake throughput / asyncpg ceiling", f">= {INTAKE_RATIO}", round(ratio, 2), ratio >= INTAKE_RATIO),
            ("intake API CPU ms per intake", f"<= {INTAKE_CPU_MS}", cpu, cpu <= INTAKE_CPU_MS),
            (f"intake p99 ms, open loop at {rate}/s", f"<= {INTAKE_P99_MS}", paced["p99_ms"],
             paced["p99_ms"] <= INTAKE_P99_MS),
            ("intake answers that were not 2xx", "0", errors, errors == 0),
        ]  # fmt: skip
    for page in ("first_page", "deep_page"):
        big = [k for k in queue if k.endswith(page) and not k.startswith("10000_")]
        for key in big:
            runs = [r["p95_ms"] for r in queue[key]["runs"]]
            small = max(r["p95_ms"] for r in queue["10000_" + page]["runs"])
            met = sum(p95 <= QUEUE_P95_MS for p95 in runs)
            checks.append((f"queue {key} p95 ms, runs within", f"{QUEUE_RUNS} of {QUEUE_RUNS} <= {QUEUE_P95_MS}",
                           f"{met} ({', '.join(f'{r:.1f}' for r in runs)})", met == QUEUE_RUNS))  # fmt: skip
            growth = max(runs) / small
            checks.append((f"queue {key} worst p95 / 10k worst", f"<= {QUEUE_GROWTH}", round(growth, 2),
                           growth <= QUEUE_GROWTH))  # fmt: skip
    if export:
        one, two = export["1_worker"]["bundles_per_second"], export["2_workers"]["bundles_per_second"]
        left = sum(e["not_delivered"] for e in export.values())
        checks += [
            ("export, 1 worker (bundles/s)", f">= {DRAIN_PER_SECOND}", one, one >= DRAIN_PER_SECOND),
            ("export, 2 workers / 1", f">= {TWO_WORKERS}", round(two / one, 2), two / one >= TWO_WORKERS),
            ("export bundles not delivered", "0", left, left == 0),
        ]
    if results["memory"]:
        peak = max(results["memory"].values())
        checks.append(("API peak RSS MiB (any phase)", f"<= {RSS_MIB}", peak, peak <= RSS_MIB))
    flood = results.get("login_flood", {})
    if flood:
        quiet, flooded = flood["quiet"], flood["flooded"]
        slowdown = flooded["p99_ms"] / max(quiet["p99_ms"], 0.001)
        checks.append(
            ("intake p99 under a login flood / quiet", f"<= {FLOOD_SLOWDOWN}", round(slowdown, 2),
             slowdown <= FLOOD_SLOWDOWN and flooded["not_ok"] + flooded["socket_errors"] == 0)
        )  # fmt: skip
    return [{"target": name, "goal": goal, "measured": value, "met": met} for name, goal, value, met in checks]


def _row(cells: list[str], widths: list[int]) -> str:
    return "  ".join(cell.ljust(width) for cell, width in zip(cells, widths, strict=True))


def _table(header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    return "\n".join([_row(header, widths), _row(["-" * w for w in widths], widths), *(_row(r, widths) for r in rows)])


def table(results: dict[str, Any]) -> str:
    """The one-screen summary: what was measured, then each target met or not."""
    sections = []
    if results["intake"]:
        load = [
            [f"{name} ({kind})", f"{r['throughput_rps']:.0f}", f"{r['p50_ms']:.1f}", f"{r['p99_ms']:.1f}",
             f"{r['server_cpu_ms_per_request']:.2f}", str(r["not_ok"] + r["socket_errors"])]
            for kind, runs in (
                ("32 conn.", results["intake"]),
                (f"open loop {results['paced_rate_rps']}/s", results["intake_paced"]),
                ("4 conn. 50/s", {k: v for k, v in results.get("login_flood", {}).items() if k != "login_answers"}),
            )
            for name, r in runs.items()
        ]  # fmt: skip
        sections.append("Intake\n" + _table(["endpoint", "req/s", "p50 ms", "p99 ms", "CPU ms/req", "errors"], load))
    queue = [
        [name, " ".join(f"{r['p95_ms']:.1f}" for r in q["runs"]), f"{q['runs'][-1]['p50_ms']:.2f}",
         f"{q['runs'][-1]['server_cpu_ms_per_request']:.2f}"]
        for name, q in results["queue"].items() if isinstance(q, dict)
    ]  # fmt: skip
    if queue:
        sections.append(
            "Queue listing, 1 connection\n" + _table(["page", "p95 ms per run", "p50 ms", "CPU ms/req"], queue)
        )
    export = [
        [name, str(r["bundles"]), f"{r['bundles_per_second']:.0f}", f"{r['worker_cpu_ms_per_bundle']:.2f}",
         f"{r['machine_busy_pct']:.0f}", str(r["not_delivered"])]
        for name, r in results["export"].items()
    ]  # fmt: skip
    if export:
        header = ["workers", "bundles", "per s", "worker CPU ms/bundle", "machine busy %", "left"]
        sections.append("Export to an instant receiver\n" + _table(header, export))
    pages = [
        [name, f"{r['p50_ms']:.1f}", f"{r['p95_ms']:.1f}", f"{r['server_cpu_ms_per_request']:.1f}"]
        for name, r in results.get("dashboard", {}).items()
    ]
    if pages:
        sections.append("Dashboard page, 1 connection\n" + _table(["clinic", "p50 ms", "p95 ms", "CPU ms/req"], pages))
    if results["memory"]:
        sections.append("API peak RSS MiB: " + ", ".join(f"{k} {v:.0f}" for k, v in results["memory"].items()))
    goals = [[t["target"], t["goal"], str(t["measured"]), "yes" if t["met"] else "NO"] for t in results["targets"]]
    sections.append("Targets\n" + _table(["target", "goal", "measured", "met"], goals))
    return "\n\n".join(sections)
