"""The dashboard's charts as SVG shapes (drawn by dashboard.html), with a sentence summing each up.

Every urgency has its colour and a pattern of its own (solid, stripes, dots, cross-hatch), and
every bar its words or number beside it, so colour is never the only way to tell them apart."""

import math
from dataclasses import dataclass, field

from services.referrals.stats import ClaimTimes, OpenCounts
from services.web.dashboard.service import URGENCIES, Dashboard
from services.web.messages import URGENCY_WORDS

WIDTH = 640
INK, MUTED, GRID = "#1b1f24", "#55606b", "#c9d1d9"
# The UI's urgency colours (ui.css), each at least 4.5:1 on white.
COLOURS = {"emergency": "#a4001d", "urgent": "#8a4b00", "routine": "#0b5cad", "self_care": "#1f6f3d"}
STATUS_STYLE = {"delivered": "self_care", "pending": "urgent", "dead": "emergency"}  # which colour and pattern


@dataclass(frozen=True)
class Shape:
    kind: str  # rect | line | text
    x: float
    y: float
    w: float = 0  # rect: width; line: x2
    h: float = 0  # rect: height; line: y2
    fill: str = "none"
    stroke: str = "none"
    text: str = ""
    anchor: str = "start"
    dashed: bool = False
    bold: bool = False


@dataclass
class Chart:
    key: str
    title: str
    summary: str
    height: int
    shapes: list[Shape] = field(default_factory=list)
    width: int = WIDTH

    def rect(self, x: float, y: float, w: float, h: float, style: str, outline: bool = False) -> None:
        fill = "#fff" if outline else f"url(#pattern-{style})"
        self.shapes.append(Shape("rect", x, y, max(w, 0), h, fill=fill, stroke=COLOURS[style]))

    def line(self, x1: float, y1: float, x2: float, y2: float, colour: str = GRID, dashed: bool = False) -> None:
        self.shapes.append(Shape("line", x1, y1, x2, y2, stroke=colour, dashed=dashed))

    def text(
        self, x: float, y: float, words: str, anchor: str = "start", colour: str = INK, bold: bool = False
    ) -> None:
        self.shapes.append(Shape("text", x, y, text=words, anchor=anchor, fill=colour, bold=bold))


def nice_max(value: int) -> int:
    """An axis maximum: 1, 2, 5 or 10 times a power of ten, at least `value` (and at least 1)."""
    if value <= 1:
        return 1
    power = 10 ** math.floor(math.log10(value))
    return int(next(step * power for step in (1, 2, 5, 10) if step * power >= value))


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "none yet"
    if seconds < 3600:
        return f"{max(1, round(seconds / 60))} min"
    if seconds < 48 * 3600:
        hours = seconds / 3600
        return f"{hours:.1f} h".replace(".0 h", " h") if hours < 10 else f"{round(hours)} h"
    return f"{seconds / 86400:.1f} days".replace(".0 days", " days")


def due_window(times: ClaimTimes) -> str:
    low, high = times.counts.due_min_seconds, times.counts.due_max_seconds
    if high <= 0:
        return "at once"
    if round(low / 3600) == round(high / 3600):
        return f"within {duration(high)}"
    return f"within {duration(low)} to {duration(high)}"


