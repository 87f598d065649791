"""Server-rendered SVG charts (no JavaScript, no inline styles: colours are CSS classes).

Every label that can come from logs (versions, wikis, groups) is escaped here, because the
SVG is inserted into the page as markup.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime
from html import escape
from typing import Any

from markupsafe import Markup

from traintriage.core.timeparse import parse_timestamp
from traintriage.core.vocabulary import STAGES

SERIES = 8  # CSS classes s0..s7


def _x(t: float, t0: float, t1: float, left: float, width: float) -> float:
    return left + (t - t0) / max(t1 - t0, 1.0) * width


def _fmt_time(t: float, span: float) -> str:
    d = datetime.fromtimestamp(t, UTC)
    return d.strftime("%m-%d %H:%M") if span < 3 * 86400 else d.strftime("%m-%d")


def _nice_max(value: float) -> float:
    if value <= 0:
        return 1.0
    magnitude = 10 ** (len(str(int(value))) - 1)
    for step in (1, 2, 2.5, 5, 10):
        if value <= step * magnitude:
            return step * magnitude
    return 10 * magnitude


def counts_chart(hours: list[dict[str, Any]], *, width: int = 860, height: int = 220) -> Markup:
    """Events per hour, one line per version."""
    if not hours:
        return Markup('<p class="muted">No counts yet.</p>')
    series: dict[str, dict[int, int]] = defaultdict(dict)
    for row in hours:
        series[str(row["version"])][int(row["hour"])] = int(row["events"])
    t0 = min(int(r["hour"]) for r in hours)
    t1 = max(int(r["hour"]) for r in hours) + 3600
    top = _nice_max(max(int(r["events"]) for r in hours))
    left, right, upper, lower = 52.0, 12.0, 12.0, 44.0
    w, h = width - left - right, height - upper - lower
    out = [
        f'<svg class="chart" viewBox="0 0 {width} {height}" role="img" aria-label="events per hour per version" '
        'xmlns="http://www.w3.org/2000/svg">'
    ]
    for i in range(5):
        y = upper + h - h * i / 4
        out.append(f'<line class="grid" x1="{left}" x2="{left + w}" y1="{y:.1f}" y2="{y:.1f}"/>')
        out.append(
            f'<text class="axis" x="{left - 6}" y="{y + 4:.1f}" text-anchor="end">{top * i / 4:g}</text>'
        )
    span = t1 - t0
    for i in range(6):
        t = t0 + span * i / 5
        x = _x(t, t0, t1, left, w)
        out.append(
            f'<text class="axis" x="{x:.1f}" y="{upper + h + 16}" text-anchor="middle">{escape(_fmt_time(t, span))}</text>'
        )
    for n, (version, points) in enumerate(sorted(series.items())):
        cls = f"s{n % SERIES}"
        coords = []
        for hour in sorted(points):
            x0 = _x(hour, t0, t1, left, w)
            x1 = _x(hour + 3600, t0, t1, left, w)
            y = upper + h - h * points[hour] / top
            coords.append(f"{x0:.1f},{y:.1f} {x1:.1f},{y:.1f}")
            if hour + 3600 not in points:
                coords.append(f"{x1:.1f},{upper + h:.1f}")
                out.append(f'<polyline class="line {cls}" points="{" ".join(coords)}"/>')
                coords = []
        if coords:
            out.append(f'<polyline class="line {cls}" points="{" ".join(coords)}"/>')
        lx = left + 8 + (n % 4) * 200
        ly = height - 8 - 0 * (n // 4)
        out.append(f'<rect class="swatch {cls}" x="{lx}" y="{ly - 9}" width="10" height="10"/>')
        total = sum(points.values())
        out.append(
            f'<text class="legend" x="{lx + 14}" y="{ly}">{escape(version or "(none)")} · {total:,}</text>'
        )
    out.append("</svg>")
    return Markup("".join(out))


def _intervals(steps: list[dict[str, Any]], version: str, end: float) -> dict[str, list[tuple[float, float]]]:
    """Per group: [start, stop) periods in which it ran `version`, from the train's steps."""
    running: dict[str, float] = {}
    spans: dict[str, list[tuple[float, float]]] = defaultdict(list)
    for step in steps:
        t = parse_timestamp(step["at"])
        if t > end:
            break
        for change in step["changes"]:
            g = change["group"]
            if change["to"] == version and g not in running:
                running[g] = t
            elif change["from"] == version and change["to"] != version and g in running:
                spans[g].append((running.pop(g), t))
    for g, start in running.items():
        spans[g].append((start, end))
    return spans


