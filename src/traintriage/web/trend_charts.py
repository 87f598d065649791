"""Server-rendered SVG charts for the trends and summary pages (no JavaScript, no inline styles).

Colours are CSS classes (s0..s7 as in web/charts.py); every label is escaped, since version
names, teams and titles can come from logs or imported files.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from html import escape

from markupsafe import Markup

SERIES = 8


def _nice(value: float) -> tuple[float, int]:
    """A round top for the axis and how many intervals make round ticks (0, 2, 4, ... 8)."""
    if value <= 0:
        return 1.0, 4
    magnitude = 10 ** math.floor(math.log10(value))
    for step, intervals in ((1, 5), (2, 4), (4, 4), (5, 5), (8, 4), (10, 5)):
        if value <= step * magnitude + 1e-9:
            return float(step * magnitude), intervals
    return float(10 * magnitude), 5


def _fmt(v: float) -> str:
    return f"{v:,.0f}" if v == int(v) else f"{v:g}"


def grouped_bars(
    labels: Sequence[str],
    series: Sequence[tuple[str, Sequence[float | None]]],
    *,
    title: str,
    unit: str = "",
    width: int = 860,
    height: int = 230,
) -> Markup:
    """One group of bars per label (a train), one bar per series; None is a gap."""
    if not labels or not series:
        return Markup('<p class="muted">No data yet.</p>')
    values = [v for _, vs in series for v in vs if v is not None]
    top, ticks = _nice(max(values, default=0.0))
    left, right, upper, lower = 56.0, 10.0, 14.0, 58.0
    w, h = width - left - right, height - upper - lower
    slot = w / len(labels)
    bar = max(1.0, min(26.0, (slot - 6) / len(series)))
    out = [
        f'<svg class="chart trend" viewBox="0 0 {width} {height}" role="img" aria-label="{escape(title)}" '
        'xmlns="http://www.w3.org/2000/svg">',
        f"<title>{escape(title)}</title>",
    ]
    for i in range(5):
        y = upper + h - h * i / 4
        out.append(f'<line class="grid" x1="{left}" x2="{left + w}" y1="{y:.1f}" y2="{y:.1f}"/>')
        out.append(
            f'<text class="axis" x="{left - 6}" y="{y + 4:.1f}" text-anchor="end">{_fmt(top * i / 4)}</text>'
        )
    for j, label in enumerate(labels):
        x0 = left + j * slot + (slot - bar * len(series)) / 2
        for k, (name, vs) in enumerate(series):
            v = vs[j] if j < len(vs) else None
            if v is None:
                continue
            bh = h * max(v, 0) / top
            out.append(
                f'<rect class="bar s{k % SERIES}" x="{x0 + k * bar:.1f}" y="{upper + h - bh:.1f}" '
                f'width="{bar - 1:.1f}" height="{max(bh, 0.5):.1f}"><title>{escape(label)}: {escape(name)} '
                f"{escape(_fmt(v))}{escape(unit)}</title></rect>"
            )
        short = label.split("-")[-1] if "-" in label else label
        out.append(
            f'<text class="axis" x="{left + j * slot + slot / 2:.1f}" y="{upper + h + 14}" text-anchor="middle">'
            f"{escape(short[:14])}</text>"
        )
    for k, (name, _) in enumerate(series):
        lx = left + (k % 4) * 200
        ly = height - 24 + (k // 4) * 14
        out.append(f'<rect class="swatch s{k % SERIES}" x="{lx}" y="{ly - 9}" width="10" height="10"/>')
        out.append(
            f'<text class="legend" x="{lx + 14}" y="{ly}">{escape(name)}{escape(" (" + unit.strip() + ")" if unit else "")}</text>'
        )
    out.append("</svg>")
    return Markup("".join(out))


def stacked_rows(
    rows: Mapping[str, Mapping[str, int]], buckets: Sequence[str], *, title: str, width: int = 860
) -> Markup:
    """One horizontal bar per row (a team), stacked by bucket (an age)."""
    if not rows:
        return Markup('<p class="muted">Nothing open.</p>')
    label_w, row_h = 190.0, 20
    height = row_h * len(rows) + 40
    top = max(sum(c.values()) for c in rows.values()) or 1
    w = width - label_w - 60
    out = [
        f'<svg class="chart stacked" viewBox="0 0 {width} {height}" role="img" aria-label="{escape(title)}" '
        'xmlns="http://www.w3.org/2000/svg">',
        f"<title>{escape(title)}</title>",
    ]
    for i, (name, counts) in enumerate(rows.items()):
        y = 4 + i * row_h
        out.append(
            f'<text class="axis" x="{label_w - 6}" y="{y + 13}" text-anchor="end">{escape(name[:28])}</text>'
        )
        x = label_w
        for k, bucket in enumerate(buckets):
            n = counts.get(bucket, 0)
            if not n:
                continue
            bw = w * n / top
            out.append(
                f'<rect class="bar s{k % SERIES}" x="{x:.1f}" y="{y + 2}" width="{max(bw, 1):.1f}" height="14">'
                f"<title>{escape(name)}: {n} {escape(bucket)}</title></rect>"
            )
            x += bw
        out.append(f'<text class="axis" x="{x + 6:.1f}" y="{y + 13}">{sum(counts.values())}</text>')
    for k, bucket in enumerate(buckets):
        lx = label_w + k * 130
        out.append(f'<rect class="swatch s{k % SERIES}" x="{lx}" y="{height - 19}" width="10" height="10"/>')
        out.append(f'<text class="legend" x="{lx + 14}" y="{height - 10}">{escape(bucket)}</text>')
    out.append("</svg>")
    return Markup("".join(out))


def sparkline(values: Sequence[float | None], *, label: str, width: int = 120, height: int = 28) -> Markup:
    """A small line over the last trains; the last point marked."""
    known = [(i, v) for i, v in enumerate(values) if v is not None]
    if not known:
        return Markup(
            f'<svg class="spark" viewBox="0 0 {width} {height}" role="img" aria-label="{escape(label)}"></svg>'
        )
    top = max(v for _, v in known) or 1.0
    step = (width - 8) / max(len(values) - 1, 1)
    pts = [(4 + i * step, height - 4 - (height - 8) * v / top) for i, v in known]
    line = " ".join(f"{x:.1f},{y:.1f}" for x, y in pts)
    lx, ly = pts[-1]
    return Markup(
        f'<svg class="spark" viewBox="0 0 {width} {height}" role="img" aria-label="{escape(label)}" '
        f'xmlns="http://www.w3.org/2000/svg"><polyline class="line s0" points="{line}"/>'
        f'<circle class="dot-last" cx="{lx:.1f}" cy="{ly:.1f}" r="2.5"/></svg>'
    )
