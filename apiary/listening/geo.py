"""The mentions map's numbers, computed in the database: area aggregates and point clusters.

Read from daily rollups written in the store transaction, so a map costs the same with 10 or
10 million mentions:

* **Countries**: ``GROUP BY country`` over the daily ``MentionRollupDay`` (insight's table; it
  has language and platform too, so every filter is served there).
* **Regions** of one country: ``GROUP BY region`` over ``MentionRegionDay`` (day × query ×
  country × region × sentiment), through its ``(query_id, day)`` index.
* **Clusters**: grid cells. ``MentionCellDay`` holds cells of zoom ``GEO_CELL_ZOOM`` (45° / 2⁹,
  about 9.8 km) with counts and coordinate sums; a coarser zoom's cell is ``cell_lat // k``,
  ``cell_lon // k`` with ``k = 2**(GEO_CELL_ZOOM - zoom)``, grouped in SQL, and its position is
  ``SUM(lat_sum) / SUM(count)``. The cell size follows ``zoom`` (``cell_for_zoom``), and a box
  holding more than ``MAX_CELLS`` cells at that zoom is refused. At zoom ≤ ``GEO_COARSE_ZOOM``
  the cells wholly inside the box come from ``MentionCoarseCellDay`` (the same cells regrouped
  at 2.8125°) and only the box's edge strips from the fine table (``_cells_from_rollups``).

**The window is whole UTC days** (``map_window``): ``since`` is floored and ``until`` ceiled to
midnight UTC, and every answer gives the effective ``start``/``end``. The day tables then answer
a window exactly; there is no hourly geo table, and computing partial edge days from the mention
table would read up to two days of mentions per request (hundreds of thousands of rows at 10M
mentions a month) — the cost the rollups exist to avoid. The map's form only has dates anyway.

**Fallback to the mention table** (``basis: "mentions"``), where the rollups lack a dimension:
``language`` or ``platform`` filters on regions and clusters, a ``kind`` with several queries
(a mention matching two of them is one mention; the per-query rollups would count it twice),
and clusters finer than the stored cells (``zoom > GEO_CELL_ZOOM``: the box is then small —
``MAX_CELLS`` of them —, so the ``(lat, lon)`` index bounds it). Those reads are narrowed by
``(country, created_at)``, ``created_at``, ``(query, created_at)`` or ``(lat, lon)`` indexes
but grow with the mentions in the window.

Filters are the search page's names: ``since``/``until``, ``query_id`` or ``kind``,
``sentiment``, ``language``, ``platform`` (each may repeat: values of one filter are OR-ed), and
``country`` for clusters. Bad input raises :class:`apiary.core.errors.ApiError` with a 422 and a
message naming the parameter.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from django.db.models import Avg, Count, F, Q, Sum
from django.db.models.functions import Floor
from django.db.models.lookups import GreaterThanOrEqual, LessThanOrEqual
from django.utils.translation import gettext as _

from apiary.core.errors import ApiError

from . import insight, mapshapes
from .models import (
    GEO_CELL_ZOOM,
    GEO_COARSE_SHIFT,
    GEO_COARSE_ZOOM,
    ListeningQuery,
    Mention,
    MentionCellDay,
    MentionCoarseCellDay,
    MentionMatch,
    MentionRegionDay,
    MentionRollupDay,
    QueryKind,
    geo_cell,
)
from .raw import PLATFORMS

MIN_ZOOM = 0
MAX_ZOOM = 14
MAX_CELLS = 20_000  # grid cells a box may cover at its zoom (about 150 × 130)
CELL_AT_ZOOM_0 = 45.0  # degrees; each zoom step halves it (zoom 14: 0.0027°, about 300 m)
SENTIMENTS = insight.SENTIMENTS
KINDS = tuple(k.value for k in QueryKind)
EARTH_KM = 6371.0088
DAY = timedelta(days=1)


def cell_for_zoom(zoom: int) -> float:
    return CELL_AT_ZOOM_0 / 2**zoom


def zoom_for_span(lon_span: float, cells: int = 48) -> int:
    """The zoom whose cells split ``lon_span`` degrees into about ``cells`` columns."""
    if lon_span <= 0:
        return MAX_ZOOM
    zoom = math.ceil(math.log2(CELL_AT_ZOOM_0 * cells / lon_span))
    return max(MIN_ZOOM, min(MAX_ZOOM, zoom))


# --- Filters -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class MapFilters:
    query_id: int | None = None
    kind: str | None = None
    sentiment: tuple[str, ...] = ()
    language: tuple[str, ...] = ()
    platform: tuple[str, ...] = ()
    query_ids: tuple[int, ...] | None = field(default=None, compare=False)  # resolved

    def out(self) -> dict:
        return {
            "query_id": self.query_id,
            "kind": self.kind,
            "sentiment": list(self.sentiment),
            "language": list(self.language),
            "platform": list(self.platform),
        }

    def as_params(self) -> list[tuple[str, str]]:
        """The same filters as GET parameters (for links to the search page and the API)."""
        out: list[tuple[str, str]] = []
        if self.query_id:
            out.append(("query_id", str(self.query_id)))
        if self.kind:
            out.append(("kind", self.kind))
        for name in ("sentiment", "language", "platform"):
            out += [(name, v) for v in getattr(self, name)]
        return out


def _many(name: str, values, allowed) -> tuple[str, ...]:
    values = tuple(v for v in (values or ()) if v != "")
    for value in values:
        if value not in allowed:
            raise ApiError(
                422,
                f"invalid_{name}",
                _("Unknown %(name)s %(value)r; use one of: %(names)s.")
                % {"name": name, "value": value[:40], "names": ", ".join(sorted(allowed))},
            )
    return tuple(dict.fromkeys(values))


def map_filters(
    *,
    query_id: int | None = None,
    kind: str | None = None,
    sentiment=(),
    language=(),
    platform=(),
) -> MapFilters:
    if query_id is not None and kind:
        raise ApiError(422, "invalid_filter", _("Give query_id or kind, not both."))
    ids = None
    if query_id:
        ids = (insight.query_get(query_id).pk,)
    elif kind:
        if kind not in KINDS:
            raise ApiError(
                422,
                "invalid_kind",
                _("kind must be one of: %(names)s.") % {"names": ", ".join(KINDS)},
            )
        ids = tuple(
            ListeningQuery.objects.filter(kind=kind).order_by("pk").values_list("pk", flat=True)
        )
    return MapFilters(
        query_id=query_id or None,
        kind=kind or None,
        sentiment=_many("sentiment", sentiment, SENTIMENTS),
        language=_many("language", language, insight.LANGUAGES),
        platform=_many("platform", platform, PLATFORMS),
        query_ids=ids,
    )


def map_window(since: datetime | None, until: datetime | None) -> insight.Window:
    """Checked like the insight charts (default: the last 30 days), then widened to whole UTC
    days — the map's rollups are daily (see the module docstring)."""
    win = insight.window(since, until, names=("since", "until"))
    start = win.start.replace(hour=0)
    end = win.end.replace(hour=0)
    return insight.Window(start, end if end == win.end else end + DAY)


