"""Server-side SVG charts for the listening insight pages (and their SVG/PNG downloads).

Small on purpose: time series (lines and areas, spike bands, a dashed compare-period overlay),
vertical bars (grouped or stacked) and one 100 % share bar — with axes, gridlines, a legend and
an accessible ``<title>``/``<desc>``. No JavaScript and no external asset: the same string is
inlined in the page, served as ``.svg`` and converted to PNG by ``png()`` (cairosvg), so what
a marketer downloads is exactly what they saw. Styling uses presentation attributes, not CSS,
because cairosvg and image viewers ignore the page's stylesheet.

Colours are fixed per sentiment and per listening query (by id), so "Blue Harbor" has the same
colour on every page and in every download.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from xml.sax.saxutils import escape, quoteattr

from django.utils.translation import gettext as _

SENTIMENT_COLORS = {"positive": "#2e8b57", "neutral": "#9a9384", "negative": "#c0392b"}
# No red in the palette: red means negative sentiment everywhere.
PALETTE = ("#b7791f", "#2d6cdf", "#8e44ad", "#16a085", "#d35400", "#34495e", "#c2185b", "#6d8a00")
ALL_MENTIONS_COLOR = "#5c4300"
COMPARE_COLOR = "#7f7a6c"
SPIKE_FILL = "#f6d5d1"

FONT = "system-ui, -apple-system, 'Segoe UI', Roboto, 'DejaVu Sans', sans-serif"
WIDTH, HEIGHT = 760, 260
MARGIN_LEFT, MARGIN_RIGHT, MARGIN_TOP, MARGIN_BOTTOM = 58, 14, 34, 42
MAX_X_LABELS = 10
MAX_MARKERS = 400  # hover markers per series; beyond that the path alone (file size)

_ids = itertools.count(1)


def query_color(query_id: int | None) -> str:
    """The colour of a listening query's series, the same on every chart (0/None = all)."""
    if not query_id:
        return ALL_MENTIONS_COLOR
    return PALETTE[(query_id - 1) % len(PALETTE)]


@dataclass(slots=True)
class Series:
    name: str
    values: Sequence[float | None]
    color: str
    style: str = "line"  # line | area | dashed (time charts); bars ignore it
    key: str = ""  # a stable id for tests and for the legend (defaults to the name)


@dataclass(slots=True)
class Band:
    """A highlighted bucket on a time chart (a spike of negative volume)."""

    index: int
    label: str


@dataclass(slots=True)
class _Frame:
    width: int = WIDTH
    height: int = HEIGHT
    left: int = MARGIN_LEFT
    right: int = MARGIN_RIGHT
    top: int = MARGIN_TOP
    bottom: int = MARGIN_BOTTOM
    parts: list[str] = field(default_factory=list)

    @property
    def plot_w(self) -> float:
        return self.width - self.left - self.right

    @property
    def plot_h(self) -> float:
        return self.height - self.top - self.bottom


def fmt_int(v: float) -> str:
    return f"{v:,.0f}"


def fmt_signed(v: float) -> str:
    return f"{v:+.2f}" if v else "0"


def fmt_percent(v: float) -> str:
    return f"{v:.0%}"


def nice_ticks(lo: float, hi: float, count: int = 5) -> list[float]:
    """Round tick values (1, 2, 2.5, 5 × 10ⁿ) covering ``[lo, hi]``."""
    if hi <= lo:
        hi = lo + 1
    raw = (hi - lo) / max(count - 1, 1)
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    first = math.floor(lo / step) * step
    ticks = []
    t = first
    while t < hi + step * 0.999:
        ticks.append(round(t, 10))
        t += step
    return ticks


def _num(v: float) -> str:
    return f"{v:.1f}".rstrip("0").rstrip(".")


def _text(x, y, content, *, size=11, anchor="start", color="#5a5548", weight="normal", extra=""):
    return (
        f'<text x="{_num(x)}" y="{_num(y)}" font-size="{size}" text-anchor="{anchor}" '
        f'fill="{color}" font-weight="{weight}"{extra}>{escape(str(content))}</text>'
    )


