"""The mentions map page (``/listening/map/``) and its SVG download (``map.svg``).

Thin: parameters are read and checked by ``geo`` (the same rules as the map API), numbers come
from ``geo.areas`` / ``geo.clusters`` (the database), the drawing from ``mapdraw``. Zoom and pan
are plain links (the server re-clusters for the new box), so the page needs no JavaScript.
"""

from __future__ import annotations

from urllib.parse import urlencode

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext as _

from apiary.accounts.access import Perm, permission_required
from apiary.core.errors import ApiError

from . import geo, mapdraw, mapshapes

MAX_PAGE_ZOOM = 5
COLORS = ("volume", "sentiment")
_LISTS = ("sentiment", "language", "platform")


def _int(request: HttpRequest, name: str, default: int, low: int, high: int) -> int:
    raw = request.GET.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        value = None
    if value is None or not low <= value <= high:
        raise ApiError(
            422,
            f"invalid_{name}",
            _("%(name)s must be a whole number from %(low)s to %(high)s.")
            % {"name": name, "low": low, "high": high},
        )
    return value


def _center(raw: str) -> tuple[float, float] | None:
    if not raw.strip():
        return None
    try:
        lat, lon = (float(p) for p in raw.split(","))
    except ValueError:
        lat = lon = float("nan")
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):
        raise ApiError(
            422,
            "invalid_center",
            _('center must be "latitude,longitude" within -90…90 and -180…180.'),
        )
    return lat, lon


def _state(request: HttpRequest) -> dict:
    """Everything the map shows, from the GET parameters (ApiError for bad ones)."""
    g = request.GET
    key = (g.get("view") or "world").strip()
    key = key if key == "world" else key.upper()
    try:
        view = mapshapes.view(key)
    except KeyError:
        raise ApiError(
            422,
            "invalid_view",
            _("view must be world or one of: %(names)s.")
            % {"names": ", ".join(mapshapes.region_countries())},
        ) from None
    color = (g.get("color") or "volume").strip()
    if color not in COLORS:
        raise ApiError(
            422,
            "invalid_color",
            _("color must be one of: %(names)s.") % {"names": ", ".join(COLORS)},
        )
    query_id = _int(request, "query_id", 0, 0, 2**53) or None
    win = geo.map_window(
        geo.parse_date("since", g.get("since")), geo.parse_date("until", g.get("until"), end=True)
    )
    f = geo.map_filters(
        query_id=query_id,
        kind=(g.get("kind") or "").strip() or None,
        **{name: g.getlist(name) for name in _LISTS},
    )
    zoom = _int(request, "zoom", 0, 0, MAX_PAGE_ZOOM)
    center = _center(g.get("center", ""))
    if zoom and center is None:
        box = view.geo
        center = ((box.south + box.north) / 2, mapshapes._wrap((box.west + box.east) / 2))
    return {"view": view, "color": color, "win": win, "f": f, "zoom": zoom, "center": center}


def _build(request: HttpRequest, st: dict, *, links: bool) -> tuple[mapdraw.Drawing, dict, dict]:
    view, win, f = st["view"], st["win"], st["f"]
    country = None if view.key == "world" else view.key
    level = "country" if country is None else "region"
    areas = geo.areas(level=level, win=win, f=f, country=country)
    box, viewbox = view.visible(st["zoom"], st["center"])
    points = geo.clusters(
        box=box, zoom=geo.zoom_for_span(box.east - box.west), win=win, f=f, country=country
    )
    search = reverse("listening:search")
    window = [
        ("since", win.start.strftime("%Y-%m-%dT%H:%M:%SZ")),
        ("until", win.end.strftime("%Y-%m-%dT%H:%M:%SZ")),
    ]
    common = f.as_params() + window

    def area_href(code: str) -> str | None:
        if not links:
            return None
        place = [("country", code)] if country is None else [("country", country), ("region", code)]
        return f"{search}?{urlencode(place + common)}"

    def cluster_href(c: dict) -> str | None:
        if not links:
            return None
        near = [("near", f"{c['lat']:.5f},{c['lon']:.5f}"), ("radius_km", f"{c['radius_km']:g}")]
        return f"{search}?{urlencode(near + common)}"

    d = mapdraw.drawing(
        view=view,
        viewbox=viewbox,
        areas=areas,
        clusters=points,
        color_by=st["color"],
        area_href=area_href,
        cluster_href=cluster_href,
    )
    return d, areas, points