def weekly(board: Dashboard) -> Chart:
    """Stacked bars: referrals received each week, by urgency (most urgent at the bottom)."""
    chart = Chart("weekly", "Intakes per week by urgency", "", 270)
    left, top, bottom = 40, 30, 220
    top_value = nice_max(max((sum(c.values()) for _, c in board.weeks), default=0))
    scale = (bottom - top) / top_value
    for tick in range(0, top_value + 1, max(1, top_value // 4)):
        y = bottom - tick * scale
        chart.line(left, y, WIDTH - 10, y)
        chart.text(left - 6, y + 4, str(tick), "end", MUTED)
    slot = (WIDTH - 10 - left) / len(board.weeks)
    x_positions = [left + n * slot + slot * 0.15 for n in range(len(board.weeks))]
    for x, (monday, counts) in zip(x_positions, board.weeks, strict=True):
        y = float(bottom)
        for urgency in URGENCIES:
            height = counts[urgency] * scale
            if height:
                chart.rect(x, y - height, slot * 0.7, height, urgency)
                y -= height
        chart.text(x + slot * 0.35, y - 5, str(sum(counts.values())), "middle", bold=True)
        chart.text(x + slot * 0.35, bottom + 16, monday.strftime("%-d %b"), "middle", MUTED)
    chart.text(left, bottom + 40, "Week beginning (Monday, UTC)", colour=MUTED)
    busiest = max(board.weeks, key=lambda week: sum(week[1].values()))
    chart.summary = (
        f"{board.received_total} referrals received in the last {len(board.weeks)} weeks; the busiest week, "
        f"beginning {busiest[0].strftime('%-d %b')}, had {sum(busiest[1].values())}."
    )
    return chart


# Time to claim is drawn on a logarithmic axis from 1 minute to 4 weeks: emergencies are claimed
# in minutes, self-care within two weeks, and both must be readable on one axis.
AXIS_TICKS = [(60, "1 min"), (900, "15 min"), (3600, "1 h"), (6 * 3600, "6 h"), (86400, "1 day"), (5 * 86400, "5 days"),
              (28 * 86400, "4 weeks")]  # fmt: skip


def claim_times(board: Dashboard) -> Chart:
    """Per urgency: a bar to the median time to claim, an outlined bar to the 90th percentile,
    and a dashed line at the due time."""
    rows = board.claims
    chart = Chart("claims", "Time from intake to claim, against the due time", "", 70 + 60 * max(1, len(rows)))
    left, right, top = 110, WIDTH - 30, 30
    low, high = math.log(AXIS_TICKS[0][0]), math.log(AXIS_TICKS[-1][0])

    def x_of(seconds: float) -> float:
        clamped = min(max(seconds, AXIS_TICKS[0][0]), AXIS_TICKS[-1][0])
        return left + (right - left) * (math.log(clamped) - low) / (high - low)

    bottom = top + 60 * len(rows)
    for seconds, label in AXIS_TICKS:
        chart.line(x_of(seconds), top - 8, x_of(seconds), bottom)
        chart.text(x_of(seconds), bottom + 16, label, "middle", MUTED)
    for n, times in enumerate(rows):
        y, urgency = top + 60 * n, times.counts.urgency
        chart.text(left - 8, y + 22, URGENCY_WORDS[urgency].capitalize(), "end", bold=True)
        if times.p90_seconds is not None and times.median_seconds is not None:
            chart.rect(left, y + 6, x_of(times.p90_seconds) - left, 24, urgency, outline=True)
            chart.rect(left, y + 6, x_of(times.median_seconds) - left, 24, urgency)
            words = f"median {duration(times.median_seconds)}, 90% within {duration(times.p90_seconds)}"
        else:
            words = "none claimed yet"
        for due in {x_of(times.counts.due_min_seconds), x_of(times.counts.due_max_seconds)}:
            chart.line(due, y + 2, due, y + 34, INK, dashed=True)
        chart.text(left + 4, y + 48, f"{words}; due {due_window(times)}", colour=INK)
    chart.text(left, bottom + 36, "Time to claim (logarithmic). Dashed line: the due time.", colour=MUTED)
    chart.summary = (
        "; ".join(
            f"{URGENCY_WORDS[t.counts.urgency]}: median {duration(t.median_seconds)}, 90th percentile "
            f"{duration(t.p90_seconds)}, due {due_window(t)}, {t.counts.claimed_by_due} of {t.counts.claimed} "
            f"claimed by the due time"
            for t in rows
        )
        or "No referrals received in the last 12 weeks."
    )
    return chart


def _bars(chart: Chart, rows: list[tuple[str, str, int, int]], top_value: int) -> None:
    """Horizontal bars, each under its label: (label, style, filled value, outlined total value) per
    row, the value in words at the bar's end."""
    left, right = 10, WIDTH - 130
    scale = (right - left) / max(1, top_value)
    for n, (label, style, filled, total) in enumerate(rows):
        y = 44 * n
        chart.text(left, y + 14, label, bold=True)
        if total > filled:
            chart.rect(left, y + 20, total * scale, 18, style, outline=True)
        if filled:
            chart.rect(left, y + 20, filled * scale, 18, style)
        chart.text(left + max(total, filled) * scale + 6, y + 34, _value_words(chart.key, filled, total))


def _value_words(key: str, filled: int, total: int) -> str:
    return f"{filled} of {total} overdue" if key == "overdue" else str(filled)


def overdue(board: Dashboard) -> Chart:
    """Per urgency: open referrals (outlined), those past due filled."""
    rows: list[OpenCounts] = board.open
    chart = Chart("overdue", "Overdue now", "", 10 + 44 * max(1, len(rows)))
    _bars(chart, [(URGENCY_WORDS[r.urgency].capitalize(), r.urgency, r.overdue, r.open) for r in rows],
          max((r.open for r in rows), default=0))  # fmt: skip
    chart.summary = (
        "; ".join(f"{URGENCY_WORDS[r.urgency]}: {r.overdue} of {r.open} open referrals overdue" for r in rows)
        or "No open referrals."
    )
    return chart


def focus(board: Dashboard) -> Chart:
    chart = Chart("focus", "Top focus areas, last 90 days", "", 10 + 44 * max(1, len(board.focus)))
    rows = [(label, "routine", n, n) for _, label, n in board.focus]
    _bars(chart, rows, max((n for *_, n in board.focus), default=0))
    chart.summary = (
        f"Of {board.focus_total} referrals in the last 90 days: "
        + "; ".join(f"{label} {n}" for _, label, n in board.focus)
        if board.focus
        else "No focus areas suggested in the last 90 days."
    )
    return chart


def exports(board: Dashboard) -> Chart:
    chart = Chart("exports", "FHIR exports, last 12 weeks", "", 10 + 44 * 3)
    counts = board.exports
    _bars(chart, [(status.capitalize(), STATUS_STYLE[status], n, n) for status, n in counts.items()],
          max(counts.values(), default=0))  # fmt: skip
    chart.summary = ", ".join(f"{n} {status}" for status, n in counts.items()) + " exports made in the last 12 weeks."
    return chart


def charts(board: Dashboard) -> dict[str, Chart]:
    return {c.key: c for c in (weekly(board), claim_times(board), overdue(board), focus(board), exports(board))}
