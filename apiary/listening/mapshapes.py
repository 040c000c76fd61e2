"""Offline boundaries and map projections for the mentions map (no tiles, no CDN).

``data/map/shapes.json.gz`` holds simplified Natural Earth polygons in longitude/latitude —
countries by ISO 3166-1 alpha-2, and regions of a few countries by the GeoNames admin1 code that
``place.py`` writes into ``Mention.region`` (``ES.29``, ``RU.48``). It is built by
``scripts/build_map_shapes.py``; see ``data/map/README.md``.

The file is *not* pre-projected: areas and mention points go through the same
:meth:`MapView.project`, so a point is always drawn inside the area it is counted in. Views:

* ``world`` — Equal Earth (Šavrič, Patterson & Jenny 2018), equal-area, central meridian 0°.
* a country (``ES``, ``RU``, …) — Albers equal-area conic fitted to the country (central
  meridian at the middle of its longitudes, standard parallels at 1/6 and 5/6 of its latitudes;
  Russia's longitudes are unwrapped past 180° so Chukotka stays beside it).

Pure module: no database. Results are cached per process (the file is read once).
"""

from __future__ import annotations

import gzip
import json
import math
from dataclasses import dataclass
from functools import cache
from pathlib import Path

DATA = Path(__file__).resolve().parent / "data" / "map" / "shapes.json.gz"

WIDTH = 960.0  # SVG user units of a whole view's width
MAX_HEIGHT = 620.0
PAD = 8.0

# --- Projections ---------------------------------------------------------------------------

_EE = (1.340264, -0.081106, 0.000893, 0.003796)
_SQRT3 = math.sqrt(3.0)


def _wrap(dlon: float) -> float:
    """A longitude difference in [-180, 180)."""
    return (dlon + 180.0) % 360.0 - 180.0


class EqualEarth:
    def __init__(self, lon0: float = 0.0) -> None:
        self.lon0 = lon0

    def __call__(self, lon: float, lat: float) -> tuple[float, float]:
        return self.xy(_wrap(lon - self.lon0), lat)

    def xy(self, dlon: float, lat: float) -> tuple[float, float]:
        """``dlon`` = longitude − central meridian, in [-180, 180] (not wrapped again)."""
        a1, a2, a3, a4 = _EE
        lam = math.radians(dlon)
        theta = math.asin(_SQRT3 / 2 * math.sin(math.radians(max(-90.0, min(90.0, lat)))))
        t2 = theta * theta
        t6 = t2 * t2 * t2
        x = (
            2
            * _SQRT3
            * lam
            * math.cos(theta)
            / (3 * (9 * a4 * t6 * t2 + 7 * a3 * t6 + 3 * a2 * t2 + a1))
        )
        y = theta * (a1 + a2 * t2 + t6 * (a3 + a4 * t2))
        return x, -y  # SVG's y grows downwards


class Albers:
    def __init__(self, lon0: float, lat1: float, lat2: float, lat0: float) -> None:
        self.lon0 = lon0
        p1, p2 = math.radians(lat1), math.radians(lat2)
        self.n = (math.sin(p1) + math.sin(p2)) / 2
        if abs(self.n) < 1e-9:  # both parallels around the equator: nearly cylindrical
            self.n = 1e-9
        self.c = math.cos(p1) ** 2 + 2 * self.n * math.sin(p1)
        self.rho0 = math.sqrt(max(self.c - 2 * self.n * math.sin(math.radians(lat0)), 0)) / self.n

    def __call__(self, lon: float, lat: float) -> tuple[float, float]:
        return self.xy(_wrap(lon - self.lon0), lat)

    def xy(self, dlon: float, lat: float) -> tuple[float, float]:
        phi = math.radians(max(-90.0, min(90.0, lat)))
        rho = math.sqrt(max(self.c - 2 * self.n * math.sin(phi), 0)) / self.n
        theta = self.n * math.radians(dlon)
        return rho * math.sin(theta), -(self.rho0 - rho * math.cos(theta))


# --- Data ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Area:
    code: str  # "ES" (a country) or "ES.29" (a region)
    name: str
    polys: tuple  # ((ring, hole, …), …); a ring is a flat (lon, lat, lon, lat, …) tuple


@cache
def _data() -> dict:
    with gzip.open(DATA, "rt", encoding="utf-8") as f:
        return json.load(f)


def _areas(entries: dict) -> tuple[Area, ...]:
    return tuple(
        Area(code, e["name"], tuple(tuple(tuple(r) for r in p) for p in e["polys"]))
        for code, e in sorted(entries.items())
    )


@cache
def countries() -> tuple[Area, ...]:
    return _areas(_data()["countries"])


