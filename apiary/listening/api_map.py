"""Mentions map API: area aggregates (countries, or regions of a country) and grid clusters
(``/api/v1/listening/map/…``). The numbers come from ``geo.py``, computed in the database; the
page at ``/listening/map/`` draws exactly these."""

from datetime import datetime
from typing import Annotated, Literal

from ninja import Field, Query, Router, Schema

from apiary.accounts.access import Perm, api_require
from apiary.core.schemas import StrictIn

from . import geo
from .api_insight import Language, Platform, _no_unknown

router = Router(tags=["listening map"])

Sentiment = Literal["positive", "neutral", "negative"]
Kind = Literal["brand", "competitor", "topic"]


class MapFiltersOut(Schema):
    query_id: int | None
    kind: str | None
    sentiment: list[str]
    language: list[str]
    platform: list[str]


class MixOut(Schema):
    count: int
    positive: int
    neutral: int
    negative: int
    net_sentiment: float | None = Field(description="(positive − negative) / count")


class AreaOut(MixOut):
    code: str = Field(description='ISO 3166 country ("ES") or GeoNames region ("ES.29")')
    name: str
    shape: bool = Field(description="whether the map has a boundary for this area")


Basis = Annotated[
    Literal["rollups", "mentions"],
    Field(
        description="daily rollups, or the mention table (language/platform filters on regions "
        "and clusters, a kind with several queries, clusters above zoom 9)"
    ),
]
Start = Annotated[datetime, Field(description="effective window: since floored to a UTC day")]
End = Annotated[datetime, Field(description="until ceiled to a UTC day (exclusive)")]


class AreasOut(Schema):
    level: str
    country: str | None
    start: Start
    end: End
    filters: MapFiltersOut
    basis: Basis
    total: int
    unknown: int = Field(description="mentions in the total without a place at this level")
    areas: list[AreaOut]


class ClusterOut(MixOut):
    lat: float = Field(description="average latitude of the cell's mentions")
    lon: float
    cell: list[float] = Field(description="the grid cell: south, west, north, east")
    radius_km: float = Field(description="around lat/lon, covers the whole cell")


class PointsOut(Schema):
    bbox: list[float] = Field(description="south, west, north, east")
    zoom: int
    cell_deg: float
    start: Start
    end: End
    filters: MapFiltersOut
    country: str | None
    basis: Basis
    total: int
    clusters: list[ClusterOut]


class _Filters(StrictIn):
    since: str | None = Field(None, description="YYYY-MM-DD or ISO 8601; default 30 days ago")
    until: str | None = Field(None, description="a bare date includes that day; default now")
    query_id: int | None = Field(None, ge=1, le=2**53)
    kind: Kind | None = None
    sentiment: list[Sentiment] = Field(default_factory=list)
    language: list[Language] = Field(default_factory=list)
    platform: list[Platform] = Field(default_factory=list)


def _common(request, q: _Filters, schema):
    api_require(request, Perm.LISTENING_VIEW)
    _no_unknown(request, schema)
    win = geo.map_window(
        geo.parse_date("since", q.since), geo.parse_date("until", q.until, end=True)
    )
    f = geo.map_filters(
        query_id=q.query_id,
        kind=q.kind,
        sentiment=q.sentiment,
        language=q.language,
        platform=q.platform,
    )
    return win, f


class AreasQuery(_Filters):
    level: Literal["country", "region"] = "country"
    country: str | None = Field(None, description="ISO 3166-1 alpha-2; needed for regions")


@router.get("/listening/map/areas", response=AreasOut)
def map_areas(request, q: Query[AreasQuery]):
    """Mentions per country or per region of one country, with the
    sentiment mix and net sentiment: the choropleth's numbers."""
    win, f = _common(request, q, AreasQuery)
    return geo.areas(level=q.level, win=win, f=f, country=geo.country_code(q.country))


class PointsQuery(_Filters):
    bbox: str = Field(
        "-90,-180,90,180", description='"south,west,north,east"; west > east crosses 180°'
    )
    zoom: int = Field(2, description=f"{geo.MIN_ZOOM}–{geo.MAX_ZOOM}; cell = 45° / 2^zoom")
    country: str | None = None


@router.get("/listening/map/points", response=PointsOut)
def map_points(request, q: Query[PointsQuery]):
    """Grid clusters of the mentions with coordinates in ``bbox``: count, average position,
    sentiment mix and a radius for ``/listening/?near=lat,lon&radius_km=…`` per cell."""
    win, f = _common(request, q, PointsQuery)
    box = geo.parse_bbox(q.bbox)
    return geo.clusters(box=box, zoom=q.zoom, win=win, f=f, country=geo.country_code(q.country))
