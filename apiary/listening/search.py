"""Mention search: one validated parameter object and one queryset builder, for the API
(``GET /api/v1/mentions``), the search page, its live poller and saved searches.

Every filter is answered by an index or bounded (see docs/ARCHITECTURE.md, "Search indexes"):

* full text goes through the FTS5 table (SQLite) or the GIN expression index (PostgreSQL) and
  is **bounded to the newest ``FTS_WINDOW`` matches** (by id, i.e. storage order), so a word that
  occurs in millions of mentions costs the same as a rare one; relevance ranks the newest
  ``RANK_WINDOW`` matches. Both backends apply the same windows, so they return the same rows.
* pages are keyset cursors over the sort key plus id, never OFFSET; counts stop at
  ``COUNT_CAP`` ("1000+").
* a radius is a latitude/longitude box (``listening_mention_latlon``) refined by the exact
  great-circle (haversine) distance.
"""

from __future__ import annotations

import base64
import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

import pydantic
from django.db import connection
from django.db.models import Exists, F, OuterRef, Q, QuerySet
from django.db.models.functions import Cos, Power, Radians, Sin
from django.utils.translation import gettext as _
from pydantic import ConfigDict, Field, PrivateAttr, field_validator, model_validator

from apiary.core.errors import validation_errors

from . import search_text
from .models import (
    ListeningQuery,
    Mention,
    MentionIrrelevant,
    MentionMatch,
    MentionTag,
)
from .raw import PLATFORMS

FTS_WINDOW = 2_000  # full text: filters and time/reach sort apply to the newest 2k matches
RANK_WINDOW = 1_000  # relevance: bm25 / ts_rank computed for the newest 1k matches only
PROBE_ROWS = 20_000  # filters are first checked on the newest 20k mentions in sort order
SIMILAR_WINDOW = 500  # similar mentions: ranked among the newest 500 sharing a top term
COUNT_CAP = 1_000
MAX_LIMIT = 100
DEFAULT_LIMIT = 50
EARTH_KM = 6371.0088

Language = Literal["en", "ru", "es", "other", "und"]
SentimentV = Literal["positive", "neutral", "negative"]
IntentV = Literal["purchase", "support", "none"]
KindV = Literal["brand", "competitor", "topic"]
SortV = Literal["time", "reach", "relevance"]
PlatformV = Literal[tuple(sorted(PLATFORMS))]  # type: ignore[valid-type]

LIST_FIELDS = ("sentiment", "language", "platform", "intent", "country")
# Old names of GET /api/v1/mentions (before issue 5), still accepted.
ALIASES = {"created_after": "since", "created_before": "until"}
PAGING = ("cursor", "limit")
_DATE_ONLY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_REGION = re.compile(r"^[A-Z]{2}(\.[A-Za-z0-9]{1,20})?$")
_TAG = re.compile(r"^[\w][\w\- ]{0,49}$")


# The full-text SQL (column, index and FTS5 table come from migration 0002_search). The ids
# are the newest matches: FTS5 returns rowids in descending order natively, PostgreSQL walks
# the primary key or sorts the bitmap's ids, whichever its planner finds cheaper.
PG_VECTOR = "search_vector"  # generated: to_tsvector('simple', apiary_fts_text(text))
PG_IDS = (
    f"SELECT id FROM listening_mention WHERE {PG_VECTOR} "  # noqa: S608 (constants only)
    "@@ to_tsquery('simple'::regconfig, %s) ORDER BY id DESC LIMIT %s"
)
PG_RANKED = (
    f"SELECT id, CAST(ts_rank({PG_VECTOR}, to_tsquery('simple'::regconfig, %s), 1) "  # noqa: S608
    "AS double precision) "
    f"FROM listening_mention WHERE {PG_VECTOR} @@ to_tsquery('simple'::regconfig, %s) "
    "ORDER BY id DESC LIMIT %s"
)
SQLITE_IDS = (
    "SELECT rowid FROM listening_mention_fts WHERE listening_mention_fts MATCH %s "
    "ORDER BY rowid DESC LIMIT %s"
)
SQLITE_RANKED = (
    "SELECT rowid, -bm25(listening_mention_fts) FROM listening_mention_fts "
    "WHERE listening_mention_fts MATCH %s ORDER BY rowid DESC LIMIT %s"
)


class SearchParamsError(Exception):
    """Invalid search parameters: ``errors`` is ``[{field, message, type}]`` like the API's."""

    def __init__(self, errors: list[dict], code: str = "validation_error") -> None:
        self.errors = errors
        self.code = code
        super().__init__("; ".join(f"{e['field']}: {e['message']}" for e in errors))