@cache
def country_names() -> dict[str, str]:
    return {a.code: a.name for a in countries()}


def region_countries() -> tuple[str, ...]:
    """Countries whose regions we have shapes for (the ``view`` choices besides ``world``)."""
    return tuple(sorted(_data()["regions"]))


@cache
def regions(country: str) -> tuple[Area, ...]:
    return _areas(_data()["regions"].get(country, {}))


@cache
def region_names() -> dict[str, str]:
    return {a.code: a.name for cc in region_countries() for a in regions(cc)}


def point_in_area(area: Area, lat: float, lon: float) -> bool:
    """Even-odd point-in-polygon over every ring (holes included), in degrees."""
    inside = False
    for poly in area.polys:
        for ring in poly:
            xs, ys = ring[0::2], ring[1::2]
            j = len(xs) - 1
            for i in range(len(xs)):
                if (ys[i] > lat) != (ys[j] > lat) and lon < (xs[j] - xs[i]) * (lat - ys[i]) / (
                    ys[j] - ys[i]
                ) + xs[i]:
                    inside = not inside
                j = i
    return inside


# --- Views ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class GeoBox:
    """Degrees; ``east`` may exceed 180 when the box crosses the antimeridian."""

    south: float
    west: float
    north: float
    east: float

    @property
    def crosses_antimeridian(self) -> bool:
        return self.east > 180.0

    def lon_ranges(self) -> list[tuple[float, float]]:
        """The box's longitudes as ranges within [-180, 180]."""
        if self.crosses_antimeridian:
            return [(self.west, 180.0), (-180.0, self.east - 360.0)]
        return [(self.west, self.east)]


class MapView:
    """One map: its areas, its projection fitted into a ``WIDTH`` × ``height`` SVG box."""

    def __init__(self, key: str) -> None:
        self.key = key
        if key == "world":
            self.areas = countries()
            self.projection = EqualEarth(0.0)
            self.geo = GeoBox(-60.0, -180.0, 85.0, 180.0)
        else:
            self.areas = regions(key)
            if not self.areas:
                raise KeyError(key)
            self.geo = _extent(self.areas)
            span = self.geo.north - self.geo.south
            self.projection = Albers(
                lon0=_wrap((self.geo.west + self.geo.east) / 2),
                lat1=self.geo.south + span / 6,
                lat2=self.geo.north - span / 6,
                lat0=(self.geo.south + self.geo.north) / 2,
            )
        xs, ys = [], []
        for area in self.areas:
            for poly in area.polys:
                for x, y in self._raw_ring(poly[0]):
                    xs.append(x)
                    ys.append(y)
        if key == "world":  # the whole sphere's outline, not only the land
            for lat in range(-60, 86, 5):
                for lon in (-180.0, 179.999):
                    x, y = self.projection(lon, lat)
                    xs.append(x)
                    ys.append(y)
        x0, x1, y0, y1 = min(xs), max(xs), min(ys), max(ys)
        scale = (WIDTH - 2 * PAD) / (x1 - x0)
        if (y1 - y0) * scale > MAX_HEIGHT - 2 * PAD:
            scale = (MAX_HEIGHT - 2 * PAD) / (y1 - y0)
        self.scale = scale
        self.width = WIDTH
        self.height = round((y1 - y0) * scale + 2 * PAD, 1)
        self.dx = (WIDTH - (x1 - x0) * scale) / 2 - x0 * scale
        self.dy = PAD - y0 * scale

    def _raw_ring(self, ring: tuple):
        p = self.projection
        for i in range(0, len(ring), 2):
            yield p(ring[i], ring[i + 1])

    def project(self, lat: float, lon: float) -> tuple[float, float]:
        """SVG coordinates of a point — the same transform as every area's path."""
        x, y = self.projection(lon, lat)
        return x * self.scale + self.dx, y * self.scale + self.dy

    @property
    def title(self) -> str:
        return "" if self.key == "world" else country_names().get(self.key, self.key)

    def paths(self) -> dict[str, str]:
        return _paths(self.key)

    def bboxes(self) -> dict[str, tuple[float, float, float, float]]:
        """Per area, its projected box ``(x0, y0, x1, y1)`` in SVG units."""
        return _bboxes(self.key)

    def area(self, code: str) -> Area | None:
        return next((a for a in self.areas if a.code == code), None)

    def visible(self, zoom: int, center: tuple[float, float] | None) -> tuple[GeoBox, tuple]:
        """The geographic box and the SVG viewBox ``(x, y, w, h)`` shown at ``zoom`` (0 = the
        whole view, each step halves the span) around ``center`` (lat, lon)."""
        if zoom <= 0 or center is None:
            return self.geo, (0.0, 0.0, self.width, self.height)
        factor = 2.0**zoom
        w, h = self.width / factor, self.height / factor
        cx, cy = self.project(*center)
        x = min(max(cx - w / 2, 0.0), self.width - w)
        y = min(max(cy - h / 2, 0.0), self.height - h)
        lat_half = (self.geo.north - self.geo.south) / factor / 2
        lon_half = (self.geo.east - self.geo.west) / factor / 2
        lat, lon = center
        if self.geo.crosses_antimeridian and lon < self.geo.west:
            lon += 360.0
        # A generous geographic box (projection curvature): clusters outside the viewBox are
        # simply clipped by the SVG.
        south = max(self.geo.south, lat - 1.5 * lat_half)
        north = min(self.geo.north, lat + 1.5 * lat_half)
        west = max(self.geo.west, lon - 1.5 * lon_half)
        east = min(self.geo.east, lon + 1.5 * lon_half)
        return GeoBox(south, west, north, east), (
            round(x, 1),
            round(y, 1),
            round(w, 1),
            round(h, 1),
        )


