"""What the mentions map draws: each area's path, fill and tooltip, each cluster's circle, and
the legend — from ``geo.areas`` / ``geo.clusters`` answers and a ``mapshapes`` view. Pure (no
database, no HTTP); ``views_map.py`` renders it with ``listening/_map.svg``, the same drawing for
the page and for the ``.svg`` download."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from django.utils.translation import gettext as _

from . import mapshapes

NO_DATA = "#ebe8df"
# Volume: light to dark amber, on a log scale (one busy country must not wash out the rest).
VOLUME = ("#fbefc9", "#f6d58b", "#efb655", "#dc8b2b", "#ad5d12")
# Net sentiment, negative → positive (red, grey, green); also the clusters' colours.
SENTIMENT = ("#c0392b", "#e8998d", "#d6d2c6", "#8ccf9c", "#2e8b57")
SENTIMENT_BREAKS = (-0.5, -0.15, 0.15, 0.5)
CLUSTER_MIN_R = 3.0
CLUSTER_MAX_R = 18.0
LEGEND_HEIGHT = 42.0  # SVG units below the map for the legend row


@dataclass(slots=True)
class Drawing:
    view: mapshapes.MapView
    viewbox: tuple[float, float, float, float]
    color_by: str
    areas: list[dict] = field(default_factory=list)
    clusters: list[dict] = field(default_factory=list)
    legend: list[dict] = field(default_factory=list)
    legend_title: str = ""
    cluster_legend_x: int = 0
    cluster_fill: str = SENTIMENT[3]

    @property
    def viewbox_attr(self) -> str:
        return " ".join(f"{v:g}" for v in self.viewbox)

    @property
    def total_height(self) -> float:
        """The map and, below it, the legend strip."""
        return self.view.height + LEGEND_HEIGHT

    @property
    def unit(self) -> float:
        """SVG units per screen unit at this zoom (strokes and circles keep their size)."""
        return self.viewbox[2] / self.view.width


def sentiment_color(net: float | None) -> str:
    if net is None:
        return SENTIMENT[2]
    for i, bound in enumerate(SENTIMENT_BREAKS):
        if net < bound:
            return SENTIMENT[i]
    return SENTIMENT[-1]


def volume_breaks(top: int) -> list[int]:
    """Upper bounds of the ``VOLUME`` classes: log-spaced from 1 to ``top``, strictly rising."""
    if top <= 0:
        return []
    bounds: list[int] = []
    for k in range(1, len(VOLUME) + 1):
        b = max(1, round(top ** (k / len(VOLUME))))
        if not bounds or b > bounds[-1]:
            bounds.append(b)
    return bounds


def volume_color(count: int, bounds: list[int]) -> str:
    if not count:
        return NO_DATA
    offset = len(VOLUME) - len(bounds)  # few distinct bounds: use the darker end
    for i, bound in enumerate(bounds):
        if count <= bound:
            return VOLUME[offset + i]
    return VOLUME[-1]


def _net(net: float | None) -> str:
    return "–" if net is None else f"{net:+.2f}"


def _area_title(name: str, a: dict | None) -> str:
    if not a:
        return _("%(name)s: no mentions") % {"name": name}
    return _(
        "%(name)s: %(count)s mentions · net sentiment %(net)s "
        "(%(positive)s positive, %(neutral)s neutral, %(negative)s negative)"
    ) % {
        "name": name,
        "count": f"{a['count']:,}",
        "net": _net(a["net_sentiment"]),
        "positive": f"{a['positive']:,}",
        "neutral": f"{a['neutral']:,}",
        "negative": f"{a['negative']:,}",
    }


def drawing(
    *,
    view: mapshapes.MapView,
    viewbox: tuple[float, float, float, float],
    areas: dict,
    clusters: dict | None,
    color_by: str,
    area_href,
    cluster_href,
) -> Drawing:
    """``area_href(code)`` and ``cluster_href(cluster)`` give each shape's link (or None)."""
    d = Drawing(view=view, viewbox=viewbox, color_by=color_by)
    by_code = {a["code"]: a for a in areas["areas"]}
    top = max((a["count"] for a in areas["areas"] if a["shape"]), default=0)
    bounds = volume_breaks(top)
    paths = view.paths()
    for shape in view.areas:
        a = by_code.get(shape.code)
        if not a or not a["count"]:
            fill = NO_DATA
        elif color_by == "sentiment":
            fill = sentiment_color(a["net_sentiment"])
        else:
            fill = volume_color(a["count"], bounds)
        d.areas.append(
            {
                "code": shape.code,
                "name": shape.name,
                "d": paths[shape.code],
                "fill": fill,
                "count": a["count"] if a else 0,
                "title": _area_title(shape.name, a),
                "href": area_href(shape.code),
            }
        )
    if color_by == "sentiment":
        d.legend_title = _("Net sentiment (positive − negative) / mentions")
        labels = ("≤ −0.5", "−0.5 … −0.15", "−0.15 … +0.15", "+0.15 … +0.5", "≥ +0.5")
        d.legend = [{"fill": c, "label": lab} for c, lab in zip(SENTIMENT, labels, strict=True)]
    else:
        d.legend_title = _("Mentions")
        offset = len(VOLUME) - len(bounds)
        low = 1
        for i, bound in enumerate(bounds):
            label = f"{low:,}" if low == bound else f"{low:,}–{bound:,}"
            d.legend.append({"fill": VOLUME[offset + i], "label": label})
            low = bound + 1
    d.legend.append({"fill": NO_DATA, "label": _("none")})
    x = 0
    for item in d.legend:  # one row: a swatch and its label, about 6 px per character
        item["x"] = x
        x += 20 + 6 * len(item["label"]) + 14
    d.cluster_legend_x = x + 10

    if clusters:
        biggest = max((c["count"] for c in clusters["clusters"]), default=1)
        unit = d.unit
        for c in clusters["clusters"]:
            x, y = view.project(c["lat"], c["lon"])
            r = CLUSTER_MIN_R + (CLUSTER_MAX_R - CLUSTER_MIN_R) * math.sqrt(c["count"] / biggest)
            d.clusters.append(
                {
                    "x": round(x, 2),
                    "y": round(y, 2),
                    "r": round(r * unit, 3),
                    "fill": sentiment_color(c["net_sentiment"]),
                    "count": c["count"],
                    "title": _(
                        "%(count)s mentions within %(radius)s km of %(lat)s, %(lon)s · "
                        "net sentiment %(net)s (%(positive)s positive, %(negative)s negative)"
                    )
                    % {
                        "count": f"{c['count']:,}",
                        "radius": f"{c['radius_km']:g}",
                        "lat": f"{c['lat']:.3f}",
                        "lon": f"{c['lon']:.3f}",
                        "net": _net(c["net_sentiment"]),
                        "positive": f"{c['positive']:,}",
                        "negative": f"{c['negative']:,}",
                    },
                    "href": cluster_href(c),
                }
            )
    return d