def _error(field: str, message: str, code: str = "validation_error") -> SearchParamsError:
    return SearchParamsError([{"field": field, "message": message, "type": "invalid"}], code)


def _float_pair(value: str, n: int, what: str) -> list[float]:
    parts = [p.strip() for p in str(value).split(",")]
    try:
        numbers = [float(p) for p in parts]
    except ValueError:
        raise ValueError(what) from None
    if len(numbers) != n or not all(math.isfinite(x) for x in numbers):
        raise ValueError(what)
    return numbers


def _check_lat_lon(lat: float, lon: float) -> None:
    if not -90 <= lat <= 90:
        raise ValueError(_("Latitude must be between -90 and 90 (got %(v)s).") % {"v": lat})
    if not -180 <= lon <= 180:
        raise ValueError(_("Longitude must be between -180 and 180 (got %(v)s).") % {"v": lon})


class SearchParams(pydantic.BaseModel):
    """What a search asks for. Every field is optional; given ones are combined with AND,
    values of one list field with OR. JSON-serialisable (saved searches store ``as_query()``)."""

    model_config = ConfigDict(extra="forbid")
    _cache: dict = PrivateAttr(default_factory=dict)  # per request: the full-text window

    q: str | None = Field(
        None,
        max_length=search_text.MAX_QUERY_CHARS,
        description='Full text: words, "a phrase", prefix*, -excluded',
    )
    query_id: int | None = Field(None, ge=1, le=2**53, description="any listening query")
    kind: KindV | None = Field(None, description="mentions matched by any query of this kind")
    sentiment: list[SentimentV] = Field(default_factory=list)
    language: list[Language] = Field(default_factory=list)
    platform: list[PlatformV] = Field(default_factory=list)
    intent: list[IntentV] = Field(default_factory=list)
    since: datetime | None = Field(None, description="created at or after (ISO 8601; UTC)")
    until: datetime | None = Field(None, description="created before (a bare date: that day incl.)")
    customer_id: int | None = Field(None, ge=1, le=2**53)
    segment: str | None = Field(None, max_length=120, pattern=r"^[-a-zA-Z0-9_]+$")
    min_followers: int | None = Field(None, ge=0, le=10**12)
    country: list[str] = Field(default_factory=list, description="ISO 3166-1 alpha-2")
    region: str | None = Field(None, max_length=30, description='"ES.29" (GeoNames admin1)')
    city: str | None = Field(None, max_length=120)
    near: str | None = Field(None, description='"lat,lon"; needs radius_km')
    radius_km: float | None = Field(None, description="0 < r ≤ 20000")
    bbox: str | None = Field(None, description='"south,west,north,east"; west > east crosses 180°')
    tag: str | None = Field(None, max_length=50)
    source_id: int | None = Field(None, ge=1, le=2**53)
    sort: SortV = "time"

    @property
    def reads_customer_data(self) -> bool:
        """Which mentions belong to which customers is customer data: a search narrowed by
        customer or segment needs the customers permission (API and page both ask this)."""
        return self.customer_id is not None or bool(self.segment)

    @field_validator("since", "until", mode="before")
    @classmethod
    def _date(cls, value, info):
        if isinstance(value, str) and _DATE_ONLY.match(value.strip()):
            try:
                day = datetime.strptime(value.strip(), "%Y-%m-%d").replace(tzinfo=UTC)
            except ValueError:
                raise ValueError(_("Must be a date and time (ISO 8601).")) from None
            # "until 2026-01-10" includes that whole day.
            return day + timedelta(days=1) if info.field_name == "until" else day
        return value

    @field_validator("since", "until")
    @classmethod
    def _aware(cls, value):
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        if value is not None and not (1970 <= value.astimezone(UTC).year <= 9998):
            raise ValueError(_("Must be between the years 1970 and 9998."))
        return value

    @field_validator("country")
    @classmethod
    def _countries(cls, value):
        from apiary.customers.countries import COUNTRY_CODES

        codes = [c.strip().upper() for c in value]
        for code in codes:
            if code not in COUNTRY_CODES:
                raise ValueError(
                    _("Unknown country code %(code)s; use ISO 3166-1 alpha-2 such as ES.")
                    % {"code": code[:10]}
                )
        return codes

    @field_validator("region")
    @classmethod
    def _region(cls, value):
        if value is not None and not _REGION.match(value):
            raise ValueError(_('A region is a code such as "ES.29" (country.admin1).'))
        return value

    @field_validator("tag")
    @classmethod
    def _tag(cls, value):
        return tag_clean(value) if value is not None else None

    @field_validator("near")
    @classmethod
    def _near(cls, value):
        if value is None:
            return value
        lat, lon = _float_pair(value, 2, _('Give "latitude,longitude", e.g. 40.42,-3.70.'))
        _check_lat_lon(lat, lon)
        return f"{lat},{lon}"

    @field_validator("radius_km")
    @classmethod
    def _radius(cls, value):
        if value is not None and not (math.isfinite(value) and 0 < value <= 20_000):
            raise ValueError(_("The radius must be more than 0 and at most 20000 km."))
        return value

    @field_validator("bbox")
    @classmethod
    def _bbox(cls, value):
        if value is None:
            return value
        s, w, n, e = _float_pair(
            value, 4, _('Give "south,west,north,east", e.g. 36.0,-9.5,43.8,3.3.')
        )
        _check_lat_lon(s, w)
        _check_lat_lon(n, e)
        if s > n:
            raise ValueError(_("The box's south edge is north of its north edge."))
        return f"{s},{w},{n},{e}"

    @model_validator(mode="after")
    def _together(self):
        if (self.near is None) != (self.radius_km is None):
            field = "radius_km" if self.near else "near"
            raise _error(field, _("near and radius_km go together: give both or neither."))
        if self.near and self.bbox:
            raise _error("bbox", _("Give a radius (near) or a box (bbox), not both."))
        if self.since and self.until and self.since >= self.until:
            raise _error("until", _("until must be later than since."))
        if self.sort == "relevance" and not self.q:
            raise _error("sort", _("Sorting by relevance needs a search text (q)."))
        if self.q is not None:
            try:
                search_text.parse_query(self.q)
            except search_text.QuerySyntaxError as exc:
                raise _error("q", str(exc), "invalid_query") from None
        return self

    # --- derived --------------------------------------------------------------------------

    @property
    def parsed(self) -> search_text.ParsedQuery | None:
        return search_text.parse_query(self.q) if self.q else None

    @property
    def near_point(self) -> tuple[float, float] | None:
        if not self.near:
            return None
        lat, lon = (float(x) for x in self.near.split(","))
        return lat, lon

    @property
    def box(self) -> tuple[float, float, float, float] | None:
        if not self.bbox:
            return None
        s, w, n, e = (float(x) for x in self.bbox.split(","))
        return s, w, n, e

    def as_query(self) -> dict:
        """The non-default values, JSON-ready (datetimes as ISO strings)."""
        data = self.model_dump(mode="json", exclude_defaults=True)
        return {k: v for k, v in data.items() if v not in (None, [], "")}

    def urlencode(self) -> str:
        from urllib.parse import urlencode

        return urlencode(self.as_query(), doseq=True)