def timeline_chart(history: dict[str, Any], version: str, at: float, *, width: int = 860) -> Markup:
    """Stage timeline: a bar per group while it ran the version, rollbacks marked in red."""
    steps = history.get("steps") or []
    if not steps:
        return Markup('<p class="muted">No deployment steps recorded for this version.</p>')
    spans = _intervals(steps, version, at)
    times = [parse_timestamp(s["at"]) for s in steps if parse_timestamp(s["at"]) <= at]
    if not times:
        return Markup('<p class="muted">Not deployed yet at this time.</p>')
    t0, t1 = min(times) - 1800, max(max(times), at) + 1800
    left, right, row = 90.0, 16.0, 26
    height = row * len(STAGES) + 40
    w = width - left - right
    out = [
        f'<svg class="chart timeline" viewBox="0 0 {width} {height}" role="img" '
        'aria-label="stage timeline" xmlns="http://www.w3.org/2000/svg">'
    ]
    for i, group in enumerate(STAGES):
        y = 8 + i * row
        out.append(f'<text class="axis" x="{left - 8}" y="{y + 14}" text-anchor="end">{escape(group)}</text>')
        out.append(f'<line class="grid" x1="{left}" x2="{left + w}" y1="{y + 20}" y2="{y + 20}"/>')
        for start, stop in spans.get(group, []):
            x0, x1 = _x(start, t0, t1, left, w), _x(stop, t0, t1, left, w)
            out.append(
                f'<rect class="run" x="{x0:.1f}" y="{y + 4}" width="{max(x1 - x0, 2):.1f}" height="14" rx="3">'
                f"<title>{escape(group)} ran {escape(version)}</title></rect>"
            )
    for rb in history.get("rollback_events") or []:
        t = parse_timestamp(rb["at"])
        if t > at:
            continue
        x = _x(t, t0, t1, left, w)
        label = f"rollback {rb['at']} from {', '.join(rb['from_groups'])}"
        out.append(
            f'<line class="rollback" x1="{x:.1f}" x2="{x:.1f}" y1="4" y2="{height - 32}">'
            f"<title>{escape(label)}</title></line>"
        )
    now_x = _x(at, t0, t1, left, w)
    out.append(f'<line class="now" x1="{now_x:.1f}" x2="{now_x:.1f}" y1="4" y2="{height - 32}"/>')
    span = t1 - t0
    for i in range(6):
        t = t0 + span * i / 5
        out.append(
            f'<text class="axis" x="{_x(t, t0, t1, left, w):.1f}" y="{height - 14}" text-anchor="middle">'
            f"{escape(_fmt_time(t, span))}</text>"
        )
    out.append("</svg>")
    return Markup("".join(out))


def bars(rows: list[tuple[str, int]], *, width: int = 420) -> Markup:
    """Horizontal bars (e.g. events per wiki); labels escaped."""
    if not rows:
        return Markup('<p class="muted">None.</p>')
    top = max(n for _, n in rows) or 1
    row, label_w = 20, 150.0
    height = row * len(rows) + 4
    out = [f'<svg class="chart bars" viewBox="0 0 {width} {height}" xmlns="http://www.w3.org/2000/svg">']
    for i, (label, n) in enumerate(rows):
        y = 2 + i * row
        bw = (width - label_w - 70) * n / top
        out.append(
            f'<text class="axis" x="{label_w - 6}" y="{y + 13}" text-anchor="end">{escape(label[:24])}</text>'
        )
        out.append(
            f'<rect class="bar" x="{label_w}" y="{y + 3}" width="{max(bw, 1):.1f}" height="13" rx="2"/>'
        )
        out.append(f'<text class="axis" x="{label_w + bw + 6:.1f}" y="{y + 13}">{n:,}</text>')
    out.append("</svg>")
    return Markup("".join(out))