def parse_date(name: str, value: str | None, *, end: bool = False) -> datetime | None:
    """A form/query value: ``YYYY-MM-DD`` (``until`` then includes that day) or ISO 8601."""
    if value is None or not value.strip():
        return None
    value = value.strip()
    try:
        if len(value) == 10:
            day = datetime.strptime(value, "%Y-%m-%d").replace(tzinfo=UTC)
            return day + timedelta(days=1) if end else day
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ApiError(
            422,
            "invalid_date",
            _("%(name)s must be a date (YYYY-MM-DD) or an ISO 8601 time.") % {"name": name},
        ) from None


def country_code(value: str | None, *, name: str = "country") -> str | None:
    if value is None or not value.strip():
        return None
    code = value.strip().upper()
    if len(code) != 2 or not code.isascii() or not code.isalpha():
        raise ApiError(
            422,
            "invalid_country",
            _("%(name)s must be a two-letter ISO 3166 code such as ES or RU.") % {"name": name},
        )
    return code


def parse_bbox(value: str) -> mapshapes.GeoBox:
    """``south,west,north,east`` in degrees (the search page's order); west > east crosses the
    antimeridian."""
    try:
        s, w, n, e = (float(p) for p in value.split(","))
    except ValueError:
        s = w = n = e = math.nan
    if not all(math.isfinite(x) for x in (s, w, n, e)):
        raise ApiError(
            422,
            "invalid_bbox",
            _('bbox must be "south,west,north,east" in degrees, e.g. 36.0,-9.5,43.8,3.3.'),
        )
    if not (-90 <= s <= 90 and -90 <= n <= 90):
        raise ApiError(422, "invalid_bbox", _("bbox latitudes must be between -90 and 90."))
    if not (-180 <= w <= 180 and -180 <= e <= 180):
        raise ApiError(422, "invalid_bbox", _("bbox longitudes must be between -180 and 180."))
    if s >= n:
        raise ApiError(422, "invalid_bbox", _("bbox's south edge must be south of its north edge."))
    if w == e:
        raise ApiError(422, "invalid_bbox", _("bbox's west and east edges are the same."))
    return mapshapes.GeoBox(s, w, n, e if e > w else e + 360.0)