def tag_clean(value: str) -> str:
    tag = " ".join(str(value).split()).lower()
    if not _TAG.match(tag):
        raise ValueError(
            _("A tag is 1–50 letters, digits, spaces, '-' or '_', starting with a letter or digit.")
        )
    return tag


def params_validate(data: Mapping) -> SearchParams:
    """Validate a plain dict (saved search, API JSON). Raises ``SearchParamsError``."""
    if not isinstance(data, Mapping):
        raise _error("params", _("Must be an object."))
    data = {ALIASES.get(k, k): v for k, v in data.items()}
    for name in LIST_FIELDS:
        value = data.get(name)
        if isinstance(value, str):
            data[name] = [v for v in (p.strip() for p in value.split(",")) if v]
    try:
        return SearchParams.model_validate(data)
    except SearchParamsError:
        raise
    except pydantic.ValidationError as exc:
        errors = validation_errors(exc.errors())
        for e in errors:  # "sentiment.0" → "sentiment": the query parameter's name
            e["field"] = e["field"].split(".")[0]
        raise SearchParamsError(errors) from None


@dataclass
class Paging:
    cursor: str | None = None
    limit: int = DEFAULT_LIMIT


def params_from_query(querydict, *, paging: bool = True) -> tuple[SearchParams, Paging]:
    """Read GET parameters (repeated or comma-separated for list fields). Unknown names and
    scalar parameters given twice are errors; empty values count as absent (HTML forms)."""
    allowed = set(SearchParams.model_fields) | set(ALIASES) | (set(PAGING) if paging else set())
    unknown = sorted(set(querydict) - allowed)
    if unknown:
        extra = ""
        if "offset" in unknown:
            extra = " " + _("Pages are cursors: pass next_cursor as cursor.")
        raise _error(
            unknown[0],
            _("Unknown filter(s): %(names)s.") % {"names": ", ".join(unknown)} + extra,
            "unknown_filter",
        )
    data: dict = {}
    for key in querydict:
        values = [v.strip() for v in querydict.getlist(key) if v.strip()]
        if not values:
            continue
        name = ALIASES.get(key, key)
        if name in LIST_FIELDS:
            items = [p.strip() for v in values for p in v.split(",") if p.strip()]
            data.setdefault(name, []).extend(items)
        elif len(values) > 1 or name in data:
            raise _error(key, _("Give %(name)s once.") % {"name": key})
        else:
            data[name] = values[0]
    page = Paging()
    if paging:
        page.cursor = data.pop("cursor", None)
        if "limit" in data:
            raw = data.pop("limit")
            try:
                page.limit = int(raw)
            except ValueError:
                raise _error("limit", _("Must be a whole number.")) from None
            if not 1 <= page.limit <= MAX_LIMIT:
                raise _error(
                    "limit", _("limit must be between 1 and %(max)d.") % {"max": MAX_LIMIT}
                )
    return params_validate(data), page