def _open(frame: _Frame, title: str, desc: str, kind: str, extra: str = "") -> None:
    uid = next(_ids)
    frame.parts.append(
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{frame.width}" height="{frame.height}" '
        f'viewBox="0 0 {frame.width} {frame.height}" role="img" '
        f'aria-labelledby="chart-{uid}-title chart-{uid}-desc" font-family={quoteattr(FONT)} '
        f'class="chart" data-chart={quoteattr(kind)}{extra}>'
        f'<title id="chart-{uid}-title">{escape(title)}</title>'
        f'<desc id="chart-{uid}-desc">{escape(desc)}</desc>'
        f'<rect width="{frame.width}" height="{frame.height}" fill="#ffffff"/>'
    )


def _close(frame: _Frame) -> str:
    frame.parts.append("</svg>")
    return "".join(frame.parts)


def empty(title: str, desc: str = "", message: str | None = None, *, kind: str = "empty") -> str:
    """A chart-sized notice instead of an empty plot."""
    frame = _Frame(height=120)
    message = message or _("No mentions in this period.")
    _open(frame, title, desc or message, kind, ' data-empty="true"')
    frame.parts.append(
        f'<rect x="1" y="1" width="{frame.width - 2}" height="118" rx="8" fill="#faf8f3" '
        'stroke="#e4dfd2"/>'
    )
    frame.parts.append(
        _text(frame.width / 2, 66, message, size=14, anchor="middle", extra=' class="empty"')
    )
    return _close(frame)


def _legend(frame: _Frame, entries: list[tuple[str, str, str]]) -> None:
    """``(name, colour, style)`` in a row above the plot."""
    x = frame.left
    parts = ['<g class="legend">']
    for name, color, style in entries:
        if style == "dashed":
            parts.append(
                f'<line x1="{_num(x)}" y1="14" x2="{_num(x + 16)}" y2="14" stroke="{color}" '
                'stroke-width="2" stroke-dasharray="4 3"/>'
            )
        else:
            parts.append(
                f'<rect x="{_num(x)}" y="9" width="16" height="10" rx="2" fill="{color}"/>'
            )
        parts.append(_text(x + 21, 18, name, color="#2b2718"))
        x += 21 + 7 * len(name) + 18
    parts.append("</g>")
    frame.parts.append("".join(parts))


def _y_axis(frame: _Frame, ticks: list[float], lo: float, hi: float, fmt) -> Callable:
    def y(v: float) -> float:
        return frame.top + frame.plot_h * (1 - (v - lo) / (hi - lo))

    parts = ['<g class="grid">']
    for t in ticks:
        yy = y(t)
        parts.append(
            f'<line x1="{frame.left}" y1="{_num(yy)}" x2="{frame.width - frame.right}" '
            f'y2="{_num(yy)}" stroke="{"#b9b3a3" if t == 0 else "#ece8dd"}" stroke-width="1"/>'
        )
        parts.append(_text(frame.left - 6, yy + 4, fmt(t), size=10, anchor="end"))
    parts.append("</g>")
    frame.parts.append("".join(parts))
    return y


def _x_labels(frame: _Frame, labels: Sequence[str], centers: list[float]) -> None:
    n = len(labels)
    every = max(1, math.ceil(n / MAX_X_LABELS))
    parts = ['<g class="x-axis">']
    parts.append(
        f'<line x1="{frame.left}" y1="{frame.height - frame.bottom}" '
        f'x2="{frame.width - frame.right}" y2="{frame.height - frame.bottom}" stroke="#b9b3a3"/>'
    )
    for i in range(0, n, every):
        parts.append(
            _text(centers[i], frame.height - frame.bottom + 16, labels[i], size=10, anchor="middle")
        )
    parts.append("</g>")
    frame.parts.append("".join(parts))


def _has_data(series: Sequence[Series]) -> bool:
    return any(v for s in series for v in s.values)