# --- Querysets -----------------------------------------------------------------------------


def _mentions(win: insight.Window, f: MapFilters):
    qs = Mention.objects.filter(created_at__gte=win.start, created_at__lt=win.end)
    if f.query_ids is not None:
        # Through the (query, created_at) index; a mention matching two queries counts once.
        qs = qs.filter(
            pk__in=MentionMatch.objects.filter(
                query_id__in=f.query_ids, created_at__gte=win.start, created_at__lt=win.end
            ).values("mention_id")
        )
    if f.sentiment:
        qs = qs.filter(sentiment__in=f.sentiment)
    if f.language:
        qs = qs.filter(language__in=f.language)
    if f.platform:
        qs = qs.filter(platform__in=f.platform)
    return qs.order_by()


def _several(f: MapFilters) -> bool:
    """A ``kind`` with several queries: per-query rollups would count a mention matching two of
    them twice, so those answers come from the mention table (which counts it once)."""
    return f.query_ids is not None and len(f.query_ids) > 1


def _day_rows(model, win: insight.Window, f: MapFilters, **extra):
    """Rows of a daily rollup table in the window for the filters it carries; served by its
    ``(query_id, day)`` index (query 0 = "all mentions", else the one matched query)."""
    qs = model.objects.filter(day__gte=win.start, day__lt=win.end, **extra)
    qs = qs.filter(query_id=0) if f.query_ids is None else qs.filter(query_id__in=f.query_ids)
    if f.sentiment:
        qs = qs.filter(sentiment__in=f.sentiment)
    return qs.order_by()


def _mix_out(row: dict) -> dict:
    count = int(row.get("n") or 0)
    pos, neu, neg = (int(row.get(s) or 0) for s in SENTIMENTS)
    return {
        "count": count,
        "positive": pos,
        "neutral": neu,
        "negative": neg,
        "net_sentiment": round((pos - neg) / count, 4) if count else None,
    }


# --- Areas ---------------------------------------------------------------------------------


def areas(*, level: str, win: insight.Window, f: MapFilters, country: str | None = None) -> dict:
    """Per country (``level="country"``; optionally only ``country``) or per region of
    ``country`` (``level="region"``): count, positive/neutral/negative and net sentiment,
    biggest first. ``unknown`` counts mentions without that level of place."""
    if level not in ("country", "region"):
        raise ApiError(422, "invalid_level", _("level must be one of: country, region."))
    if level == "region" and not country:
        raise ApiError(422, "missing_country", _("level=region needs a country, e.g. country=ES."))
    if _several(f):
        return _areas_from_mentions(level, win, f, country)
    mix = {"n": Sum("count"), **{s: Sum("count", filter=Q(sentiment=s)) for s in SENTIMENTS}}
    if level == "country":
        # The daily insight rollups carry language and platform: no fallback needed here.
        qs = _day_rows(MentionRollupDay, win, f)
        if f.language:
            qs = qs.filter(language__in=f.language)
        if f.platform:
            qs = qs.filter(platform__in=f.platform)
        if country:
            qs = qs.filter(country=country)
        return _areas_out(level, country, win, f, qs.values("country").annotate(**mix), "rollups")
    if f.language or f.platform:
        # MentionRegionDay has no language/platform: the mention table, by (country, created_at).
        return _areas_from_mentions(level, win, f, country)
    qs = _day_rows(MentionRegionDay, win, f, country=country)
    return _areas_out(level, country, win, f, qs.values("region").annotate(**mix), "rollups")