# --- The queryset ----------------------------------------------------------------------------


def fts_window(params: SearchParams) -> list[int]:
    """The ids of the newest matches of ``params.q`` (``FTS_WINDOW``, or ``RANK_WINDOW`` for
    relevance) plus one more to tell whether the window is full: one index query per request,
    kept on ``params`` so the page, the count and the "window full" flag share it."""
    window = RANK_WINDOW if params.sort == "relevance" else FTS_WINDOW
    cache = params._cache
    key = ("fts", params.q, window)
    if key not in cache:
        parsed = params.parsed
        with connection.cursor() as cur:
            if connection.vendor == "postgresql":
                cur.execute(PG_IDS, [parsed.tsquery(), window + 1])
            else:
                cur.execute(SQLITE_IDS, [parsed.fts5(), window + 1])
            cache[key] = [int(r[0]) for r in cur.fetchall()]
    return cache[key]


def _lon_range(lo: float, hi: float) -> Q:
    """_lon within [lo, hi], where the range may wrap past ±180."""
    if hi - lo >= 360:
        return Q()
    if lo < -180:
        return Q(_lon__gte=lo + 360) | Q(_lon__lte=hi)
    if hi > 180:
        return Q(_lon__gte=lo) | Q(_lon__lte=hi - 360)
    return Q(_lon__gte=lo, _lon__lte=hi)


def _near_filter(
    qs: QuerySet, lat: float, lon: float, radius_km: float, *, probe: bool = False
) -> QuerySet:
    d = radius_km / EARTH_KM  # angular radius
    if d >= math.pi:
        return qs.filter(lat__isnull=False)
    dlat = math.degrees(d)
    lat_lo, lat_hi = max(-90.0, lat - dlat), min(90.0, lat + dlat)
    qs = qs.alias(_lat=_col("lat", probe), _lon=_col("lon", probe))
    box = Q(_lat__gte=lat_lo, _lat__lte=lat_hi)
    cos_lat = math.cos(math.radians(lat))
    if lat_lo > -90 and lat_hi < 90 and math.sin(d) < cos_lat:
        # The circle's widest longitude extent (exact on a sphere): asin(sin d / cos lat).
        dlon = math.degrees(math.asin(math.sin(d) / cos_lat)) + 1e-9
        box &= _lon_range(lon - dlon, lon + dlon)
    qs = qs.filter(box)
    # Haversine: keep hav(central angle) ≤ hav(d). Django's SQLite backend registers the math
    # functions used here; both databases compute it only on the rows left by the box.
    phi1 = math.radians(lat)
    hav = Power(Sin((Radians(F("lat")) - phi1) / 2), 2) + math.cos(phi1) * Cos(
        Radians(F("lat"))
    ) * Power(Sin((Radians(F("lon")) - math.radians(lon)) / 2), 2)
    return qs.alias(_hav=hav).filter(_hav__lte=math.sin(d / 2) ** 2)


def _bbox_filter(
    qs: QuerySet, s: float, w: float, n: float, e: float, *, probe: bool = False
) -> QuerySet:
    qs = qs.alias(_lat=_col("lat", probe), _lon=_col("lon", probe))
    box = Q(_lat__gte=s, _lat__lte=n)
    if w <= e:
        box &= Q(_lon__gte=w, _lon__lte=e)
    else:  # crosses the antimeridian: west edge to 180, and -180 to east edge
        box &= Q(_lon__gte=w) | Q(_lon__lte=e)
    return qs.filter(box)


