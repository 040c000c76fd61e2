"""Listening insight: the numbers behind the charts, computed in the database.

Every metric is a ``GROUP BY`` over the rollups (counts and reach by query — ``0`` is "all
mentions" —, platform, language, sentiment and country), read through :class:`RollupSet`: whole
UTC days from ``MentionRollupDay``, the partial days at a window's edges and every hour-interval
chart from the hourly ``MentionRollup``. ``MentionMatch`` and ``Mention`` are read only where
the rollups cannot answer: top posts (the newest ``TOP_POSTS_SCAN`` matches of the window),
customers' mentions (the rollups have no customer dimension) and brand mentions across several
brand queries (a mention matching two of them is one mention, not two). Python only sums the
parts' few result rows, fills empty buckets with zeros and computes the spike baseline over
the aggregated series (at most ``MAX_BUCKETS`` numbers).

Weeks start on Monday (stored as ``week`` in the daily table; ``Trunc`` with ``tzinfo=UTC`` on
the hourly edge rows, the same on SQLite and PostgreSQL). Because the finest counts are hourly,
a window is widened to whole hours: the start is floored and the end ceiled to the hour, and
answers give the effective window.

Bad input raises :class:`apiary.core.errors.ApiError` (a 4xx with a code), so the API, a view or
a command can show the message as it is.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from django.db.models import Count, DateTimeField, Exists, F, OuterRef, Q, QuerySet, Sum
from django.db.models.functions import Trunc
from django.utils import timezone
from django.utils.translation import gettext as _

from apiary.core.errors import ApiError
from apiary.core.times import assume_utc

from .models import (
    ListeningQuery,
    Mention,
    MentionMatch,
    MentionRollup,
    MentionRollupDay,
    QueryKind,
)
from .raw import PLATFORMS

# --- Settings-like constants ---------------------------------------------------------------

INTERVALS: dict[str, timedelta] = {
    "hour": timedelta(hours=1),
    "day": timedelta(days=1),
    "week": timedelta(days=7),
}
MAX_BUCKETS = 5_000  # per series: 2 years by hour (17,520) is refused with a clear message
DEFAULT_DAYS = 30  # window when start / end are not given: the last 30 days
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)  # nothing older is ever stored (raw.EARLIEST)
LATEST = datetime(2100, 1, 1, tzinfo=UTC)

# Spikes: a bucket is a spike when its negative volume is at least SPIKE_MIN_NEGATIVE and above
# median + SPIKE_K × scale of the series' negative volumes, where scale is the MAD (× 1.4826,
# the normal-consistency factor) but never below √median (counts are Poisson-like: a calm
# series with MAD 0 still has noise of about √mean) nor below 1.
SPIKE_K = 3.0
SPIKE_MIN_NEGATIVE = 5
SPIKE_MIN_BUCKETS = 6  # fewer buckets give no baseline worth the name: no spikes reported
MAD_SCALE = 1.4826

TOP_POSTS_DEFAULT = 10
TOP_POSTS_MAX = 50
MOMENT_POSTS = 3  # negative posts shown with each negative moment of a competitor
MAX_MOMENTS = 10  # the strongest negative moments listed by competitor watch

# Platform focus: recommend the smallest set of 2–3 networks covering RECOMMEND_COVERAGE of
# customers' mentions (or of brand mentions when no customer is known yet).
RECOMMEND_MIN = 2
RECOMMEND_MAX = 3
RECOMMEND_COVERAGE = 0.8

LANGUAGES = ("en", "ru", "es", "other", "und")
SENTIMENTS = ("positive", "neutral", "negative")


# --- Windows, buckets, filters -------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Window:
    """``[start, end)`` in UTC, on whole hours."""

    start: datetime
    end: datetime

    def out(self) -> dict:
        return {"start": self.start, "end": self.end}


def _floor_hour(t: datetime) -> datetime:
    return t.replace(minute=0, second=0, microsecond=0)


def _ceil_hour(t: datetime) -> datetime:
    floored = _floor_hour(t)
    return floored if floored == t else floored + timedelta(hours=1)


def window(
    start: datetime | None, end: datetime | None, *, names: tuple[str, str] = ("start", "end")
) -> Window:
    """The effective window for ``start``/``end`` (no zone = UTC; default: the last 30 days)."""

    def checked(name: str, value: datetime) -> datetime:
        try:
            value = assume_utc(value).astimezone(UTC)
        except OverflowError:  # year 1 with a positive offset, year 9999 with a negative one
            value = None
        if value is None or not EARLIEST <= value <= LATEST:
            raise ApiError(
                422,
                "out_of_range",
                _("%(name)s must be between %(earliest)s and %(latest)s.")
                % {"name": name, "earliest": "2000-01-01", "latest": "2100-01-01"},
            )
        return value

    end = checked(names[1], end) if end is not None else _ceil_hour(timezone.now())
    start = checked(names[0], start) if start is not None else end - timedelta(days=DEFAULT_DAYS)
    if start >= end:
        raise ApiError(
            422,
            "invalid_range",
            _("%(start)s must be before %(end)s.") % {"start": names[0], "end": names[1]},
        )
    return Window(_floor_hour(start), _ceil_hour(end))


def _floor(t: datetime, interval: str) -> datetime:
    t = _floor_hour(t)
    if interval == "hour":
        return t
    t = t.replace(hour=0)
    if interval == "week":
        t -= timedelta(days=t.weekday())
    return t


def bucket_starts(win: Window, interval: str) -> list[datetime]:
    """Every bucket start of ``interval`` overlapping ``win`` (the first may begin before it)."""
    if interval not in INTERVALS:
        raise ApiError(
            422,
            "invalid_interval",
            _("interval must be one of: %(names)s.") % {"names": ", ".join(INTERVALS)},
        )
    step = INTERVALS[interval]
    first = _floor(win.start, interval)
    n = math.ceil((win.end - first) / step)
    if n > MAX_BUCKETS:
        raise ApiError(
            422,
            "too_many_buckets",
            _(
                "This range holds %(n)s %(interval)s buckets; at most %(max)s are allowed. "
                "Choose a shorter range or a longer interval."
            )
            % {"n": f"{n:,}", "interval": interval, "max": f"{MAX_BUCKETS:,}"},
        )
    return [first + i * step for i in range(n)]


def _bucket_expr(interval: str, table: str = "hour"):
    """The bucket start of a rollup row: stored columns on the daily table (``day``, ``week``),
    a truncation of ``hour`` on the hourly one (only edge days and hour charts read it)."""
    if table == "day":
        return F("week") if interval == "week" else F("day")
    if interval == "hour":
        return F("hour")  # rollups are hourly already
    return Trunc("hour", interval, output_field=DateTimeField(), tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class Filters:
    platform: str | None = None
    country: str | None = None
    language: str | None = None

    def out(self) -> dict:
        return {"platform": self.platform, "country": self.country, "language": self.language}


def filters(
    *, platform: str | None = None, country: str | None = None, language: str | None = None
) -> Filters:
    if platform is not None and platform not in PLATFORMS:
        raise ApiError(
            422,
            "invalid_platform",
            _("Unknown platform %(value)r; use one of: %(names)s.")
            % {"value": platform, "names": ", ".join(sorted(PLATFORMS))},
        )
    if country is not None:
        country = country.strip().upper()
        if len(country) != 2 or not country.isascii() or not country.isalpha():
            raise ApiError(
                422,
                "invalid_country",
                _("country must be a two-letter ISO 3166 code such as ES or RU."),
            )
    if language is not None and language not in LANGUAGES:
        raise ApiError(
            422,
            "invalid_language",
            _("language must be one of: %(names)s.") % {"names": ", ".join(LANGUAGES)},
        )
    return Filters(platform=platform or None, country=country or None, language=language)


class RollupSet:
    """The rollup rows covering a window, as up to three querysets: whole UTC days from the
    daily table (``MentionRollupDay``), the partial days at the window's edges — and every
    hour-interval chart — from the hourly one (``MentionRollup``). Aggregates run in the
    database on each part and the (few) result rows are summed here. At 10M mentions the
    hourly table holds almost a row per mention, so a 90-day chart read from it alone summed
    millions of rows; from the daily table it sums thousands.

    Only ``count`` and ``reach`` sums are allowed as aggregates (they add up across parts)."""

    def __init__(self, parts: list[tuple[str, QuerySet]]) -> None:
        self.parts = parts  # ("hour" | "day", queryset)

    def filter(self, *args, **kwargs) -> RollupSet:
        return RollupSet([(kind, qs.filter(*args, **kwargs)) for kind, qs in self.parts])

    def aggregate(self, **aggregates) -> dict:
        out: dict[str, int] = dict.fromkeys(aggregates, 0)
        for _kind, qs in self.parts:
            for name, value in qs.aggregate(**aggregates).items():
                out[name] += int(value or 0)
        return out

    def group(self, *keys: str, interval: str | None = None, **aggregates) -> list[dict]:
        """``values(*keys).annotate(**aggregates)`` summed across the parts; the key
        ``"bucket"`` is the start of each ``interval`` bucket."""
        merged: dict[tuple, dict] = {}
        for kind, qs in self.parts:
            if "bucket" in keys:
                qs = qs.annotate(bucket=_bucket_expr(interval or "day", kind))
            for row in qs.values(*keys).annotate(**aggregates).order_by():
                key = tuple(row[k] for k in keys)
                into = merged.get(key)
                if into is None:
                    merged[key] = {**row, **{a: int(row[a] or 0) for a in aggregates}}
                else:
                    for a in aggregates:
                        into[a] += int(row[a] or 0)
        return list(merged.values())


def _day_floor(t: datetime) -> datetime:
    return t.replace(hour=0, minute=0, second=0, microsecond=0)


def _rollups(win: Window, f: Filters | None = None, *, interval: str | None = None) -> RollupSet:
    def narrow(qs):
        if f is not None:
            if f.platform:
                qs = qs.filter(platform=f.platform)
            if f.country:
                qs = qs.filter(country=f.country)
            if f.language:
                qs = qs.filter(language=f.language)
        return qs.order_by()

    def hourly(start, end):
        return ("hour", narrow(MentionRollup.objects.filter(hour__gte=start, hour__lt=end)))

    first_day = _day_floor(win.start)
    if first_day < win.start:
        first_day += timedelta(days=1)
    last_day = _day_floor(win.end)
    if interval == "hour" or first_day >= last_day:
        return RollupSet([hourly(win.start, win.end)])
    parts = [("day", narrow(MentionRollupDay.objects.filter(day__gte=first_day, day__lt=last_day)))]
    if win.start < first_day:
        parts.append(hourly(win.start, first_day))
    if last_day < win.end:
        parts.append(hourly(last_day, win.end))
    return RollupSet(parts)


def _mix_aggregates() -> dict:
    return {
        "volume": Sum("count"),
        **{s: Sum("count", filter=Q(sentiment=s)) for s in SENTIMENTS},
    }


def _mix(row: dict | None) -> dict:
    row = row or {}
    out = {key: int(row.get(key) or 0) for key in ("volume", *SENTIMENTS)}
    out["net_sentiment"] = (
        (out["positive"] - out["negative"]) / out["volume"] if out["volume"] else None
    )
    return out


def _share(value: int, total: int) -> float | None:
    return value / total if total else None


# --- Queries -------------------------------------------------------------------------------


def query_get(query_id: int, *, kinds: tuple[str, ...] | None = None) -> ListeningQuery:
    """The query, or 404; a query of another kind than ``kinds`` is a 422."""
    # An id beyond a 64-bit integer cannot exist (and would overflow the database driver).
    in_range = 0 < query_id < 2**63
    query = ListeningQuery.objects.filter(pk=query_id).first() if in_range else None
    if query is None:
        raise ApiError(404, "not_found", _("No such query."))
    if kinds is not None and query.kind not in kinds:
        raise ApiError(
            422,
            "wrong_query_kind",
            _("Query %(id)s is a %(kind)s query; this needs a %(kinds)s query.")
            % {"id": query.pk, "kind": query.kind, "kinds": "/".join(kinds)},
        )
    return query


def _query_out(query: ListeningQuery | None) -> dict | None:
    if query is None:
        return None
    return {"id": query.pk, "name": query.name, "kind": query.kind}


# --- Sentiment barometer -------------------------------------------------------------------


def series(query_id: int, win: Window, interval: str, f: Filters | None = None) -> list[dict]:
    """Volume and sentiment per bucket for one query (0 = all mentions), zero-filled."""
    starts = bucket_starts(win, interval)
    rows = (
        _rollups(win, f, interval=interval)
        .filter(query_id=query_id)
        .group("bucket", interval=interval, **_mix_aggregates())
    )
    by_start = {r["bucket"]: r for r in rows}
    return [{"start": s, **_mix(by_start.get(s))} for s in starts]


def totals(query_id: int, win: Window, f: Filters | None = None) -> dict:
    row = _rollups(win, f).filter(query_id=query_id).aggregate(**_mix_aggregates())
    return _mix(row)


def totals_by_query(query_ids: list[int], win: Window, f: Filters | None = None) -> dict:
    """``totals()`` for several queries in one GROUP BY (the rollup key serves the hour range)."""
    rows = _rollups(win, f).filter(query_id__in=query_ids).group("query_id", **_mix_aggregates())
    by_id = {r["query_id"]: r for r in rows}
    return {qid: _mix(by_id.get(qid)) for qid in query_ids}


def spikes(buckets: list[dict], interval: str) -> tuple[dict | None, list[dict]]:
    """``(baseline, spikes)``: buckets whose negative volume is far above the series' median
    (robust to the spikes themselves: median + SPIKE_K × MAD, see the constants above)."""
    negatives = [b["negative"] for b in buckets]
    if len(negatives) < SPIKE_MIN_BUCKETS:
        return None, []
    median = statistics.median(negatives)
    mad = statistics.median(abs(x - median) for x in negatives)
    scale = max(MAD_SCALE * mad, math.sqrt(median), 1.0)
    threshold = median + SPIKE_K * scale
    step = INTERVALS[interval]
    found = [
        {
            "start": b["start"],
            "end": b["start"] + step,
            "negative": b["negative"],
            "volume": b["volume"],
            "score": round((b["negative"] - median) / scale, 2),
        }
        for b in buckets
        if b["negative"] >= SPIKE_MIN_NEGATIVE and b["negative"] > threshold
    ]
    baseline = {"median": float(median), "mad": float(mad), "threshold": threshold}
    return baseline, found


def _spike_rule() -> dict:
    return {
        "k": SPIKE_K,
        "min_negative": SPIKE_MIN_NEGATIVE,
        "min_buckets": SPIKE_MIN_BUCKETS,
        "mad_scale": MAD_SCALE,
    }


def barometer(
    *,
    query: ListeningQuery | None,
    win: Window,
    interval: str = "day",
    f: Filters | None = None,
    compare: Window | None = None,
) -> dict:
    """Volume and net sentiment over time for a query (None = all mentions), with spikes of
    negative volume and, given ``compare``, the same totals for a second period with deltas."""
    f = f or Filters()
    qid = query.pk if query is not None else 0
    buckets = series(qid, win, interval, f)
    baseline, found = spikes(buckets, interval)
    main = _mix(
        {k: sum(b[k] for b in buckets) for k in ("volume", *SENTIMENTS)}
    )  # == totals(qid, win, f): the buckets cover the window exactly
    out: dict[str, Any] = {
        "query": _query_out(query),
        "interval": interval,
        **win.out(),
        "filters": f.out(),
        "totals": main,
        "buckets": buckets,
        "baseline": baseline,
        "spike_rule": _spike_rule(),
        "spikes": found,
        "compare": None,
    }
    if compare is not None:
        other = totals(qid, compare, f)
        delta = {k: main[k] - other[k] for k in ("volume", *SENTIMENTS)}
        delta["net_sentiment"] = (
            main["net_sentiment"] - other["net_sentiment"]
            if main["net_sentiment"] is not None and other["net_sentiment"] is not None
            else None
        )
        out["compare"] = {
            **compare.out(),
            "totals": other,
            # For the chart's overlay: bucket i of the compared period beside bucket i here.
            "buckets": series(qid, compare, interval, f),
            "delta": delta,
            "volume_change": (
                (main["volume"] - other["volume"]) / other["volume"] if other["volume"] else None
            ),
        }
    return out


# --- Share of voice ------------------------------------------------------------------------

SOV_MEASURES = ("volume", "positive", "reach")


def _measure(by: str):
    if by == "volume":
        return Sum("count")
    if by == "positive":
        return Sum("count", filter=Q(sentiment="positive"))
    if by == "reach":
        return Sum("reach")
    raise ApiError(
        422,
        "invalid_measure",
        _("by must be one of: %(names)s.") % {"names": ", ".join(SOV_MEASURES)},
    )


def _sov_values(ids: list[int], values: dict[int, int]) -> tuple[int, list[dict]]:
    total = sum(values.get(i, 0) for i in ids)
    return total, [
        {"query_id": i, "value": values.get(i, 0), "share": _share(values.get(i, 0), total)}
        for i in ids
    ]


def share_of_voice(
    *,
    win: Window,
    by: str = "volume",
    interval: str = "day",
    f: Filters | None = None,
) -> dict:
    """Brand query(ies) against each competitor query (active ones): value and share (summing
    to 1), over time and by platform and by country. A mention matching two of the queries
    counts for both, as share of voice usually does."""
    f = f or Filters()
    measure = _measure(by)
    starts = bucket_starts(win, interval)
    queries = list(
        ListeningQuery.objects.filter(
            kind__in=[QueryKind.BRAND, QueryKind.COMPETITOR], active=True
        ).order_by("kind", "name", "pk")  # "brand" sorts before "competitor"
    )
    ids = [q.pk for q in queries]
    base = _rollups(win, f).filter(query_id__in=ids)

    overall = {r["query_id"]: r["v"] for r in base.group("query_id", v=measure)}
    total, values = _sov_values(ids, overall)
    entries = [
        {"query_id": q.pk, "name": q.name, "kind": q.kind, **{k: v[k] for k in ("value", "share")}}
        for q, v in zip(queries, values, strict=True)
    ]

    def grouped(key, rollups: RollupSet) -> dict[Any, dict[int, int]]:
        out: dict[Any, dict[int, int]] = {}
        for r in rollups.group(key, "query_id", interval=interval, v=measure):
            out.setdefault(r[key], {})[r["query_id"]] = r["v"]
        return out

    per_bucket = grouped("bucket", _rollups(win, f, interval=interval).filter(query_id__in=ids))
    over_time = []
    for s in starts:
        t, v = _sov_values(ids, per_bucket.get(s, {}))
        over_time.append({"start": s, "total": t, "values": v})

    def breakdown(key: str) -> list[dict]:
        rows = []
        for name, vals in grouped(key, base).items():
            t, v = _sov_values(ids, vals)
            if t:
                rows.append({key: name, "total": t, "values": v})
        rows.sort(key=lambda r: (-r["total"], r[key]))
        return rows

    return {
        **win.out(),
        "by": by,
        "interval": interval,
        "filters": f.out(),
        "total": total,
        "queries": entries,
        "over_time": over_time,
        "by_platform": breakdown("platform"),
        "by_country": breakdown("country"),
    }


# --- Competitor watch ----------------------------------------------------------------------

_POST_FIELDS = (
    "id",
    "platform",
    "external_id",
    "url",
    "text",
    "created_at",
    "author_handle",
    "author_name",
    "author_followers",
    "language",
    "sentiment",
    "country",
)


TOP_POSTS_SCAN = 5000


def top_posts(
    query_id: int,
    start: datetime,
    end: datetime,
    *,
    limit: int = TOP_POSTS_DEFAULT,
    sentiment: str | None = None,
) -> list[dict]:
    """A query's most-followed authors' posts in ``[start, end)``, among its newest
    ``TOP_POSTS_SCAN`` matches in the window (a backward walk of the match index). The bound
    keeps the request constant-time: a busy competitor has a million matches a month, and
    ranking them all by followers read and sorted every one."""
    newest = (
        MentionMatch.objects.filter(query_id=query_id, created_at__gte=start, created_at__lt=end)
        .order_by("-created_at")
        .values("mention_id")[:TOP_POSTS_SCAN]
    )
    qs = Mention.objects.filter(pk__in=newest)
    if sentiment is not None:
        qs = qs.filter(sentiment=sentiment)
    qs = qs.order_by(F("author_followers").desc(nulls_last=True), "-created_at", "-pk")
    return list(qs.values(*_POST_FIELDS)[:limit])


def competitor_watch(
    *,
    query: ListeningQuery,
    win: Window,
    interval: str = "day",
    top: int = TOP_POSTS_DEFAULT,
) -> dict:
    """One competitor (or brand) query: volume, sentiment mix, reach, platforms, top posts and
    its negative moments (spikes of negative volume — opportunities), each with its posts."""
    buckets = series(query.pk, win, interval)
    baseline, found = spikes(buckets, interval)
    base = _rollups(win).filter(query_id=query.pk)
    sums = base.aggregate(**_mix_aggregates(), reach=Sum("reach"))
    reach = sums.pop("reach")
    mix = _mix(sums)
    platforms = sorted(
        (
            {"platform": r["platform"], "volume": r["n"]}
            for r in base.group("platform", n=Sum("count"))
        ),
        key=lambda p: (-p["volume"], p["platform"]),
    )
    for p in platforms:
        p["share"] = _share(p["volume"], mix["volume"])
    strongest = sorted(found, key=lambda s: (-s["score"], s["start"]))[:MAX_MOMENTS]
    moments = [
        {
            **s,
            "posts": top_posts(
                query.pk,
                max(s["start"], win.start),
                min(s["end"], win.end),
                limit=MOMENT_POSTS,
                sentiment="negative",
            ),
        }
        for s in sorted(strongest, key=lambda s: s["start"])
    ]
    return {
        "query": _query_out(query),
        **win.out(),
        "interval": interval,
        "totals": {**mix, "reach": reach},
        "sentiment_mix": {s: _share(mix[s], mix["volume"]) for s in SENTIMENTS},
        "by_platform": platforms,
        "buckets": buckets,
        "top_posts": top_posts(query.pk, win.start, win.end, limit=top),
        "baseline": baseline,
        "spike_rule": _spike_rule(),
        "negative_moments": moments,
    }


# --- Platform focus ------------------------------------------------------------------------


def _brand_by_platform(ids: list[int], win: Window, country: str | None) -> dict[str, int]:
    if not ids:
        return {}
    if len(ids) == 1:
        rollups = _rollups(win, Filters(country=country)).filter(query_id=ids[0])
        return {r["platform"]: r["n"] for r in rollups.group("platform", n=Sum("count"))}
    # Several brand queries: count each mention once, not once per query it matches.
    matched = MentionMatch.objects.filter(
        query_id__in=ids, created_at__gte=win.start, created_at__lt=win.end
    ).values("mention_id")
    qs = Mention.objects.filter(pk__in=matched, created_at__gte=win.start, created_at__lt=win.end)
    if country:
        qs = qs.filter(country=country)
    return {r["platform"]: r["n"] for r in qs.values("platform").annotate(n=Count("pk")).order_by()}


def _customers_by_platform(win: Window, country: str | None) -> dict[str, dict]:
    """Mentions written by known customers, per platform — only while the customer's consent
    for that platform stands (a withdrawn identity no longer counts in analytics)."""
    from apiary.customers.models import SocialIdentity

    consented = SocialIdentity.objects.filter(
        customer_id=OuterRef("customer_id"),
        platform=OuterRef("platform"),
        withdrawn_at__isnull=True,
    )
    qs = Mention.objects.filter(
        customer_id__isnull=False, created_at__gte=win.start, created_at__lt=win.end
    ).filter(Exists(consented))
    if country:
        qs = qs.filter(country=country)
    rows = (
        qs.values("platform")
        .annotate(mentions=Count("pk"), customers=Count("customer_id", distinct=True))
        .order_by()
    )
    return {r["platform"]: {"mentions": r["mentions"], "customers": r["customers"]} for r in rows}


def _join(names: list[str]) -> str:
    if len(names) <= 1:
        return "".join(names)
    return _("%(first)s and %(last)s") % {"first": ", ".join(names[:-1]), "last": names[-1]}


def platform_focus(
    *, win: Window, query: ListeningQuery | None = None, country: str | None = None
) -> dict:
    """Per platform: brand mentions and share, known customers' mentions (and how many
    customers) and share; ranked by customers' share, with a 2–3 network recommendation."""
    if query is not None:
        brand_ids = [query.pk]
    else:
        brand_ids = list(
            ListeningQuery.objects.filter(kind=QueryKind.BRAND, active=True).values_list(
                "pk", flat=True
            )
        )
    brand = _brand_by_platform(brand_ids, win, country)
    customers = _customers_by_platform(win, country)
    brand_total = sum(brand.values())
    customer_total = sum(c["mentions"] for c in customers.values())
    rows = []
    for platform in set(brand) | set(customers):
        c = customers.get(platform, {"mentions": 0, "customers": 0})
        rows.append(
            {
                "platform": platform,
                "brand_mentions": brand.get(platform, 0),
                "brand_share": _share(brand.get(platform, 0), brand_total),
                "customer_mentions": c["mentions"],
                "customer_share": _share(c["mentions"], customer_total),
                "customers": c["customers"],
            }
        )
    rows.sort(key=lambda r: (-r["customer_mentions"], -r["brand_mentions"], r["platform"]))
    for rank, row in enumerate(rows, 1):
        row["rank"] = rank

    basis = "customers" if customer_total else ("brand" if brand_total else None)
    picked: list[dict] = []
    if basis is not None:
        key = "customer_share" if basis == "customers" else "brand_share"
        ordered = sorted(rows, key=lambda r: (-(r[key] or 0), r["rank"]))
        covered = 0.0
        for row in ordered:
            if not row[key] or len(picked) >= RECOMMEND_MAX:
                break
            if len(picked) >= RECOMMEND_MIN and covered >= RECOMMEND_COVERAGE:
                break
            picked.append(row)
            covered += row[key]
    names = [r["platform"] for r in picked]
    customer_cover = sum(r["customer_share"] or 0 for r in picked) if customer_total else None
    brand_cover = sum(r["brand_share"] or 0 for r in picked) if brand_total else None
    if basis == "customers":
        text = _(
            "Focus on %(platforms)s: %(customers)s of known customers' mentions and "
            "%(brand)s of brand mentions."
        ) % {
            "platforms": _join(names),
            "customers": f"{customer_cover:.0%}",
            "brand": f"{brand_cover:.0%}" if brand_cover is not None else "0%",
        }
    elif basis == "brand":
        text = _(
            "No known customer wrote in this period; by brand mentions, focus on "
            "%(platforms)s (%(brand)s of them)."
        ) % {"platforms": _join(names), "brand": f"{brand_cover:.0%}"}
    else:
        text = _("No mentions in this period: nothing to recommend yet.")
    return {
        **win.out(),
        "country": country,
        "brand_query_ids": brand_ids,
        "brand_mentions": brand_total,
        "customer_mentions": customer_total,
        "platforms": rows,
        "recommendation": {
            "basis": basis,
            "platforms": names,
            "customer_share": customer_cover,
            "brand_share": brand_cover,
            "coverage_target": RECOMMEND_COVERAGE,
            "text": text,
        },
    }