def time_chart(
    *,
    title: str,
    desc: str,
    labels: Sequence[str],
    series: Sequence[Series],
    bands: Sequence[Band] = (),
    y_min: float | None = None,
    y_max: float | None = None,
    y_format: Callable[[float], str] = fmt_int,
    kind: str = "time",
    empty_message: str | None = None,
) -> str:
    """Lines/areas over evenly spaced buckets; ``bands`` shade buckets (spikes)."""
    if not labels or not _has_data(series):
        return empty(title, desc, empty_message, kind=kind)
    frame = _Frame()
    n = len(labels)
    _open(frame, title, desc, kind, f' data-points="{n}"')
    _legend(frame, [(s.name, s.color, s.style) for s in series])
    values = [v for s in series for v in s.values if v is not None]
    lo = min([0.0, *values]) if y_min is None else y_min
    hi = max([1.0, *values]) if y_max is None else y_max
    ticks = nice_ticks(lo, hi)
    lo, hi = min(lo, ticks[0]), max(hi, ticks[-1])
    y = _y_axis(frame, ticks, lo, hi, y_format)
    slot = frame.plot_w / n

    def x(i: int) -> float:
        return frame.left + slot * (i + 0.5)

    if bands:
        parts = ['<g class="spikes">']
        for b in bands:
            if 0 <= b.index < n:
                parts.append(
                    f'<rect class="spike" x="{_num(frame.left + slot * b.index)}" '
                    f'y="{frame.top}" width="{_num(max(slot, 2))}" height="{_num(frame.plot_h)}" '
                    f'fill="{SPIKE_FILL}"><title>{escape(b.label)}</title></rect>'
                )
                parts.append(
                    _text(
                        x(b.index),
                        frame.top + 11,
                        "▲",
                        size=10,
                        anchor="middle",
                        color=SENTIMENT_COLORS["negative"],
                    )
                )
        parts.append("</g>")
        frame.parts.append("".join(parts))

    base_y = y(max(lo, 0.0) if lo <= 0 <= hi else lo)
    for s in series:
        key = s.key or s.name
        points = [(x(i), y(v)) for i, v in enumerate(s.values[:n]) if v is not None]
        parts = [f'<g class="series" data-series={quoteattr(key)} data-count="{len(points)}">']
        if points:
            d = "M" + " L".join(f"{_num(px)},{_num(py)}" for px, py in points)
            if s.style == "area":
                parts.append(
                    f'<path d="{d} L{_num(points[-1][0])},{_num(base_y)} '
                    f'L{_num(points[0][0])},{_num(base_y)} Z" fill="{s.color}" '
                    'fill-opacity="0.18" stroke="none"/>'
                )
            dash = ' stroke-dasharray="5 4"' if s.style == "dashed" else ""
            parts.append(
                f'<path d="{d}" fill="none" stroke="{s.color}" stroke-width="2" '
                f'stroke-linejoin="round"{dash}/>'
            )
            if n <= MAX_MARKERS:
                for i, v in enumerate(s.values[:n]):
                    if v is None:
                        continue
                    parts.append(
                        f'<circle class="point" cx="{_num(x(i))}" cy="{_num(y(v))}" r="2.5" '
                        f'fill="{s.color}"><title>{escape(f"{s.name} · {labels[i]}: ")}'
                        f"{escape(y_format(v))}</title></circle>"
                    )
        parts.append("</g>")
        frame.parts.append("".join(parts))
    _x_labels(frame, labels, [x(i) for i in range(n)])
    return _close(frame)