def _segment_customer_ids(slug: str):
    from apiary.customers.models import Customer, Segment
    from apiary.customers.segments import segment_apply

    segment = Segment.objects.filter(slug=slug).first()
    if segment is None:
        raise _error("segment", _("No segment with the slug “%(slug)s”.") % {"slug": slug})
    live = Customer.objects.filter(
        deleted_at__isnull=True, merged_into__isnull=True, erased_at__isnull=True
    )
    return segment_apply(live, segment.filters).values("pk")


def _col(name: str, probe: bool):
    # In the probe plan ``lat + 0`` keeps the planner off the column's index: the probe's
    # id list must drive the query, or SQLite (no statistics) may sort a whole index range.
    return F(name) + 0 if probe else F(name)


def search_queryset(
    params: SearchParams,
    *,
    after_id: int | None = None,
    probe: bool = False,
    match_before: datetime | None = None,
) -> QuerySet[Mention]:
    """Mentions matching ``params``, ordered by time or reach (then id, newest first); with
    full text only the newest ``FTS_WINDOW`` matches (``RANK_WINDOW`` for relevance, which is
    ordered by ``relevance_page``, not here). ``after_id`` keeps mentions stored after that id
    (the live poller). ``probe=True`` writes the filters as row checks (``Exists``, ``lat + 0``)
    for a query already bounded by an id list; otherwise as index-driving forms (``IN``)."""
    qs = Mention.objects.all()
    parsed = params.parsed
    if parsed is not None:
        window = RANK_WINDOW if params.sort == "relevance" else FTS_WINDOW
        qs = qs.filter(pk__in=fts_window(params)[:window])
    if params.query_id is not None:
        marked = MentionIrrelevant.objects.filter(query_id=params.query_id)
        if probe:
            qs = qs.filter(
                Exists(
                    MentionMatch.objects.filter(mention=OuterRef("pk"), query_id=params.query_id)
                )
            ).exclude(Exists(marked.filter(mention=OuterRef("pk"))))
        elif params.sort == "time" and parsed is None:
            # Walk listening_match_query_time newest first (its created_at is the mention's)
            # and stop at the page's end: one join, in the same filter() so it is one join.
            on_match = {"matches__query_id": params.query_id}
            if match_before is not None:
                on_match["matches__created_at__lte"] = match_before
            qs = qs.filter(**on_match).exclude(pk__in=marked.values("mention_id"))
        else:
            # Driven by listening_match_query_time: cost ∝ this query's matches.
            matched = MentionMatch.objects.filter(query_id=params.query_id)
            qs = qs.filter(pk__in=matched.values("mention_id")).exclude(
                pk__in=marked.values("mention_id")
            )
    if params.kind is not None:
        marked = MentionIrrelevant.objects.filter(
            mention=OuterRef("mention"), query=OuterRef("query")
        )
        matches = MentionMatch.objects.filter(
            query__in=ListeningQuery.objects.filter(kind=params.kind).values("pk")
        ).exclude(Exists(marked))
        if probe:
            qs = qs.filter(Exists(matches.filter(mention=OuterRef("pk"))))
        else:
            qs = qs.filter(pk__in=matches.values("mention_id"))
    for name in ("sentiment", "language", "platform", "intent"):
        values = getattr(params, name)
        if len(values) == 1:
            qs = qs.filter(**{name: values[0]})
        elif values:
            qs = qs.filter(**{f"{name}__in": values})
    if params.country:
        qs = qs.filter(country__in=params.country)
    if params.region:
        qs = qs.filter(region=params.region)
    if params.city:
        qs = qs.filter(city=params.city)
    if params.since is not None:
        qs = qs.filter(created_at__gte=params.since)
    if params.until is not None:
        qs = qs.filter(created_at__lt=params.until)
    if params.customer_id is not None:
        qs = qs.filter(customer_id=params.customer_id)
    if params.segment:
        qs = qs.filter(customer_id__in=_segment_customer_ids(params.segment))
    if params.min_followers is not None:
        if probe:
            qs = qs.alias(_followers=_col("author_followers", True)).filter(
                _followers__gte=params.min_followers
            )
        else:  # few influential authors: their ids from listening_mention_reach, then sorted
            big = Mention.objects.filter(author_followers__gte=params.min_followers)
            qs = qs.filter(pk__in=big.values("pk"))
    if params.source_id is not None:
        qs = qs.filter(source_id=params.source_id)
    if params.tag:
        qs = qs.filter(pk__in=MentionTag.objects.filter(tag=params.tag).values("mention_id"))
    if params.near_point is not None:
        lat, lon = params.near_point
        qs = _near_filter(qs, lat, lon, params.radius_km, probe=probe)
    if params.box is not None:
        qs = _bbox_filter(qs, *params.box, probe=probe)
    if after_id is not None:
        qs = qs.filter(pk__gt=after_id)
    if params.query_id is not None and params.sort == "time" and parsed is None and not probe:
        return qs.order_by("-matches__created_at", "-pk")
    return _ordered(qs, "reach" if params.sort == "reach" else "time")


