"""Listening insight API: the numbers behind the barometer, share-of-voice, competitor-watch
and platform-focus charts (``/api/v1/listening/…``). Computed by ``insight.py`` in the
database from the hourly rollups; handlers only check input and translate HTTP."""

from datetime import datetime
from typing import Literal

from django.utils.translation import gettext as _
from ninja import Field, Query, Router, Schema

from apiary.accounts.access import Perm, api_require
from apiary.core.errors import ApiError
from apiary.core.schemas import StrictIn

from . import exports, insight
from .raw import PLATFORMS

router = Router(tags=["listening insight"])

Interval = Literal["hour", "day", "week"]
Language = Literal["en", "ru", "es", "other", "und"]
Platform = Literal[tuple(sorted(PLATFORMS))]  # type: ignore[valid-type]


def _no_unknown(request, schema: type[Schema]) -> None:
    unknown = set(request.GET) - set(schema.model_fields)
    if unknown:
        raise ApiError(
            422,
            "unknown_filter",
            _("Unknown filter(s): %(names)s.") % {"names": ", ".join(sorted(unknown))},
        )


Format = Literal["json", "csv"]
FORMAT_HELP = "json (default) or csv: one table of the answer as CSV (see `table`)"
TABLE_HELP = "with format=csv, which table: %s (default: the first)"


def _answer(view: str, data: dict, q, filename: str):
    """The answer as JSON, or with ``format=csv`` one of its tables (exports.TABLES)."""
    if q.format == "csv":
        return exports.export(view, q.table, data, filename)
    if q.table is not None:
        raise ApiError(422, "invalid_table", _("table is only used with format=csv."))
    return data


def _compare(start: datetime | None, end: datetime | None) -> insight.Window | None:
    if start is None and end is None:
        return None
    if start is None or end is None:
        raise ApiError(
            422,
            "invalid_range",
            _("Give both compare_start and compare_end, or neither."),
        )
    return insight.window(start, end, names=("compare_start", "compare_end"))


# --- Answer shapes -------------------------------------------------------------------------


class QueryRef(Schema):
    id: int
    name: str
    kind: str


class FiltersOut(Schema):
    platform: str | None
    country: str | None
    language: str | None


class MixOut(Schema):
    volume: int
    positive: int
    neutral: int
    negative: int
    net_sentiment: float | None = Field(description="(positive − negative) / volume")


class BucketOut(MixOut):
    start: datetime


class BaselineOut(Schema):
    median: float
    mad: float
    threshold: float


class SpikeRuleOut(Schema):
    k: float
    min_negative: int
    min_buckets: int
    mad_scale: float


class SpikeOut(Schema):
    start: datetime
    end: datetime
    negative: int
    volume: int
    score: float = Field(description="(negative − median) / scale")


class CompareOut(Schema):
    start: datetime
    end: datetime
    totals: MixOut
    buckets: list[BucketOut] = Field(description="the compared period's buckets, for overlays")
    delta: dict[str, float | int | None] = Field(description="main period − compared period")
    volume_change: float | None = Field(description="relative change of volume")


class BarometerOut(Schema):
    query: QueryRef | None
    interval: str
    start: datetime
    end: datetime
    filters: FiltersOut
    totals: MixOut
    buckets: list[BucketOut]
    baseline: BaselineOut | None
    spike_rule: SpikeRuleOut
    spikes: list[SpikeOut]
    compare: CompareOut | None


class ShareOut(Schema):
    query_id: int
    value: int
    share: float | None


class SovQueryOut(ShareOut):
    name: str
    kind: str


class SovBucketOut(Schema):
    start: datetime
    total: int
    values: list[ShareOut]


class SovPlatformOut(Schema):
    platform: str
    total: int
    values: list[ShareOut]


class SovCountryOut(Schema):
    country: str = Field(description='ISO 3166 code; "" = place unknown')
    total: int
    values: list[ShareOut]


class ShareOfVoiceOut(Schema):
    start: datetime
    end: datetime
    by: str
    interval: str
    filters: FiltersOut
    total: int
    queries: list[SovQueryOut]
    over_time: list[SovBucketOut]
    by_platform: list[SovPlatformOut]
    by_country: list[SovCountryOut]


class PostOut(Schema):
    id: int
    platform: str
    external_id: str
    url: str
    text: str
    created_at: datetime
    author_handle: str
    author_name: str
    author_followers: int | None
    language: str
    sentiment: str
    country: str


class MomentOut(SpikeOut):
    posts: list[PostOut]


class WatchTotalsOut(MixOut):
    reach: int


class WatchPlatformOut(Schema):
    platform: str
    volume: int
    share: float | None


class SentimentMixOut(Schema):
    positive: float | None
    neutral: float | None
    negative: float | None


class CompetitorWatchOut(Schema):
    query: QueryRef
    start: datetime
    end: datetime
    interval: str
    totals: WatchTotalsOut
    sentiment_mix: SentimentMixOut
    by_platform: list[WatchPlatformOut]
    buckets: list[BucketOut]
    top_posts: list[PostOut]
    baseline: BaselineOut | None
    spike_rule: SpikeRuleOut
    negative_moments: list[MomentOut]