def _clip(ring: list[tuple[float, float]], edge: float, keep_below: bool) -> list:
    """Sutherland–Hodgman against the meridian ``dlon = edge`` (one side of it)."""

    def inside(p) -> bool:
        return p[0] <= edge if keep_below else p[0] >= edge

    out: list[tuple[float, float]] = []
    for i, cur in enumerate(ring):
        prev = ring[i - 1]
        if inside(cur) != inside(prev):
            t = (edge - prev[0]) / (cur[0] - prev[0])
            out.append((edge, prev[1] + t * (cur[1] - prev[1])))
        if inside(cur):
            out.append(cur)
    return out


def split_ring(ring: tuple, lon0: float) -> list[list[tuple[float, float]]]:
    """A flat lon/lat ring as ``(dlon, lat)`` rings within [-180, 180] of ``lon0``: a ring that
    crosses the map's edge meridian (Fiji, Chukotka on the world map) is cut there into its
    pieces on either side, instead of drawing a line across the whole map."""
    pts: list[tuple[float, float]] = []
    for i in range(0, len(ring), 2):
        d = _wrap(ring[i] - lon0)
        if pts:  # continue from the previous point: no jump of ±360°
            d = pts[-1][0] + _wrap(d - pts[-1][0])
        pts.append((d, ring[i + 1]))
    lo, hi = min(p[0] for p in pts), max(p[0] for p in pts)
    if lo >= -180 and hi <= 180:
        return [pts]
    pieces = []
    for shift in (-360.0, 0.0, 360.0):
        moved = [(x + shift, y) for x, y in pts]
        piece = _clip(_clip(moved, 180.0, True), -180.0, False)
        if len(piece) >= 3:
            pieces.append(piece)
    return pieces


def _extent(areas: tuple[Area, ...]) -> GeoBox:
    lons = [x for a in areas for p in a.polys for x in p[0][0::2]]
    lats = [y for a in areas for p in a.polys for y in p[0][1::2]]
    west, east = min(lons), max(lons)
    if east - west > 180:  # spans the antimeridian (Russia): unwrap the western hemisphere part
        shifted = [x + 360 if x < 0 else x for x in lons]
        west, east = min(shifted), max(shifted)
    return GeoBox(min(lats), west, max(lats), east)


@cache
def view(key: str) -> MapView:
    """``world`` or a country code from :func:`region_countries`; KeyError otherwise."""
    if key != "world" and key not in region_countries():
        raise KeyError(key)
    return MapView(key)


@cache
def _paths(key: str) -> dict[str, str]:
    v = view(key)
    xy, lon0 = v.projection.xy, v.projection.lon0
    out = {}
    for area in v.areas:
        parts = []
        for poly in area.polys:
            for ring in poly:
                for piece in split_ring(ring, lon0):
                    pts = [xy(d, lat) for d, lat in piece]
                    pts = [(x * v.scale + v.dx, y * v.scale + v.dy) for x, y in pts]
                    parts.append("M" + "L".join(f"{x:.1f},{y:.1f}" for x, y in pts) + "Z")
        out[area.code] = "".join(parts)
    return out


@cache
def _bboxes(key: str) -> dict[str, tuple[float, float, float, float]]:
    v = view(key)
    out = {}
    for area in v.areas:
        pts = [
            v.project(ring[i + 1], ring[i])
            for poly in area.polys
            for ring in poly[:1]
            for i in range(0, len(ring), 2)
        ]
        xs, ys = [p[0] for p in pts], [p[1] for p in pts]
        out[area.code] = (min(xs), min(ys), max(xs), max(ys))
    return out