def _ordered(qs: QuerySet, sort: str) -> QuerySet:
    if sort == "reach":
        # listening_mention_reach (raw SQL in 0002): followers DESC NULLS LAST, id DESC.
        return qs.order_by(F("author_followers").desc(nulls_last=True), "-pk")
    return qs.order_by("-created_at", "-pk")


# --- Pages -----------------------------------------------------------------------------------


def _cursor_encode(sort: str, key: list) -> str:
    raw = json.dumps({"s": sort, "k": key}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _cursor_decode(cursor: str, sort: str) -> list:
    bad = _error("cursor", _("This cursor is not valid; use next_cursor from a previous page."))
    if len(cursor) > 200:
        raise bad
    try:
        data = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        key = data["k"]
        if data["s"] != sort:
            raise _error("cursor", _("This cursor belongs to another sort order."))
        if not (isinstance(key, list) and len(key) == 2 and isinstance(key[1], int)):
            raise bad
        if sort == "time":
            key[0] = datetime.fromisoformat(key[0])
        elif sort == "reach":
            if key[0] is not None and not isinstance(key[0], int):
                raise bad
        elif not isinstance(key[0], int | float):
            raise bad
    except SearchParamsError:
        raise
    except (ValueError, KeyError, TypeError, AttributeError):
        raise bad from None
    return key


def _after_cursor(qs: QuerySet, sort: str, key: list) -> QuerySet:
    value, pk = key
    if sort == "time":
        return qs.filter(Q(created_at__lt=value) | Q(created_at=value, pk__lt=pk))
    if value is None:
        return qs.filter(author_followers__isnull=True, pk__lt=pk)
    return qs.filter(
        Q(author_followers__lt=value)
        | Q(author_followers=value, pk__lt=pk)
        | Q(author_followers__isnull=True)
    )


def _key(mention: Mention, sort: str) -> list:
    if sort == "time":
        return [mention.created_at.isoformat(), mention.pk]
    if sort == "reach":
        return [mention.author_followers, mention.pk]
    return [mention.rank, mention.pk]


@dataclass
class SearchPage:
    items: list[Mention]
    next_cursor: str | None
    count: int
    count_capped: bool  # count is a lower bound: "1000+"
    text_window_full: bool  # the full-text window was full: older matches are not searched
    limit: int
    sort: str

    @property
    def count_label(self) -> str:
        return f"{self.count}+" if self.count_capped else str(self.count)


def _probe_bound(sort: str, key: list | None) -> Q | None:
    """A condition selecting a prefix of the sort order holding the first ``PROBE_ROWS``
    mentions after the cursor (``created_at >= t``, or ``followers >= f``), found with one
    OFFSET step along the index; ``None`` when no more than that many are left anyway."""
    qs = Mention.objects.all()
    if key is not None:
        qs = _after_cursor(qs, sort, key)
    field = "created_at" if sort == "time" else "author_followers"
    rows = list(_ordered(qs, sort).values_list(field, "pk")[PROBE_ROWS : PROBE_ROWS + 1])
    if not rows:
        return None
    value, pk = rows[0]
    if value is None:  # reach order reached the mentions with unknown followers (last)
        return Q(author_followers__isnull=False) | Q(author_followers__isnull=True, pk__gte=pk)
    return Q(**{f"{field}__gte": value})


def _capped(qs: QuerySet) -> int:
    return qs.order_by().values("pk")[: COUNT_CAP + 1].count()


def _ordered_page(params: SearchParams, key: list | None, limit: int):
    """Time or reach order. Without full text, first the **probe**: the filters checked on
    the first ``PROBE_ROWS`` mentions in sort order (an index range, bounded whatever the
    filters). If that fills the page, it is exactly the page (every mention outside comes later
    in the order). If not, the matches are sparse and the query runs on the whole table with
    index-driving filters (query matches, place, followers), whose cost follows the matches."""
    sort = params.sort
    if params.q:
        qs = search_queryset(params)  # bounded by the full-text window already
        if key is not None:
            qs = _after_cursor(qs, sort, key)
        rows = list(qs.select_related("customer")[: limit + 1])
        count = _capped(search_queryset(params))
        return rows, min(count, COUNT_CAP), count > COUNT_CAP
    probed = search_queryset(params, probe=True)
    bound = _probe_bound(sort, key)
    page = probed if key is None else _after_cursor(probed, sort, key)
    if bound is not None:
        page = page.filter(bound)
    rows = list(page.select_related("customer")[: limit + 1])
    sparse = bound is not None and len(rows) <= limit
    if sparse:
        before = key[0] if key is not None and sort == "time" else None
        full = search_queryset(params, match_before=before)
        if key is not None:
            full = _after_cursor(full, sort, key)
        rows = list(full.select_related("customer")[: limit + 1])
    # The count: matches among the newest PROBE_ROWS mentions (bounded), exact when that is
    # the whole table or the whole result fits on this first page; else a lower bound ("N+").
    newest = bound if sort == "time" and key is None else _probe_bound("time", None)
    count = _capped(probed.filter(newest) if newest is not None else probed)
    if count > COUNT_CAP:
        return rows, COUNT_CAP, True
    if newest is None:
        return rows, count, False
    if sparse and key is None and len(rows) <= limit:
        return rows, len(rows), False
    return rows, max(count, min(len(rows), limit)), True


def _window_ranks(parsed: search_text.ParsedQuery | str, window: int) -> list[tuple[int, float]]:
    """(id, relevance) of the newest ``window`` matches, from one index query: FTS5 works out
    bm25's term statistics once per query, so ranking row by row would redo it per row."""
    if isinstance(parsed, str):  # a ready tsquery/MATCH pair is passed as "fts5\ttsquery"
        fts5, tsq = parsed.split("\t")
    else:
        fts5, tsq = parsed.fts5(), parsed.tsquery()
    with connection.cursor() as cur:
        if connection.vendor == "postgresql":
            cur.execute(PG_RANKED, [tsq, tsq, window])
        else:
            cur.execute(SQLITE_RANKED, [fts5, window])
        return [(int(i), float(r)) for i, r in cur.fetchall()]


def _ranked_page(params: SearchParams, key: list | None, limit: int, *, window: int):
    """Relevance order over the newest ``window`` matches: their (id, rank) pairs come back in
    one query (at most ``window`` small tuples), the other filters are one ``IN`` query over
    those ids, and the page is the best ``limit`` of what is left."""
    ranked = _window_ranks(params.parsed, window)
    rest = params.model_copy(update={"q": None, "sort": "time"})
    keep = set(
        search_queryset(rest, probe=True)
        .filter(pk__in=[i for i, _r in ranked])
        .order_by()
        .values_list("pk", flat=True)
    )
    order = sorted(((r, i) for i, r in ranked if i in keep), reverse=True)
    if key is not None:
        order = [(r, i) for r, i in order if (r, i) < (key[0], key[1])]
    chosen = order[: limit + 1]
    found = Mention.objects.select_related("customer").in_bulk([i for _r, i in chosen])
    rows = []
    for r, i in chosen:
        if i in found:
            found[i].rank = r
            rows.append(found[i])
    return rows, min(len(keep), COUNT_CAP), len(keep) > COUNT_CAP, len(ranked) >= window


def relevance_ranked(params: SearchParams) -> list[Mention]:
    """Every match of a relevance search, best first (tests and small exports)."""
    return _ranked_page(params, None, RANK_WINDOW, window=RANK_WINDOW)[0]


def search_page(
    params: SearchParams, *, cursor: str | None = None, limit: int = DEFAULT_LIMIT
) -> SearchPage:
    key = _cursor_decode(cursor, params.sort) if cursor else None
    window_full = False
    if params.sort == "relevance":
        rows, count, capped, window_full = _ranked_page(params, key, limit, window=RANK_WINDOW)
    else:
        rows, count, capped = _ordered_page(params, key, limit)
        if params.parsed is not None:
            window_full = len(fts_window(params)) > FTS_WINDOW
    more = len(rows) > limit
    items = rows[:limit]
    next_cursor = _cursor_encode(params.sort, _key(items[-1], params.sort)) if more else None
    return SearchPage(
        items=items,
        next_cursor=next_cursor,
        count=count,
        count_capped=capped,
        text_window_full=window_full,
        limit=limit,
        sort=params.sort,
    )


LIVE_SCAN = 5_000  # the live poller looks at most at this many newly stored mentions per call


def live_rows(params: SearchParams, *, after: int, limit: int) -> tuple[list[Mention], int]:
    """Mentions stored after id ``after`` that match, newest first, and the id to poll after
    next time. The new ids come first from the primary key alone (a short range at the end of
    the table), then the filters are checked on exactly those rows: no filter can make the
    database walk an index instead. The cursor moves past everything looked at, matching or
    not, so a search that matches nothing never rescans."""
    new_ids = list(
        Mention.objects.filter(pk__gt=after)
        .order_by("-pk")
        .values_list("pk", flat=True)[:LIVE_SCAN]
    )
    if not new_ids:
        return [], after
    params = params.model_copy(update={"sort": "time"})
    rows = list(
        search_queryset(params, probe=True)
        .filter(pk__in=new_ids)
        .order_by("-pk")
        .select_related("customer")[:limit]
    )
    return rows, new_ids[0]


# --- Mention detail --------------------------------------------------------------------------

THREAD_LIMIT = 50
SIMILAR_LIMIT = 5
SIMILAR_TERMS = 8


def mention_thread(mention: Mention) -> dict:
    """The parent (if stored) and the replies, on the same platform; both index lookups
    (``listening_mention_key`` and ``listening_mention_parent``)."""
    parent = None
    if mention.parent_external_id:
        parent = Mention.objects.filter(
            platform=mention.platform, external_id=mention.parent_external_id
        ).first()
    replies = list(
        Mention.objects.filter(platform=mention.platform, parent_external_id=mention.external_id)
        .exclude(pk=mention.pk)
        .order_by("created_at", "pk")[:THREAD_LIMIT]
    )
    return {"parent": parent, "replies": replies}


def similar_terms(text: str) -> list[str]:
    """The mention's most telling words: distinct, at least 4 letters, not numbers; longest
    first (a cheap stand-in for rarity that needs no statistics)."""
    seen: dict[str, None] = {}
    for tok in search_text.tokens(text):
        if len(tok) >= 4 and not tok.isdigit():
            seen.setdefault(tok, None)
    return sorted(seen, key=lambda t: (-len(t), t))[:SIMILAR_TERMS]


def mention_similar(mention: Mention, *, limit: int = SIMILAR_LIMIT) -> list[Mention]:
    """Mentions in the same language sharing its top terms, best ranked among the newest
    ``SIMILAR_WINDOW`` that contain any of them (one ranked index query, then one ``IN``)."""
    terms = similar_terms(mention.text)
    if not terms:
        return []
    pair = " OR ".join(f'"{t}"' for t in terms) + "\t" + " | ".join(f"'{t}'" for t in terms)
    ranked = [(i, r) for i, r in _window_ranks(pair, SIMILAR_WINDOW + 1) if i != mention.pk]
    same = set(
        Mention.objects.filter(pk__in=[i for i, _r in ranked], language=mention.language)
        .order_by()
        .values_list("pk", flat=True)
    )
    best = sorted(((r, i) for i, r in ranked if i in same), reverse=True)[:limit]
    found = Mention.objects.in_bulk([i for _r, i in best])
    return [found[i] for _r, i in best if i in found]


def mention_queries(mention: Mention) -> list[dict]:
    """The queries that matched, each with whether someone marked it irrelevant there."""
    ids = list(MentionMatch.objects.filter(mention=mention).values_list("query_id", flat=True))
    marked = set(
        MentionIrrelevant.objects.filter(mention=mention).values_list("query_id", flat=True)
    )
    return [
        {"id": q.pk, "name": q.name, "kind": q.kind, "irrelevant": q.pk in marked}
        for q in ListeningQuery.objects.filter(pk__in=ids).order_by("kind", "name")
    ]


def mention_tags(mention: Mention) -> list[str]:
    return list(
        MentionTag.objects.filter(mention=mention).order_by("tag").values_list("tag", flat=True)
    )


def irrelevant_counts() -> dict[int, int]:
    """Per query, how many mentions were marked irrelevant (the feedback table is small)."""
    from django.db.models import Count

    rows = MentionIrrelevant.objects.values("query_id").annotate(n=Count("pk")).order_by()
    return {r["query_id"]: r["n"] for r in rows}