def _areas_from_mentions(level, win, f, country) -> dict:
    qs = _mentions(win, f)
    if country:
        qs = qs.filter(country=country)
    rows = qs.values(level).annotate(
        n=Count("pk"), **{s: Count("pk", filter=Q(sentiment=s)) for s in SENTIMENTS}
    )
    return _areas_out(level, country, win, f, rows, "mentions")


def _areas_out(level, country, win, f, rows, basis) -> dict:
    names = mapshapes.country_names() if level == "country" else mapshapes.region_names()
    out, unknown, total = [], 0, 0
    for row in rows:
        mix = _mix_out(row)
        total += mix["count"]
        code = row[level] or ""
        if not code or not mix["count"]:
            unknown += mix["count"]
            continue
        out.append({"code": code, "name": names.get(code, code), "shape": code in names, **mix})
    out.sort(key=lambda a: (-a["count"], a["code"]))
    return {
        "level": level,
        "country": country,
        **win.out(),
        "filters": f.out(),
        "basis": basis,
        "total": total,
        "unknown": unknown,
        "areas": out,
    }


# --- Clusters ------------------------------------------------------------------------------


def _km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_KM * math.asin(min(1.0, math.sqrt(a)))


def clusters(
    *,
    box: mapshapes.GeoBox,
    zoom: int,
    win: insight.Window,
    f: MapFilters,
    country: str | None = None,
) -> dict:
    """Grid clusters of the mentions with coordinates inside ``box``: per cell the count, the
    average position, the sentiment mix and a radius (km) around that position covering the
    whole cell (what a click hands to the search page as ``near``/``radius_km``)."""
    if not MIN_ZOOM <= zoom <= MAX_ZOOM:
        raise ApiError(
            422,
            "invalid_zoom",
            _("zoom must be between %(min)s and %(max)s.") % {"min": MIN_ZOOM, "max": MAX_ZOOM},
        )
    cell = cell_for_zoom(zoom)
    n_cells = math.ceil((box.north - box.south) / cell) * math.ceil((box.east - box.west) / cell)
    if n_cells > MAX_CELLS:
        raise ApiError(
            422,
            "too_many_cells",
            _(
                "This box holds %(n)s cells at zoom %(zoom)s; at most %(max)s are allowed. "
                "Zoom out or choose a smaller box."
            )
            % {"n": f"{n_cells:,}", "zoom": zoom, "max": f"{MAX_CELLS:,}"},
        )
    if f.language or f.platform or _several(f) or zoom > GEO_CELL_ZOOM:
        # Dimensions MentionCellDay lacks, a kind's several queries (counted once), or cells
        # finer than the stored ones: the mention table (see the module docstring).
        rows, basis = _cells_from_mentions(box, cell, win, f, country), "mentions"
    else:
        rows, basis = _cells_from_rollups(box, zoom, win, f, country), "rollups"
    out, total = [], 0
    for row in rows:
        mix = _mix_out(row)
        total += mix["count"]
        s, w, lat, lon = row["s"], row["w"], row["lat"], row["lon"]
        corners = [(s, w), (s, w + cell), (s + cell, w), (s + cell, w + cell)]
        radius = max(_km(lat, lon, min(max(a, -90), 90), b) for a, b in corners)
        out.append(
            {
                "lat": round(lat, 5),
                "lon": round(lon, 5),
                "cell": [round(s, 6), round(w, 6), round(s + cell, 6), round(w + cell, 6)],
                "radius_km": round(max(radius, 1.0), 1),
                **mix,
            }
        )
    out.sort(key=lambda c: (-c["count"], c["lat"], c["lon"]))
    return {
        "bbox": [box.south, box.west, box.north, box.east if box.east <= 180 else box.east - 360],
        "zoom": zoom,
        "cell_deg": cell,
        **win.out(),
        "filters": f.out(),
        "country": country,
        "basis": basis,
        "total": total,
        "clusters": out,
    }


