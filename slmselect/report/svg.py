"""Small inline-SVG charts for the HTML report: intervals, score versus size, before and after.

No plotting library and nothing fetched: each function returns an ``<svg>`` element as text that a
browser draws as it is. Scores are on a 0-1 scale.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

FONT = "font-family='system-ui, sans-serif'"
BLUE, RED, GREEN, GREY, INK = "#2563eb", "#dc2626", "#16a34a", "#9ca3af", "#1f2937"


def _t(x: float, y: float, text: str, size: int = 11, anchor: str = "start", fill: str = INK, extra: str = "") -> str:
    return (f"<text x='{x:.1f}' y='{y:.1f}' font-size='{size}' text-anchor='{anchor}' fill='{fill}' {FONT} {extra}>"
            f"{escape(text)}</text>")


def _line(x1: float, y1: float, x2: float, y2: float, stroke: str = GREY, width: float = 1, extra: str = "") -> str:
    return (f"<line x1='{x1:.1f}' y1='{y1:.1f}' x2='{x2:.1f}' y2='{y2:.1f}' stroke='{stroke}' "
            f"stroke-width='{width}' {extra}/>")


def _svg(width: int, height: int, body: list[str], label: str) -> str:
    return (f"<svg xmlns='http://www.w3.org/2000/svg' width='{width}' height='{height}' viewBox='0 0 {width} {height}' "
            f"role='img' aria-label='{escape(label)}'><title>{escape(label)}</title>{''.join(body)}</svg>")


def _score_axis(x0: float, x1: float, y: float, top: float, body: list[str], lo: float = 0.0, hi: float = 1.0) -> None:
    """Vertical grid lines and labels of a horizontal 0-1 score axis."""
    for i in range(6):
        v = lo + (hi - lo) * i / 5
        x = x0 + (x1 - x0) * i / 5
        body.append(_line(x, top, x, y, "#e5e7eb"))
        body.append(_t(x, y + 14, f"{v:.1f}", 10, "middle", "#6b7280"))


@dataclass
class IntervalRow:
    label: str
    value: float | None
    lower: float
    upper: float
    note: str = ""
    highlight: bool = False


def interval_chart(rows: Sequence[IntervalRow], title: str) -> str:
    """A forest plot: one row per model, the point and its 95% interval on a 0-1 axis."""
    left, right, row_h, top = 260, 640, 26, 34
    height = top + row_h * len(rows) + 34
    body = [_t(10, 18, title, 13, extra="font-weight='600'")]
    x = lambda v: left + (right - left) * min(1.0, max(0.0, v))  # noqa: E731
    _score_axis(left, right, top + row_h * len(rows) + 4, top - 6, body)
    for i, r in enumerate(rows):
        y = top + row_h * i + row_h / 2
        colour = RED if r.highlight else BLUE
        body.append(_t(left - 10, y + 4, r.label, 11, "end"))
        body.append(_line(x(r.lower), y, x(r.upper), y, colour, 3, "stroke-linecap='round' opacity='0.45'"))
        if r.value is None:
            body.append(_t(right + 8, y + 4, "no prediction (low evidence)", 10, fill="#b45309"))
        else:
            body.append(f"<circle cx='{x(r.value):.1f}' cy='{y:.1f}' r='5' fill='{colour}'/>")
            body.append(_t(right + 8, y + 4, f"{r.value:.3f}  [{r.lower:.2f}, {r.upper:.2f}] {r.note}", 10))
    return _svg(860, height, body, title)


@dataclass
class SizePoint:
    label: str
    params_b: float
    score: float
    lower: float | None = None
    upper: float | None = None


def pareto_mask(points: Sequence[SizePoint]) -> list[bool]:
    """True for the points that no other point beats with fewer (or equal) parameters and a higher (or equal) score."""
    from slmselect.report.plots import pareto_frontier

    return [bool(f) for f in pareto_frontier([p.params_b for p in points], [p.score for p in points])]


def size_chart(points: Sequence[SizePoint], title: str, ylabel: str) -> str:
    """Score versus parameters (log axis) with 95% intervals, and the Pareto frontier drawn as a step line."""
    w, h, left, right, top, bottom = 860, 440, 70, 820, 60, 380
    body = [_t(10, 20, title, 13, extra="font-weight='600'")]
    if not points:
        body.append(_t(left, top + 40, "no model with both a size and a score to draw", 12, fill="#6b7280"))
        return _svg(w, 120, body, title)
    lo_p = math.log10(min(p.params_b for p in points))
    hi_p = math.log10(max(p.params_b for p in points))
    if hi_p - lo_p < 0.3:
        lo_p, hi_p = lo_p - 0.3, hi_p + 0.3
    pad = 0.08 * (hi_p - lo_p)
    lo_p, hi_p = lo_p - pad, hi_p + pad
    ys = [v for p in points for v in (p.score, p.lower, p.upper) if v is not None]
    lo_s, hi_s = max(0.0, min(ys) - 0.05), min(1.0, max(ys) + 0.05)
    if hi_s - lo_s < 0.1:
        lo_s, hi_s = max(0.0, lo_s - 0.05), min(1.0, hi_s + 0.05)
    X = lambda b: left + (right - left) * (math.log10(b) - lo_p) / (hi_p - lo_p)  # noqa: E731
    Y = lambda s: bottom - (bottom - top) * (s - lo_s) / ((hi_s - lo_s) or 1)  # noqa: E731
    for i in range(6):
        s = lo_s + (hi_s - lo_s) * i / 5
        body += [_line(left, Y(s), right, Y(s), "#e5e7eb"), _t(left - 6, Y(s) + 4, f"{s:.2f}", 10, "end", "#6b7280")]
    mantissas = (1, 2, 5) if hi_p - lo_p > 1.2 else (1, 1.5, 2, 3, 4, 5, 6, 7, 8, 9)
    for e in range(math.floor(lo_p), math.ceil(hi_p) + 1):
        for m in mantissas:
            b = m * 10.0**e
            if lo_p <= math.log10(b) <= hi_p:
                body += [_line(X(b), top, X(b), bottom, "#f3f4f6" if m != 1 else "#e5e7eb"),
                         _t(X(b), bottom + 14, f"{b:g}", 10, "middle", "#6b7280")]
    body.append(_line(left, bottom, right, bottom, INK))
    body.append(_line(left, top, left, bottom, INK))
    body.append(_t((left + right) / 2, bottom + 32, "parameters (billions, log scale)", 11, "middle"))
    body.append(_t(16, (top + bottom) / 2, ylabel, 11, "middle", extra=f"transform='rotate(-90 16 {(top + bottom) / 2:.0f})'"))
    front = pareto_mask(points)
    fp = sorted((p for p, f in zip(points, front) if f), key=lambda p: p.params_b)
    if fp:
        path = [f"M{X(fp[0].params_b):.1f},{Y(fp[0].score):.1f}"]
        for a, b in zip(fp, fp[1:]):
            path.append(f"H{X(b.params_b):.1f}V{Y(b.score):.1f}")
        body.append(f"<path d='{''.join(path)}' fill='none' stroke='{RED}' stroke-width='2' opacity='0.6'/>")
    for p, f in zip(points, front):
        cx, cy = X(p.params_b), Y(p.score)
        if p.lower is not None and p.upper is not None:
            body.append(_line(cx, Y(p.lower), cx, Y(p.upper), RED if f else GREY, 2, "opacity='0.5'"))
        shape = (f"<rect x='{cx - 5:.1f}' y='{cy - 5:.1f}' width='10' height='10' fill='{RED}' "
                 f"transform='rotate(45 {cx:.1f} {cy:.1f})'/>" if f else f"<circle cx='{cx:.1f}' cy='{cy:.1f}' r='5' fill='{GREY}'/>")
        body.append(shape)
        near_edge = cx > right - 140
        body.append(_t(cx - 8 if near_edge else cx + 8, cy - 6, p.label, 10, "end" if near_edge else "start",
                       fill=RED if f else INK))
    lx, ly = 70, 34
    body.append(f"<rect x='{lx}' y='{ly}' width='9' height='9' fill='{RED}' transform='rotate(45 {lx + 4.5} {ly + 4.5})'/>")
    body.append(_t(lx + 14, ly + 9, "Pareto frontier (no model is smaller and better)", 10))
    body.append(f"<circle cx='{lx + 275}' cy='{ly + 4.5}' r='5' fill='{GREY}'/>")
    body.append(_t(lx + 284, ly + 9, "dominated", 10))
    body.append(_line(lx + 350, ly - 2, lx + 350, ly + 11, GREY, 2))
    body.append(_t(lx + 358, ly + 9, "95% interval", 10))
    return _svg(w, h, body, title)


@dataclass
class BeforeAfter:
    label: str
    base: float | None
    base_ci: tuple[float, float] | None
    tuned: float | None
    tuned_ci: tuple[float, float] | None
    status: str
    predicted: tuple[float, float] | None = None  # the recommendation's 95% interval, when there was one


def before_after_chart(rows: Sequence[BeforeAfter], title: str) -> str:
    """Per candidate: base score (grey) to fine-tuned score (green), each with its interval; failures marked."""
    left, right, row_h, top = 260, 640, 44, 52
    height = top + row_h * len(rows) + 36
    body = [_t(10, 18, title, 13, extra="font-weight='600'")]
    legend = [(GREY, "base"), (GREEN, "fine-tuned")]
    if any(r.predicted is not None for r in rows):
        legend.append(("#fde68a", "predicted 95% interval (recommend)"))
    for i, (c, name) in enumerate(legend):
        body.append(f"<rect x='{10 + i * 130}' y='28' width='12' height='10' fill='{c}'/>")
        body.append(_t(26 + i * 130, 37, name, 10))
    x = lambda v: left + (right - left) * min(1.0, max(0.0, v))  # noqa: E731
    _score_axis(left, right, top + row_h * len(rows) + 4, top - 6, body)
    for i, r in enumerate(rows):
        y = top + row_h * i + row_h / 2
        body.append(_t(left - 10, y + 4, r.label, 11, "end"))
        if r.predicted is not None:
            body.append(f"<rect x='{x(r.predicted[0]):.1f}' y='{y - 14:.1f}' width='{x(r.predicted[1]) - x(r.predicted[0]):.1f}' "
                        f"height='28' fill='#fde68a' opacity='0.6'/>")
        for value, ci, colour, dy in ((r.base, r.base_ci, GREY, -6), (r.tuned, r.tuned_ci, GREEN, 6)):
            if value is None:
                continue
            if ci is not None:
                body.append(_line(x(ci[0]), y + dy, x(ci[1]), y + dy, colour, 3, "stroke-linecap='round' opacity='0.5'"))
            body.append(f"<circle cx='{x(value):.1f}' cy='{y + dy:.1f}' r='5' fill='{colour}'/>")
        if r.base is not None and r.tuned is not None:
            body.append(_line(x(r.base), y - 6, x(r.tuned), y + 6, INK, 1, "stroke-dasharray='3 2'"))
            body.append(_t(right + 8, y + 4, f"{r.base:.3f} → {r.tuned:.3f} ({r.tuned - r.base:+.3f})", 10))
        else:
            body.append(_t(right + 8, y + 4, r.status, 11, fill=RED, extra="font-weight='600'"))
    return _svg(860, height, body, title)
