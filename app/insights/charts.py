"""Chart geometry for server-rendered SVG (templates/insights/_charts.html draws it).

Pure functions from numbers to coordinates: no database, no markup. Every series
has a pattern as well as a colour (hatching, dots, dashes, marker shapes) and its
values are labelled, so the charts read in black and white and on paper; each chart
has a table of the same numbers beside it on the page.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from app.templating import duration

# Severity fills: a colour and a pattern each (ids are made unique per chart).
SEVERITY_STYLES = {1: "sev1", 2: "sev2", 3: "sev3", 4: "sev4"}
DURATION_STEPS = (1, 5, 10, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 14400, 21600, 43200, 86400,
                  172800, 604800)


def short_duration(seconds: float) -> str:
    """An axis label: 45s, 10m, 1h 15m, 2d 6h."""
    seconds = int(round(seconds))
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d {hours}h" if hours else f"{days}d"
    if hours:
        return f"{hours}h {minutes}m" if minutes else f"{hours}h"
    if minutes:
        return f"{minutes}m {secs}s" if secs else f"{minutes}m"
    return f"{secs}s"


def nice_step(top: float, steps=(1, 2, 5, 10, 20, 25, 50, 100, 200, 250, 500, 1000, 2000, 2500, 5000, 10000,
                                 20000, 50000, 100000), most: int = 5) -> float:
    for step in steps:
        if top / step <= most:
            return float(step)
    return float(steps[-1] * (int(top / steps[-1] / most) + 1))


@dataclass
class Segment:
    key: str
    label: str
    x: float
    y: float
    width: float
    height: float
    value: int


@dataclass
class Column:
    label: str
    title: str
    x: float
    width: float
    total: int
    segments: list[Segment]


@dataclass
class Tick:
    position: float
    label: str


@dataclass
class StackedBars:
    width: int
    height: int
    left: int
    top: int
    bottom: float
    columns: list[Column]
    ticks: list[Tick]
    legend: list[tuple[str, str]]
    label_every: int = 1


def stacked_bars(labels: list[str], titles: list[str], series: list[tuple[str, str, list[int]]], *,
                 width: int = 640, height: int = 240) -> StackedBars:
    """Columns of stacked counts, one per bucket; `series` is (key, label, values)."""
    left, top, bottom_space = 44, 16, 40
    plot_h = height - top - bottom_space
    totals = [sum(values[i] for _, _, values in series) for i in range(len(labels))]
    peak = max(totals, default=0) or 1
    step = nice_step(peak)
    scale_top = step * (int(peak / step) + (0 if peak % step == 0 else 1)) or step
    slot = (width - left - 8) / max(len(labels), 1)
    bar = max(min(slot * 0.7, 48), 2)
    columns = []
    for i, label in enumerate(labels):
        x = left + slot * i + (slot - bar) / 2
        y = top + plot_h
        segments = []
        for key, name, values in series:
            h = plot_h * values[i] / scale_top
            y -= h
            segments.append(Segment(key, name, round(x, 1), round(y, 1), round(bar, 1), round(h, 1), values[i]))
        columns.append(Column(label, titles[i], round(x, 1), round(bar, 1), totals[i], segments))
    ticks = []
    value = 0.0
    while value <= scale_top + 1e-9:
        ticks.append(Tick(round(top + plot_h - plot_h * value / scale_top, 1), f"{value:g}"))
        value += step
    every = max(1, -(-len(labels) // 14))
    return StackedBars(width, height, left, top, top + plot_h, columns, ticks,
                       [(key, name) for key, name, _ in series], every)


@dataclass
class Point:
    x: float
    y: float
    value: float
    text: str


@dataclass
class Line:
    key: str
    label: str
    paths: list[str]          # one polyline per unbroken run (a gap where there is no value)
    points: list[Point]


@dataclass
class LineChart:
    width: int
    height: int
    left: int
    top: int
    bottom: float
    right: float
    x_labels: list[tuple[float, str]]
    ticks: list[Tick]
    lines: list[Line] = field(default_factory=list)
    label_every: int = 1


def duration_line_chart(labels: list[str], series: list[tuple[str, str, list[float | None]]], *,
                        width: int = 640, height: int = 220) -> LineChart:
    """Durations (seconds) over buckets; None leaves a gap. Ticks at round durations."""
    left, top, bottom_space, right_pad = 64, 14, 36, 16
    plot_h = height - top - bottom_space
    peak = max((v for _, _, values in series for v in values if v is not None), default=0.0) or 60.0
    step = nice_step(peak, DURATION_STEPS)
    scale_top = step * (int(peak / step) + (0 if peak % step == 0 else 1)) or step
    n = max(len(labels), 1)
    span = width - left - right_pad
    xs = [left + (span * (i + 0.5) / n) for i in range(n)]
    lines = []
    for key, name, values in series:
        points, paths, run = [], [], []
        for i, value in enumerate(values):
            if value is None:
                if run:
                    paths.append(run)
                run = []
                continue
            y = top + plot_h - plot_h * value / scale_top
            point = Point(round(xs[i], 1), round(y, 1), value, duration(value))
            points.append(point)
            run.append(point)
        if run:
            paths.append(run)
        lines.append(Line(key, name, [" ".join(f"{p.x},{p.y}" for p in path) for path in paths], points))
    ticks = []
    value = 0.0
    while value <= scale_top + 1e-9:
        ticks.append(Tick(round(top + plot_h - plot_h * value / scale_top, 1), short_duration(value) if value else "0"))
        value += step
    every = max(1, -(-len(labels) // 14))
    return LineChart(width, height, left, top, top + plot_h, width - right_pad,
                     [(round(x, 1), label) for x, label in zip(xs, labels)], ticks, lines, every)


@dataclass
class HBar:
    label: str
    y: float
    width: float
    value: float
    text: str
    key: str = ""
    href: str | None = None


@dataclass
class HBars:
    width: int
    height: int
    left: int
    bars: list[HBar]
    bar_height: int


def hbars(items: list[tuple[str, float, str]], *, width: int = 640, label_width: int = 190,
          top_value: float | None = None, bar: int = 18, gap: int = 8, keys: list[str] | None = None) -> HBars:
    """Horizontal bars: (label, value, text shown at the bar's end)."""
    peak = top_value or max((v for _, v, _ in items), default=0) or 1
    plot = width - label_width - 130  # room for the value written after the bar
    bars = []
    for i, (label, value, text) in enumerate(items):
        bars.append(HBar(label, 6 + i * (bar + gap), round(plot * (value or 0) / peak, 1), value, text,
                         keys[i] if keys else ""))
    return HBars(width, 12 + len(items) * (bar + gap), label_width, bars, bar)


@dataclass
class Cell:
    x: int
    y: int
    value: int
    shade: int      # 0 (none) … 5 (most)


@dataclass
class Heat:
    width: int
    height: int
    left: int
    top: int
    size: int
    rows: list[tuple[str, int, list[Cell]]]   # (day label, y, cells)
    hours: list[tuple[int, str]]


DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


def heat(cells: list[list[int]], *, size: int = 24) -> Heat:
    """A weekday × hour grid; each cell's shade is its share of the busiest cell, in
    five steps, and its count is written in it."""
    left, top = 40, 20
    peak = max((max(row) for row in cells), default=0)
    rows = []
    for d, row in enumerate(cells):
        y = top + d * size
        found = []
        for h, value in enumerate(row):
            shade = 0 if not value or not peak else min(5, 1 + int(4 * value / peak))
            found.append(Cell(left + h * size, y, value, shade))
        rows.append((DAYS[d], y, found))
    hours = [(left + h * size + size // 2, f"{h:02d}") for h in range(0, 24, 3)]
    return Heat(left + 24 * size + 4, top + 7 * size + 4, left, top, size, rows, hours)


# --- the dashboard's charts ------------------------------------------------------------------

def _pct(value: float | None) -> str:
    return "—" if value is None else f"{round(value * 100)}%"


def for_dashboard(d) -> dict:
    """Every chart of an app.insights.metrics.Dashboard, laid out."""
    labels = [b.label for b in d.buckets]
    titles = [b.title for b in d.buckets]
    severity = stacked_bars(labels, titles, [
        (SEVERITY_STYLES[n], f"SEV-{n}", [counts[n] for counts in d.severity_trend]) for n in (1, 2, 3, 4)])
    lines = {
        # The mean first, so the median (the figure to read) is drawn over it.
        name: duration_line_chart(labels, [("mean", "Mean", [s.mean for s in d.trend[name]]),
                                           ("median", "Median", [s.median for s in d.trend[name]])])
        for name in ("mtta", "mttr")}
    rows, keys = [], []
    for c in d.compliance:
        for kind, rate, met, judged in (
                ("response", c.response_rate, c.response_met, c.response_met + c.response_breached),
                ("resolution", c.resolution_rate, c.resolution_met, c.resolution_met + c.resolution_breached)):
            rows.append((f"SEV-{c.severity} {kind}", (rate or 0) * 100,
                         f"{_pct(rate)} ({met} of {judged})" if judged else "none judged"))
            keys.append(kind)
    compliance = hbars(rows, top_value=100, keys=keys, label_width=150)
    services = hbars([(r.label, r.count, f"{r.count} ({r.severe} SEV-1/2)") for r in d.top_services])
    factors = hbars([(r.label, r.count, str(r.count)) for r in d.top_factors])
    return {"severity": severity, "lines": lines, "compliance": compliance, "heat": heat(d.heat_map.cells),
            "services": services, "factors": factors}