def _params(request: HttpRequest, **changes) -> str:
    """The current GET parameters with ``changes`` (None removes one), URL-encoded."""
    items = [(k, v) for k, v in request.GET.lists() for v in v if k not in changes]
    items += [(k, str(v)) for k, v in changes.items() if v is not None]
    return urlencode([(k, v) for k, v in items if v != ""])


def _nav(request: HttpRequest, st: dict) -> dict:
    view, zoom, center = st["view"], st["zoom"], st["center"]
    out = {
        "zoom_in": _params(request, zoom=min(zoom + 1, MAX_PAGE_ZOOM), center=_fmt(center, view))
        if zoom < MAX_PAGE_ZOOM
        else None,
        "zoom_out": _params(
            request, zoom=zoom - 1 or None, center=_fmt(center, view) if zoom > 1 else None
        )
        if zoom > 0
        else None,
        "reset": _params(request, zoom=None, center=None),
        "pan": {},
    }
    if zoom and center is not None:
        box = view.geo
        dlat = (box.north - box.south) / 2**zoom / 3
        dlon = (box.east - box.west) / 2**zoom / 3
        lat, lon = center
        for name, (a, b) in {
            "north": (dlat, 0),
            "south": (-dlat, 0),
            "west": (0, -dlon),
            "east": (0, dlon),
        }.items():
            new = (max(-89.0, min(89.0, lat + a)), mapshapes._wrap(lon + b))
            out["pan"][name] = _params(request, zoom=zoom, center=f"{new[0]:.3f},{new[1]:.3f}")
    return out


def _fmt(center, view) -> str | None:
    if center is None:
        box = view.geo
        center = ((box.south + box.north) / 2, mapshapes._wrap((box.west + box.east) / 2))
    return f"{center[0]:.3f},{center[1]:.3f}"


@permission_required(Perm.LISTENING_VIEW)
def map_view(request: HttpRequest) -> HttpResponse:
    """Choropleth (countries, or regions of Spain, Russia, …) with mention clusters on top;
    every area and cluster links to the search page filtered to it."""
    context = {
        "views": [("world", _("World"))]
        + [(cc, mapshapes.country_names().get(cc, cc)) for cc in mapshapes.region_countries()],
        "g": request.GET,
        "error": None,
    }
    try:
        st = _state(request)
        drawing, areas, points = _build(request, st, links=True)
    except ApiError as exc:
        context["error"] = exc.detail
        return render(request, "listening/map.html", context, status=400)
    context.update(
        {
            "st": st,
            "drawing": drawing,
            "areas": areas,
            "points": points,
            "top_areas": areas["areas"][:15],
            "nav": _nav(request, st),
            "query": _params(request),
            "api_areas": reverse("api:map_areas"),
            "api_points": reverse("api:map_points"),
            "region_views": set(mapshapes.region_countries()),
        }
    )
    return render(request, "listening/map.html", context)


@permission_required(Perm.LISTENING_VIEW)
def map_svg_view(request: HttpRequest) -> HttpResponse:
    """The same drawing as a standalone SVG file (the page's "Download SVG")."""
    try:
        st = _state(request)
        drawing, areas, points = _build(request, st, links=False)
    except ApiError as exc:
        return HttpResponse(exc.detail, status=400, content_type="text/plain; charset=utf-8")
    response = render(
        request,
        "listening/_map.svg",
        {"drawing": drawing, "areas": areas, "points": points, "standalone": True},
        content_type="image/svg+xml; charset=utf-8",
    )
    name = "mentions-map-world" if st["view"].key == "world" else f"mentions-map-{st['view'].key}"
    response["Content-Disposition"] = f'attachment; filename="{name}.svg"'
    return response