class FocusRowOut(Schema):
    rank: int
    platform: str
    brand_mentions: int
    brand_share: float | None
    customer_mentions: int
    customer_share: float | None
    customers: int


class RecommendationOut(Schema):
    basis: Literal["customers", "brand"] | None
    platforms: list[str]
    customer_share: float | None
    brand_share: float | None
    coverage_target: float
    text: str


class PlatformFocusOut(Schema):
    start: datetime
    end: datetime
    country: str | None
    brand_query_ids: list[int]
    brand_mentions: int
    customer_mentions: int
    platforms: list[FocusRowOut]
    recommendation: RecommendationOut


# --- Endpoints -----------------------------------------------------------------------------


class BarometerQuery(StrictIn):
    query_id: int = Field(0, ge=0, description="0 = all mentions")
    interval: Interval = "day"
    start: datetime | None = None
    end: datetime | None = None
    compare_start: datetime | None = None
    compare_end: datetime | None = None
    country: str | None = None
    platform: Platform | None = None
    language: Language | None = None
    format: Format = Field("json", description=FORMAT_HELP)
    table: str | None = Field(None, description=TABLE_HELP % "buckets, spikes")


@router.get("/listening/barometer", response=BarometerOut)
def barometer(request, q: Query[BarometerQuery]):
    """Volume and net sentiment per hour/day/week (empty buckets filled with zeros), spikes of
    negative volume, and with `compare_start`/`compare_end` the totals of a second period."""
    api_require(request, Perm.LISTENING_VIEW)
    _no_unknown(request, BarometerQuery)
    win = insight.window(q.start, q.end)
    compare = _compare(q.compare_start, q.compare_end)
    f = insight.filters(platform=q.platform, country=q.country, language=q.language)
    query = insight.query_get(q.query_id) if q.query_id else None
    data = insight.barometer(query=query, win=win, interval=q.interval, f=f, compare=compare)
    return _answer("barometer", data, q, "barometer")


class ShareOfVoiceQuery(StrictIn):
    start: datetime | None = None
    end: datetime | None = None
    by: Literal["volume", "positive", "reach"] = "volume"
    interval: Interval = "day"
    platform: Platform | None = None
    country: str | None = None
    format: Format = Field("json", description=FORMAT_HELP)
    table: str | None = Field(
        None, description=TABLE_HELP % "queries, over_time, by_platform, by_country"
    )


@router.get("/listening/share-of-voice", response=ShareOfVoiceOut)
def share_of_voice(request, q: Query[ShareOfVoiceQuery]):
    """Each active brand and competitor query's volume, positive volume or reach, and its
    share (summing to 1), over time and by platform and by country."""
    api_require(request, Perm.LISTENING_VIEW)
    _no_unknown(request, ShareOfVoiceQuery)
    win = insight.window(q.start, q.end)
    f = insight.filters(platform=q.platform, country=q.country)
    data = insight.share_of_voice(win=win, by=q.by, interval=q.interval, f=f)
    return _answer("share_of_voice", data, q, "share-of-voice")


class CompetitorQuery(StrictIn):
    start: datetime | None = None
    end: datetime | None = None
    interval: Interval = "day"
    top: int = Field(insight.TOP_POSTS_DEFAULT, ge=1, le=insight.TOP_POSTS_MAX)
    format: Format = Field("json", description=FORMAT_HELP)
    table: str | None = Field(
        None, description=TABLE_HELP % "buckets, platforms, top_posts, moments"
    )


@router.get("/listening/competitors/{query_id}", response=CompetitorWatchOut)
def competitor_watch(request, query_id: int, q: Query[CompetitorQuery]):
    """A competitor (or brand) query: volume, sentiment mix, platforms, top posts by the
    author's followers, and its negative moments (opportunities) with their posts."""
    api_require(request, Perm.LISTENING_VIEW)
    _no_unknown(request, CompetitorQuery)
    win = insight.window(q.start, q.end)
    query = insight.query_get(query_id, kinds=("competitor", "brand"))
    data = insight.competitor_watch(query=query, win=win, interval=q.interval, top=q.top)
    return _answer("competitor", data, q, f"competitor-{query.pk}")


class PlatformFocusQuery(StrictIn):
    start: datetime | None = None
    end: datetime | None = None
    query_id: int | None = Field(None, ge=1, description="a brand query; default: all of them")
    country: str | None = None
    format: Format = Field("json", description=FORMAT_HELP)
    table: str | None = Field(None, description=TABLE_HELP % "platforms")


@router.get("/listening/platform-focus", response=PlatformFocusOut)
def platform_focus(request, q: Query[PlatformFocusQuery]):
    """Per platform: brand mentions and known customers' mentions with their shares, ranked by
    customers' share, and the 2–3 networks to focus on."""
    api_require(request, Perm.LISTENING_VIEW)
    _no_unknown(request, PlatformFocusQuery)
    win = insight.window(q.start, q.end)
    f = insight.filters(country=q.country)
    query = insight.query_get(q.query_id, kinds=("brand",)) if q.query_id else None
    data = insight.platform_focus(win=win, query=query, country=f.country)
    return _answer("platform_focus", data, q, "platform-focus")
