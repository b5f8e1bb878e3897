"""The benchmark's targets (issue #6) and its printed table."""

from typing import Any

INTAKE_RATIO, INTAKE_P99_MS = 0.5, 50.0
QUEUE_P95_MS, QUEUE_GROWTH = 15.0, 1.5
DRAIN_PER_SECOND = 200.0
FLOOD_SLOWDOWN = 2.0  # intake p99 under a login flood, against its quiet value (issue #12)


def targets(results: dict[str, Any]) -> list[dict[str, Any]]:
    """Each target with the measured value and whether it was met."""
    intake, queue, export = results["intake"], results["queue"], results["export"]
    checks = []
    if intake:
      ours, ceiling = intake["backstride"], intake["ceiling_asyncpg"]
      paced = results["intake_paced"]["backstride"]
      ratio = ours["throughput_rps"] / ceiling["throughput_rps"]
      rate = results["paced_rate_rps"]
      checks += [
        ("intake throughput / asyncpg ceiling", f">= {INTAKE_RATIO}", round(ratio, 2), ratio >= INTAKE_RATIO),
        (f"intake p99 (ms) at {rate}/s", f"<= {INTAKE_P99_MS}", paced["p99_ms"], paced["p99_ms"] <= INTAKE_P99_MS),
        ("intake p99 (ms) at saturation", f"<= {INTAKE_P99_MS}", ours["p99_ms"], ours["p99_ms"] <= INTAKE_P99_MS),
        (
            "intake answers that were not 2xx",
            "0",
            ours["not_ok"] + ours["socket_errors"],
            ours["not_ok"] + ours["socket_errors"] == 0,
        ),
    ]
    big = [k for k in queue if k.endswith("_page") and not k.startswith("10000_")]
    for key in big:
        p95 = queue[key]["p95_ms"]
        small = queue["10000_" + key.split("_", 1)[1]]["p95_ms"]
        checks.append((f"queue {key} p95 (ms)", f"<= {QUEUE_P95_MS}", p95, p95 <= QUEUE_P95_MS))
        growth = p95 / small
        checks.append((f"queue {key} p95 / 10k p95", f"<= {QUEUE_GROWTH}", round(growth, 2), growth <= QUEUE_GROWTH))
    flood = results.get("login_flood", {})
    if flood:
        quiet, flooded = flood["quiet"], flood["flooded"]
        slowdown = flooded["p99_ms"] / max(quiet["p99_ms"], 0.001)
        checks.append(
            ("intake p99 under a login flood / quiet", f"<= {FLOOD_SLOWDOWN}", round(slowdown, 2),
             slowdown <= FLOOD_SLOWDOWN and flooded["not_ok"] + flooded["socket_errors"] == 0)
        )  # fmt: skip
    if export:
     one = export["1_worker"]
     checks.append(
        (
            "export drain, 1 worker (/s)",
            f">= {DRAIN_PER_SECOND}",
            one["bundles_per_second"],
            one["bundles_per_second"] >= DRAIN_PER_SECOND,
        )
    )
    return [{"target": name, "goal": goal, "measured": value, "met": met} for name, goal, value, met in checks]


def _row(cells: list[str], widths: list[int]) -> str:
    return "  ".join(cell.ljust(width) for cell, width in zip(cells, widths, strict=True))


def _table(header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    return "\n".join([_row(header, widths), _row(["-" * w for w in widths], widths), *(_row(r, widths) for r in rows)])


def table(results: dict[str, Any]) -> str:
    paced = f"at {results['paced_rate_rps']}/s"
    load = [
        [
            f"{name} ({kind})",
            f"{r['throughput_rps']:.0f}",
            f"{r['p50_ms']:.1f}",
            f"{r['p99_ms']:.1f}",
            f"{r['server_cpu_ms_per_request']:.2f}",
            str(r["not_ok"] + r["socket_errors"]),
        ]
        for kind, runs in (
            ("saturated", results["intake"]),
            (paced, results["intake_paced"]),
            ("at 50/s", {k: v for k, v in results.get("login_flood", {}).items() if k != "login_answers"}),
        )
        for name, r in runs.items()
    ]
    queue = [
        [
            name,
            f"{r['p50_ms']:.2f}",
            f"{r['p95_ms']:.2f}",
            f"{r['throughput_rps']:.0f}",
            f"{r['server_cpu_ms_per_request']:.2f}",
        ]
        for name, r in results["queue"].items()
        if isinstance(r, dict)
    ]
    export = [
        [
            name,
            str(r["bundles"]),
            f"{r['bundles_per_second']:.0f}",
            f"{r['wall_seconds_incl_startup']:.1f}",
            str(r["not_delivered"]),
        ]
        for name, r in results["export"].items()
    ]
    pages = [
        [name, f"{r['p50_ms']:.1f}", f"{r['p95_ms']:.1f}", f"{r['server_cpu_ms_per_request']:.1f}"]
        for name, r in results.get("dashboard", {}).items()
    ]
    goals = [[t["target"], t["goal"], str(t["measured"]), "yes" if t["met"] else "NO"] for t in results["targets"]]
    memory = [[name, f"{value:.0f}"] for name, value in results["memory"].items()]
    return "\n\n".join(
        [
            f"Intake at {results['concurrency']} connections\n"
            + _table(["endpoint", "req/s", "p50 ms", "p99 ms", "server CPU ms/req", "errors"], load),
            "Queue listing (1 connection)\n"
            + _table(["page", "p50 ms", "p95 ms", "req/s", "server CPU ms/req"], queue),
            "Dashboard page (1 connection)\n" + _table(["clinic", "p50 ms", "p95 ms", "server CPU ms/req"], pages),
            "Export drain\n" + _table(["workers", "bundles", "per s", "wall s", "left"], export),
            "Memory\n" + _table(["API process", "MiB"], memory),
            "Targets\n" + _table(["target", "goal", "measured", "met"], goals),
        ]
    )