# Stored fine cells run 0…FINE_TOP_* (coordinates are validated to ±90° / ±180°; exactly 90°
# or 180° falls in the one cell past the last full row / column).
FINE_TOP_LAT = geo_cell(90.0, 0.0)[0]  # 2048
FINE_TOP_LON = geo_cell(0.0, 180.0)[1]  # 4096
COARSE = 2**GEO_COARSE_SHIFT  # fine cells a coarse cell has a side
MAX_DAY_LIST = 400  # longer windows read the edge strips by day range instead of day by day


def _split(lo: int, hi: int, top: int) -> tuple[tuple[int, int] | None, list[tuple[int, int]]]:
    """Fine index range ``lo…hi`` (inclusive) → the fine range of the coarse cells wholly
    inside it (or None) and the fine ranges left at its edges. A coarse cell is wholly inside
    when all its fine cells that exist (none beyond ``top``) are."""
    c_lo = -(-lo // COARSE)
    c_hi = hi // COARSE if hi >= top else (hi + 1) // COARSE - 1
    if c_lo > c_hi:
        return None, [(lo, hi)]
    inner = (c_lo * COARSE, min(c_hi * COARSE + COARSE - 1, hi))
    edges = [(lo, inner[0] - 1)] if lo < inner[0] else []
    if inner[1] < hi:
        edges.append((inner[1] + 1, hi))
    return inner, edges


def _cells_from_rollups(box, zoom, win, f, country) -> list[dict]:
    """Stored cells overlapping the box (its edges rounded out to fine cells, about 10 km),
    grouped into the zoom's cells: ``k`` stored cells a side, an integer division in SQL (the
    indexes are never negative, so it is a floor on both backends).

    Zoom ≤ ``GEO_COARSE_ZOOM`` (the zoom's cell is whole coarse cells): the coarse cells wholly
    inside the box come from ``MentionCoarseCellDay`` (10–30× fewer rows), and only the strips
    along the box's edges that cut coarse cells from the fine table — so the answer is exactly
    the fine table's. Those strips are read per day through an index that starts with the
    strip's coordinate (latitude bands: the unique key ``(day, query_id, cell_lat, …)``;
    longitude bands: ``listening_cell_day_lon``); a box on coarse lines (the whole world) has
    none."""
    cell = cell_for_zoom(zoom)
    lat_range = (geo_cell(box.south, 0.0)[0], geo_cell(box.north, 0.0)[0])
    lon_ranges = [(geo_cell(0.0, w)[1], geo_cell(0.0, e)[1]) for w, e in box.lon_ranges()]
    k = 2 ** (GEO_CELL_ZOOM - zoom)
    if zoom > GEO_COARSE_ZOOM:
        parts = [_cell_sums(MentionCellDay, k, win, f, country, lat_range, lon_ranges)]
    else:
        parts = []
        lat_in, lat_edges = _split(*lat_range, FINE_TOP_LAT)
        lon_split = [_split(lo, hi, FINE_TOP_LON) for lo, hi in lon_ranges]
        inner_lons = [inner for inner, _edges in lon_split if inner is not None]
        if lat_in is not None and inner_lons:
            ck = k // COARSE
            c_lat = (lat_in[0] // COARSE, lat_in[1] // COARSE)
            c_lons = [(lo // COARSE, hi // COARSE) for lo, hi in inner_lons]
            parts.append(_cell_sums(MentionCoarseCellDay, ck, win, f, country, c_lat, c_lons))
        for band in lat_edges:  # full width of the box
            parts.append(_cell_sums(MentionCellDay, k, win, f, country, band, lon_ranges, "lat"))
        if lat_in is not None:  # between the latitude bands, one query per band (no OR:
            # SQLite's planner leaves the index for an OR of day-by-day ranges)
            for _inner, edges in lon_split:
                for band in edges:
                    parts.append(
                        _cell_sums(MentionCellDay, k, win, f, country, lat_in, [band], "lon")
                    )
    merged: dict[tuple[int, int], dict] = {}
    for rows in parts:
        for row in rows:
            have = merged.setdefault((int(row["cy"]), int(row["cx"])), dict.fromkeys(_SUMS, 0))
            for name in _SUMS:
                have[name] += row[name] or 0
    out = []
    for (cy, cx), row in merged.items():
        n = int(row["n"])
        if not n:
            continue
        # Stored cells count from -90° / -180°: cell i of this zoom starts at i·cell − 90.
        row.update(
            cy=cy,
            cx=cx,
            s=cy * cell - 90.0,
            w=cx * cell - 180.0,
            lat=row["lat_sum"] / n,
            lon=row["lon_sum"] / n,
        )
        out.append(row)
    return out


_SUMS = ("n", "lat_sum", "lon_sum", *SENTIMENTS)


def _cell_sums(model, k, win, f, country, lat_range, lon_ranges, strip=None):
    """One cell table's rows in a rectangle of its cells (inclusive index ranges), grouped into
    cells ``k`` of its cells a side. ``strip`` (``"lat"``/``"lon"``: a narrow band of that
    coordinate) reads day by day through the index led by ``(day, query_id, that coordinate)``;
    the other coordinate is compared as ``+ 0`` so neither planner picks the other index."""
    days = (win.end - win.start) // DAY
    if strip is not None and days <= MAX_DAY_LIST:
        # Day by day (no day range, which would draw the planner to the (query_id, day) index)
        qs = model.objects.filter(day__in=[win.start + i * DAY for i in range(days)])
        qs = qs.filter(query_id=0) if f.query_ids is None else qs.filter(query_id__in=f.query_ids)
        if f.sentiment:
            qs = qs.filter(sentiment__in=f.sentiment)
        qs = qs.order_by()
    else:
        qs = _day_rows(model, win, f)
    lat, lon = F("cell_lat"), F("cell_lon")
    if strip == "lat":
        qs, lon = qs.annotate(lon0=F("cell_lon") + 0), F("lon0")
    elif strip == "lon":
        qs, lat = qs.annotate(lat0=F("cell_lat") + 0), F("lat0")
    qs = qs.filter(GreaterThanOrEqual(lat, lat_range[0]), LessThanOrEqual(lat, lat_range[1]))
    lon_q = Q()
    for west, east in lon_ranges:
        lon_q |= Q(GreaterThanOrEqual(lon, west)) & Q(LessThanOrEqual(lon, east))
    qs = qs.filter(lon_q)
    if country:
        qs = qs.filter(country=country)
    return (
        qs.annotate(cy=F("cell_lat") / k, cx=F("cell_lon") / k)
        .values("cy", "cx")
        .annotate(
            n=Sum("count"),
            lat_sum=Sum("lat_sum"),
            lon_sum=Sum("lon_sum"),
            **{s: Sum("count", filter=Q(sentiment=s)) for s in SENTIMENTS},
        )
    )


def _cells_from_mentions(box, cell, win, f, country) -> list[dict]:
    qs = _mentions(win, f).filter(
        lat__isnull=False, lon__isnull=False, lat__gte=box.south, lat__lte=box.north
    )
    lon_q = Q()
    for west, east in box.lon_ranges():
        lon_q |= Q(lon__gte=west, lon__lte=east)
    qs = qs.filter(lon_q)
    if country:
        qs = qs.filter(country=country)
    rows = (
        qs.annotate(cy=Floor(F("lat") / cell), cx=Floor(F("lon") / cell))
        .values("cy", "cx")
        .annotate(
            n=Count("pk"),
            avg_lat=Avg("lat"),
            avg_lon=Avg("lon"),
            **{s: Count("pk", filter=Q(sentiment=s)) for s in SENTIMENTS},
        )
    )
    out = []
    for row in rows:
        row.update(
            s=int(row["cy"]) * cell,
            w=int(row["cx"]) * cell,
            lat=float(row["avg_lat"]),
            lon=float(row["avg_lon"]),
        )
        out.append(row)
    return out
