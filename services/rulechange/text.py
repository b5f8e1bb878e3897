"""The impact report as a table a clinical lead can read."""

from services.rulechange.schemas import Directions, ImpactReport

WORDS = {"emergency": "emergency", "urgent": "urgent", "routine": "routine", "self_care": "self-care"}


def _directions(name: str, d: Directions) -> str:
    return f"  {name:<22}{d.more_urgent:>10}{d.less_urgent:>10}{d.unchanged:>11}"


def impact_table(report: ImpactReport) -> str:
    lines = [
        f"Rules {report.deployed_version} (deployed) -> {report.candidate_version} (candidate)",
        f"{report.intakes} intakes re-triaged (erased ones left out); {report.changed} results would change.",
        "",
        "Direction                   more      less  unchanged",
        _directions("overall (any of three)", report.overall),
        _directions("urgency", report.urgency),
        _directions("pathway", report.pathway),
        _directions("due time", report.due_time),
        "",
        "Urgency now -> with the candidate",
        "  " + f"{'now':<12}" + "".join(f"{WORDS[u]:>11}" for u in report.by_urgency),
    ]
    for now, row in report.by_urgency.items():
        lines.append("  " + f"{WORDS[now]:<12}" + "".join(f"{count:>11}" for count in row.values()))
    lines += ["", "Rules that changed (*) or whose firing changes; results made more / less urgent where they act"]
    if not report.rules:
        lines.append("  none")
    else:
        lines.append(f"  {'rule':<34}{'now':>7}{'then':>7}{'starts':>8}{'stops':>7}{'more':>7}{'less':>7}")
        for r in report.rules:
            name = f"{r.rule}{' *' if r.changed else ''}"
            lines.append(
                f"  {name:<34}{r.fires_now:>7}{r.fires_with_candidate:>7}{r.starts_firing:>8}"
                f"{r.stops_firing:>7}{r.results_more_urgent:>7}{r.results_less_urgent:>7}"
            )
    lines += [f"WARNING: {w}" for w in report.warnings]
    return "\n".join(lines)