def bar_chart(
    *,
    title: str,
    desc: str,
    categories: Sequence[str],
    series: Sequence[Series],
    stacked: bool = False,
    y_format: Callable[[float], str] = fmt_int,
    y_max: float | None = None,
    bands: Sequence[Band] = (),
    kind: str = "bars",
    empty_message: str | None = None,
) -> str:
    """Vertical bars per category, one per series side by side, or stacked."""
    if not categories or not _has_data(series):
        return empty(title, desc, empty_message, kind=kind)
    frame = _Frame()
    n = len(categories)
    _open(frame, title, desc, kind, f' data-points="{n}"')
    _legend(frame, [(s.name, s.color, "bar") for s in series])
    if stacked:
        top = max(sum((s.values[i] or 0) for s in series) for i in range(n))
    else:
        top = max((v or 0) for s in series for v in s.values)
    hi = y_max if y_max is not None else max(top, 1)
    ticks = nice_ticks(0, hi)
    hi = max(hi, ticks[-1])
    y = _y_axis(frame, ticks, 0, hi, y_format)
    slot = frame.plot_w / n
    inner = slot * 0.78
    if bands:
        parts = ['<g class="spikes">']
        for b in bands:
            if 0 <= b.index < n:
                parts.append(
                    f'<rect class="spike" x="{_num(frame.left + slot * b.index)}" '
                    f'y="{frame.top}" width="{_num(slot)}" height="{_num(frame.plot_h)}" '
                    f'fill="{SPIKE_FILL}"><title>{escape(b.label)}</title></rect>'
                )
        parts.append("</g>")
        frame.parts.append("".join(parts))
    offsets = [0.0] * n
    k = len(series)
    for si, s in enumerate(series):
        key = s.key or s.name
        parts = [f'<g class="series" data-series={quoteattr(key)} data-count="{n}">']
        for i in range(n):
            v = s.values[i] or 0
            x0 = frame.left + slot * i + (slot - inner) / 2
            if stacked:
                w, bx = inner, x0
                y_top, y_bottom = y(offsets[i] + v), y(offsets[i])
                offsets[i] += v
            else:
                w = inner / k
                bx = x0 + w * si
                y_top, y_bottom = y(v), y(0)
            parts.append(
                f'<rect class="bar" x="{_num(bx)}" y="{_num(y_top)}" width="{_num(max(w - 1, 1))}" '
                f'height="{_num(max(y_bottom - y_top, 0))}" fill="{s.color}">'
                f"<title>{escape(f'{s.name} · {categories[i]}: ')}{escape(y_format(v))}</title>"
                "</rect>"
            )
        parts.append("</g>")
        frame.parts.append("".join(parts))
    _x_labels(frame, categories, [frame.left + slot * (i + 0.5) for i in range(n)])
    return _close(frame)


def share_bar(
    *,
    title: str,
    desc: str,
    parts: Sequence[tuple[str, float, str]],
    value_format: Callable[[float], str] = fmt_int,
    kind: str = "share",
    empty_message: str | None = None,
) -> str:
    """One horizontal bar split by share: ``(name, value, colour)``; labels give the shares."""
    total = sum(v for _n, v, _c in parts)
    if not total:
        return empty(title, desc, empty_message, kind=kind)
    frame = _Frame(height=96, top=30, bottom=18)
    _open(frame, title, desc, kind, f' data-points="{len(parts)}"')
    _legend(frame, [(name, color, "bar") for name, _v, color in parts])
    x = float(frame.left)
    out = ['<g class="series" data-series="share">']
    for name, value, color in parts:
        w = frame.plot_w * value / total
        share = value / total
        out.append(
            f'<rect class="bar" x="{_num(x)}" y="{frame.top}" width="{_num(w)}" height="34" '
            f'fill="{color}"><title>{escape(f"{name}: {value_format(value)} ({share:.1%})")}'
            "</title></rect>"
        )
        if w > 34:
            out.append(
                _text(x + w / 2, frame.top + 22, f"{share:.0%}", anchor="middle", color="#ffffff")
            )
        x += w
    out.append("</g>")
    frame.parts.append("".join(out))
    return _close(frame)


class PngUnavailable(RuntimeError):
    """cairosvg or the system's libcairo is missing."""


def png(svg: str, *, scale: float = 2.0) -> bytes:
    """The SVG rasterised (2× for sharp text). cairosvg needs the system's libcairo2."""
    try:
        import cairosvg
    except (ImportError, OSError) as exc:  # OSError: the Python package without libcairo
        raise PngUnavailable(str(exc)) from exc
    return cairosvg.svg2png(bytestring=svg.encode("utf-8"), scale=scale)
