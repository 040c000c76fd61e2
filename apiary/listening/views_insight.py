"""Listening insight pages: sentiment barometer, share of voice, competitor watch, platform focus.

Thin like the API: the GET parameters are the API's (validated by the very same schemas from
``api_insight``), the numbers come from the same ``insight`` functions — GROUP BYs over the
hourly rollups — and the charts are server-rendered SVG (``charts``). Every page also answers
``format=csv`` (a table, ``table=…``), ``format=svg`` and ``format=png`` (a chart, ``chart=…``).
htmx requests get only the page body (``_body`` templates), for partial refresh on filter changes.

Bad parameters show the form again with the message (400), never a 500.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode

import pydantic
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import dateformat, timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from apiary.accounts.access import Perm, permission_required
from apiary.core.errors import ApiError, validation_errors

from . import charts, exports, insight, trends
from .api_insight import BarometerQuery, CompetitorQuery, PlatformFocusQuery, ShareOfVoiceQuery
from .models import ListeningQuery, QueryKind
from .raw import PLATFORMS

PAGE_FORMATS = ("html", "csv", "svg", "png")
PAGE_KEYS = {"format", "chart", "table"}  # the page's own; the rest are the API's parameters
SENTIMENT_LABELS = {
    "positive": gettext_lazy("Positive"),
    "neutral": gettext_lazy("Neutral"),
    "negative": gettext_lazy("Negative"),
}
MAX_COUNTRY_BARS = 10
COUNTRY_HINTS = ("ES", "RU", "MX", "AR", "US", "GB", "DE", "FR", "IT", "UA", "KZ", "BY")


class BadInput(Exception):
    def __init__(self, status: int, messages: list[str]) -> None:
        super().__init__("; ".join(messages))
        self.status = status
        self.messages = messages


def _params(request: HttpRequest, schema: type[pydantic.BaseModel]):
    """The GET parameters through the API's schema; empty form fields count as not given."""
    data = {k: v for k, v in request.GET.items() if k not in PAGE_KEYS and v.strip() != ""}
    unknown = set(data) - set(schema.model_fields) - {"format", "table"}
    if unknown:
        raise BadInput(
            400, [_("Unknown filter(s): %(names)s.") % {"names": ", ".join(sorted(unknown))}]
        )
    try:
        return schema.model_validate(data)
    except pydantic.ValidationError as exc:
        raise BadInput(
            400, [f"{e['field']}: {e['message']}" for e in validation_errors(exc.errors())]
        ) from None


def _page_format(request: HttpRequest) -> str:
    fmt = request.GET.get("format", "html") or "html"
    if fmt not in PAGE_FORMATS:
        raise BadInput(
            400, [_("format must be one of: %(names)s.") % {"names": ", ".join(PAGE_FORMATS)}]
        )
    return fmt


def _iso(t: datetime) -> str:
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _local_input(t: datetime | None) -> str:
    """A value for ``<input type=datetime-local>`` (the pages work in UTC)."""
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M") if t else ""


def _label(t: datetime, interval: str) -> str:
    return dateformat.format(t.astimezone(UTC), "j M H:i" if interval == "hour" else "j M")


def fmt_net(v: float | None) -> str:
    return "—" if v is None else f"{v:+.2f}"


def fmt_share(v: float | None) -> str:
    return "—" if v is None else f"{v:.1%}"


def fmt_change(v: float | None) -> str:
    return "—" if v is None else f"{v:+.0%}"


def search_url(**params) -> str:
    """The mention search with the same filters (the search page's parameter names)."""
    clean = {k: (_iso(v) if isinstance(v, datetime) else v) for k, v in params.items() if v}
    return f"{reverse('listening:search')}?{urlencode(clean)}"


def _brand_and_competitors() -> list[ListeningQuery]:
    return list(
        ListeningQuery.objects.filter(
            kind__in=[QueryKind.BRAND, QueryKind.COMPETITOR], active=True
        ).order_by("kind", "name", "pk")
    )


def _query_choices() -> list[ListeningQuery]:
    return list(ListeningQuery.objects.filter(active=True).order_by("kind", "name", "pk"))


def presets(now: datetime | None = None) -> list[dict]:
    """Period presets as the API's parameters: "this week vs last week" compares the week so
    far with the same span of last week (a full week against a part of one would mislead)."""
    end = insight._ceil_hour(now or timezone.now())
    last_hour = end - timedelta(microseconds=1)  # at midnight sharp, "today" was yesterday
    week_start = insight._floor(last_hour, "week")
    day_start = insight._floor(last_hour, "day")
    week = timedelta(days=7)
    out = [
        (
            "week",
            _("This week vs last week"),
            week_start,
            end,
            week_start - week,
            end - week,
            "day",
        ),
        (
            "7d",
            _("Last 7 days vs the 7 before"),
            end - week,
            end,
            end - 2 * week,
            end - week,
            "day",
        ),
        (
            "today",
            _("Today vs yesterday"),
            day_start,
            end,
            day_start - timedelta(days=1),
            end - timedelta(days=1),
            "hour",
        ),
        ("30d", _("Last 30 days"), end - timedelta(days=30), end, None, None, "day"),
    ]
    return [
        {
            "key": key,
            "label": label,
            "params": {
                "start": _iso(s),
                "end": _iso(e),
                **({"compare_start": _iso(cs), "compare_end": _iso(ce)} if cs else {}),
                "interval": interval,
            },
        }
        for key, label, s, e, cs, ce, interval in out
    ]


# --- The page machinery --------------------------------------------------------------------


def _answer(
    request: HttpRequest,
    *,
    template: str,
    build: Callable[[str], dict],
    view: str,
    filename: str,
) -> HttpResponse:
    """Render ``build()``'s context as the page, its htmx body, a CSV table, an SVG or a PNG."""
    try:
        fmt = _page_format(request)
        try:
            context = build(fmt)
        except ApiError as exc:
            raise BadInput(404 if exc.status == 404 else 400, [exc.detail]) from None
        if fmt == "csv":
            try:
                return exports.export(
                    view, request.GET.get("table") or None, context["data"], filename
                )
            except ApiError as exc:
                raise BadInput(400, [exc.detail]) from None
        if fmt in ("svg", "png"):
            name = request.GET.get("chart") or next(iter(context["charts"]))
            if name not in context["charts"]:
                raise BadInput(
                    400,
                    [
                        _("chart must be one of: %(names)s.")
                        % {"names": ", ".join(context["charts"])}
                    ],
                )
            svg = context["charts"][name]
            if fmt == "svg":
                response = HttpResponse(svg, content_type="image/svg+xml; charset=utf-8")
            else:
                try:
                    response = HttpResponse(charts.png(svg), content_type="image/png")
                except charts.PngUnavailable:
                    return HttpResponse(
                        _("PNG export needs the system's cairo library (libcairo2)."),
                        status=503,
                        content_type="text/plain; charset=utf-8",
                    )
            response["Content-Disposition"] = f'attachment; filename="{filename}-{name}.{fmt}"'
            return response
    except BadInput as exc:
        if request.GET.get("format") in ("csv", "svg", "png"):
            return HttpResponse(
                "\n".join(exc.messages), status=exc.status, content_type="text/plain; charset=utf-8"
            )
        raw = {k: v for k, v in request.GET.items() if k not in PAGE_KEYS}
        context = {"errors": exc.messages, "form": raw, "sel": raw, **_common()}
        if request.headers.get("HX-Request") and not request.headers.get("HX-Boosted"):
            return render(request, _body(template), context, status=exc.status)
        return render(request, template, context, status=exc.status)
    context["downloads"] = _downloads(request, view, context["charts"])
    context["sel"] = {
        k: ("" if v is None else str(v))
        for k, v in context["q"].model_dump().items()
        if not isinstance(v, datetime)
    }
    context.update(_common())
    if request.headers.get("HX-Request") and not request.headers.get("HX-Boosted"):
        return render(request, _body(template), context)
    return render(request, template, context)


def _body(template: str) -> str:
    return template.replace(".html", "_body.html")


def _common() -> dict:
    """What every page's filter form offers (small tables; no mention is read)."""
    return {
        "section": "listening",
        "queries": _query_choices(),
        "rivals": _brand_and_competitors(),
        "platforms": sorted(PLATFORMS),
        "language_choices": insight.LANGUAGES,  # not "languages": base.html uses that name
        "intervals": list(insight.INTERVALS),
        "countries": COUNTRY_HINTS,
        "measures": [
            ("volume", _("Volume")),
            ("positive", _("Positive volume")),
            ("reach", _("Reach")),
        ],
    }


def _with(request: HttpRequest, **changes) -> str:
    """This page's URL with some parameters changed ("" or None removes one)."""
    params = {k: v for k, v in request.GET.items() if k not in PAGE_KEYS and v}
    for k, v in changes.items():
        if v in ("", None):
            params.pop(k, None)
        else:
            params[k] = v
    return f"{request.path}?{urlencode(params)}"


def _downloads(request: HttpRequest, view: str, chart_map: dict) -> dict:
    return {
        "csv": [
            {"name": name, "url": _with(request, format="csv", table=name)}
            for name in exports.table_names(view)
        ],
        "charts": {
            name: {
                "svg": _with(request, format="svg", chart=name),
                "png": _with(request, format="png", chart=name),
            }
            for name in chart_map
        },
    }


# --- Sentiment barometer -------------------------------------------------------------------


def _spike_bands(buckets: list[dict], spikes: list[dict], interval: str) -> list[charts.Band]:
    index = {b["start"]: i for i, b in enumerate(buckets)}
    return [
        charts.Band(
            index[s["start"]],
            _("Spike: %(n)s negative mentions, %(when)s")
            % {"n": s["negative"], "when": _label(s["start"], interval)},
        )
        for s in spikes
        if s["start"] in index
    ]


def barometer_context(request: HttpRequest, fmt: str) -> dict:
    q = _params(request, BarometerQuery)
    win = insight.window(q.start, q.end)
    compare = None
    if q.compare_start is not None or q.compare_end is not None:
        if q.compare_start is None or q.compare_end is None:
            raise ApiError(
                422, "invalid_range", _("Give both compare_start and compare_end, or neither.")
            )
        compare = insight.window(
            q.compare_start, q.compare_end, names=("compare_start", "compare_end")
        )
    f = insight.filters(platform=q.platform, country=q.country, language=q.language)
    query = insight.query_get(q.query_id) if q.query_id else None
    data = insight.barometer(query=query, win=win, interval=q.interval, f=f, compare=compare)

    name = query.name if query else _("All mentions")
    color = charts.query_color(query.pk if query else 0)
    labels = [_label(b["start"], q.interval) for b in data["buckets"]]
    bands = _spike_bands(data["buckets"], data["spikes"], q.interval)
    scope = ", ".join(
        x
        for x in (
            name,
            f.country,
            f.platform,
            f.language,
            f"{_label(win.start, 'hour')} – {_label(win.end, 'hour')} UTC",
        )
        if x
    )
    volume_series = [
        charts.Series(_("Volume"), [b["volume"] for b in data["buckets"]], color, "area", "volume"),
        charts.Series(
            _("Negative"),
            [b["negative"] for b in data["buckets"]],
            charts.SENTIMENT_COLORS["negative"],
            "line",
            "negative",
        ),
    ]
    net_series = [
        charts.Series(
            _("Net sentiment"),
            [b["net_sentiment"] for b in data["buckets"]],
            color,
            "line",
            "net_sentiment",
        )
    ]
    if data["compare"]:
        other = data["compare"]["buckets"][: len(labels)]
        volume_series.append(
            charts.Series(
                _("Volume, compared period"),
                [b["volume"] for b in other],
                charts.COMPARE_COLOR,
                "dashed",
                "compare_volume",
            )
        )
        net_series.append(
            charts.Series(
                _("Net sentiment, compared period"),
                [b["net_sentiment"] for b in other],
                charts.COMPARE_COLOR,
                "dashed",
                "compare_net_sentiment",
            )
        )
    chart_map = {
        "volume": charts.time_chart(
            title=_("Mention volume: %(scope)s") % {"scope": scope},
            desc=_(
                "%(volume)s mentions, %(negative)s negative, by %(interval)s; "
                "%(spikes)s spikes of negative volume marked."
            )
            % {
                "volume": data["totals"]["volume"],
                "negative": data["totals"]["negative"],
                "interval": q.interval,
                "spikes": len(data["spikes"]),
            },
            labels=labels,
            series=volume_series,
            bands=bands,
            kind="barometer-volume",
        ),
        "net_sentiment": charts.time_chart(
            title=_("Net sentiment: %(scope)s") % {"scope": scope},
            desc=_(
                "(positive − negative) / volume per %(interval)s, from −1 to +1; overall %(net)s."
            )
            % {"interval": q.interval, "net": fmt_net(data["totals"]["net_sentiment"])},
            labels=labels,
            series=net_series,
            bands=bands,
            y_min=-1,
            y_max=1,
            y_format=charts.fmt_signed,
            kind="barometer-net",
        ),
    }

    # Brand against competitors, same filters and periods: one GROUP BY per period.
    rivals = _brand_and_competitors()
    ids = [r.pk for r in rivals]
    now_totals = insight.totals_by_query(ids, win, f) if ids else {}
    then_totals = insight.totals_by_query(ids, compare, f) if ids and compare else {}
    comparison = []
    for r in rivals:
        t = now_totals[r.pk]
        c = then_totals.get(r.pk)
        comparison.append(
            {
                "query": r,
                "color": charts.query_color(r.pk),
                "totals": t,
                "net": fmt_net(t["net_sentiment"]),
                "compare": c,
                "compare_net": fmt_net(c["net_sentiment"]) if c else "",
                "volume_change": fmt_change(
                    (t["volume"] - c["volume"]) / c["volume"] if c and c["volume"] else None
                ),
                "net_delta": fmt_net(
                    t["net_sentiment"] - c["net_sentiment"]
                    if c and t["net_sentiment"] is not None and c["net_sentiment"] is not None
                    else None
                ),
                "url": _with(request, query_id=str(r.pk)),
                "negative_url": search_url(
                    query_id=r.pk,
                    sentiment="negative",
                    since=win.start,
                    until=win.end,
                    country=f.country,
                    platform=f.platform,
                    language=f.language,
                ),
            }
        )
    if rivals:
        chart_map["rivals"] = charts.bar_chart(
            title=_("Mentions of the brand and its competitors"),
            desc=", ".join(
                "%s: %s (%s)"
                % (r.name, now_totals[r.pk]["volume"], fmt_net(now_totals[r.pk]["net_sentiment"]))
                for r in rivals
            ),
            categories=[r.name for r in rivals],
            series=[
                charts.Series(
                    _("Mentions"),
                    [now_totals[r.pk]["volume"] for r in rivals],
                    charts.ALL_MENTIONS_COLOR,
                    key="volume",
                ),
                *(
                    [
                        charts.Series(
                            _("Mentions, compared period"),
                            [then_totals[r.pk]["volume"] for r in rivals],
                            charts.COMPARE_COLOR,
                            key="compare_volume",
                        )
                    ]
                    if then_totals
                    else []
                ),
            ],
            kind="barometer-rivals",
        )

    filters = {"country": f.country, "platform": f.platform, "language": f.language}
    search = {"query_id": q.query_id or None, "since": win.start, "until": win.end, **filters}
    spikes = [
        {
            **s,
            "label": _label(s["start"], q.interval),
            "url": search_url(
                **{**search, "since": s["start"], "until": s["end"]}, sentiment="negative"
            ),
        }
        for s in data["spikes"]
    ]
    return {
        "data": data,
        "charts": chart_map,
        "q": q,
        "form": {
            "start": _local_input(win.start),
            "end": _local_input(win.end),
            "compare_start": _local_input(compare.start if compare else None),
            "compare_end": _local_input(compare.end if compare else None),
        },
        "query": query,
        "presets": [
            {**p, "url": _with(request, **{"compare_start": "", "compare_end": "", **p["params"]})}
            for p in presets()
        ],
        "totals": data["totals"],
        "net": fmt_net(data["totals"]["net_sentiment"]),
        "compare": data["compare"],
        "compare_net": fmt_net(data["compare"]["totals"]["net_sentiment"]) if compare else "",
        "volume_change": fmt_change(data["compare"]["volume_change"]) if compare else "",
        "net_delta": fmt_net(data["compare"]["delta"]["net_sentiment"]) if compare else "",
        "spikes": spikes,
        "comparison": comparison,
        "search_url": search_url(**search),
        "negative_url": search_url(**search, sentiment="negative"),
        "sentiments": [
            (
                s,
                SENTIMENT_LABELS[s],
                data["totals"][s],
                charts.SENTIMENT_COLORS[s],
                data["compare"]["totals"][s] if compare else None,
            )
            for s in insight.SENTIMENTS
        ],
    }


@permission_required(Perm.LISTENING_VIEW)
def barometer_view(request: HttpRequest) -> HttpResponse:
    return _answer(
        request,
        template="listening/insight/barometer.html",
        build=lambda fmt: barometer_context(request, fmt),
        view="barometer",
        filename="barometer",
    )


# --- Share of voice ------------------------------------------------------------------------


def _sov_series(data: dict, section: str, keys: list) -> list[charts.Series]:
    by_key = {e[section_key(section)]: e for e in data[section]}
    out = []
    for i, entry in enumerate(data["queries"]):
        values = []
        for k in keys:
            e = by_key.get(k)
            values.append(e["values"][i]["value"] if e else 0)
        out.append(
            charts.Series(
                entry["name"],
                values,
                charts.query_color(entry["query_id"]),
                key=str(entry["query_id"]),
            )
        )
    return out


def section_key(section: str) -> str:
    return {"over_time": "start", "by_platform": "platform", "by_country": "country"}[section]


def share_of_voice_context(request: HttpRequest, fmt: str) -> dict:
    q = _params(request, ShareOfVoiceQuery)
    win = insight.window(q.start, q.end)
    f = insight.filters(platform=q.platform, country=q.country)
    data = insight.share_of_voice(win=win, by=q.by, interval=q.interval, f=f)
    measure = {"volume": _("mentions"), "positive": _("positive mentions"), "reach": _("reach")}[
        q.by
    ]
    scope = ", ".join(
        x
        for x in (
            f.country,
            f.platform,
            f"{_label(win.start, 'hour')} – {_label(win.end, 'hour')} UTC",
        )
        if x
    )
    parts = [(e["name"], e["value"], charts.query_color(e["query_id"])) for e in data["queries"]]
    starts = [b["start"] for b in data["over_time"]]
    platforms = [r["platform"] for r in data["by_platform"]]
    countries = [r["country"] for r in data["by_country"]][:MAX_COUNTRY_BARS]
    chart_map = {
        "share": charts.share_bar(
            title=_("Share of voice by %(measure)s: %(scope)s")
            % {"measure": measure, "scope": scope},
            desc="; ".join(
                f"{e['name']}: {e['value']} ({fmt_share(e['share'])})" for e in data["queries"]
            ),
            parts=parts,
            kind="sov-share",
        ),
        "over_time": charts.bar_chart(
            title=_("Share of voice over time (%(measure)s)") % {"measure": measure},
            desc=_("Stacked %(measure)s per %(interval)s, brand and each competitor.")
            % {"measure": measure, "interval": q.interval},
            categories=[_label(s, q.interval) for s in starts],
            series=_sov_series(data, "over_time", starts),
            stacked=True,
            kind="sov-time",
        ),
        "by_platform": charts.bar_chart(
            title=_("Share of voice by platform (%(measure)s)") % {"measure": measure},
            desc=", ".join(f"{r['platform']}: {r['total']}" for r in data["by_platform"]),
            categories=platforms,
            series=_sov_series(data, "by_platform", platforms),
            kind="sov-platform",
        ),
        "by_country": charts.bar_chart(
            title=_("Share of voice by country (%(measure)s)") % {"measure": measure},
            desc=", ".join(f"{r['country'] or '?'}: {r['total']}" for r in data["by_country"]),
            categories=[c or _("unknown") for c in countries],
            series=_sov_series(data, "by_country", countries),
            kind="sov-country",
        ),
    }
    rows = [
        {
            **e,
            "color": charts.query_color(e["query_id"]),
            "share_text": fmt_share(e["share"]),
            "url": search_url(
                query_id=e["query_id"],
                since=win.start,
                until=win.end,
                country=f.country,
                platform=f.platform,
            ),
            "watch_url": reverse("listening:competitor", args=[e["query_id"]]),
        }
        for e in data["queries"]
    ]

    def grouped(section: str) -> list[dict]:
        key = section_key(section)
        return [
            {
                "key": r[key] or "",
                "total": r["total"],
                "cells": [
                    {"value": v["value"], "share": fmt_share(v["share"])} for v in r["values"]
                ],
            }
            for r in data[section]
        ]

    return {
        "data": data,
        "charts": chart_map,
        "q": q,
        "form": {"start": _local_input(win.start), "end": _local_input(win.end)},
        "rows": rows,
        "by_platform": grouped("by_platform"),
        "by_country": grouped("by_country"),
        "presets": _preset_links(request),
    }


@permission_required(Perm.LISTENING_VIEW)
def share_of_voice_view(request: HttpRequest) -> HttpResponse:
    return _answer(
        request,
        template="listening/insight/share_of_voice.html",
        build=lambda fmt: share_of_voice_context(request, fmt),
        view="share_of_voice",
        filename="share-of-voice",
    )


def _preset_links(request: HttpRequest) -> list[dict]:
    """The period presets as links keeping the page's other filters."""
    return [
        {**p, "url": _with(request, start=p["params"]["start"], end=p["params"]["end"])}
        for p in presets()
    ]


# --- Competitor watch ----------------------------------------------------------------------


@permission_required(Perm.LISTENING_VIEW)
def competitors_view(request: HttpRequest) -> HttpResponse:
    """The competitor picker: straight to the first competitor, keeping the filters."""
    rivals = [r for r in _brand_and_competitors() if r.kind == QueryKind.COMPETITOR]
    if not rivals:
        return render(
            request,
            "listening/insight/no_competitors.html",
            _common(),
        )
    params = {k: v for k, v in request.GET.items() if v}
    url = reverse("listening:competitor", args=[rivals[0].pk])
    return redirect(f"{url}?{urlencode(params)}" if params else url)


def competitor_context(request: HttpRequest, fmt: str, pk: int) -> dict:
    q = _params(request, CompetitorQuery)
    win = insight.window(q.start, q.end)
    query = insight.query_get(pk, kinds=("competitor", "brand"))
    data = insight.competitor_watch(query=query, win=win, interval=q.interval, top=q.top)
    labels = [_label(b["start"], q.interval) for b in data["buckets"]]
    bands = _spike_bands(data["buckets"], data["negative_moments"], q.interval)
    scope = f"{query.name}, {_label(win.start, 'hour')} – {_label(win.end, 'hour')} UTC"
    chart_map = {
        "volume": charts.bar_chart(
            title=_("Mentions by sentiment: %(scope)s") % {"scope": scope},
            desc=_("%(volume)s mentions; %(moments)s negative moments highlighted.")
            % {"volume": data["totals"]["volume"], "moments": len(data["negative_moments"])},
            categories=labels,
            series=[
                charts.Series(
                    SENTIMENT_LABELS[s],
                    [b[s] for b in data["buckets"]],
                    charts.SENTIMENT_COLORS[s],
                    key=s,
                )
                for s in insight.SENTIMENTS
            ],
            stacked=True,
            bands=bands,
            kind="competitor-volume",
        ),
        "platforms": charts.share_bar(
            title=_("Platforms: %(scope)s") % {"scope": scope},
            desc="; ".join(f"{p['platform']}: {p['volume']}" for p in data["by_platform"]),
            parts=[
                (p["platform"], p["volume"], charts.PALETTE[i % len(charts.PALETTE)])
                for i, p in enumerate(data["by_platform"])
            ],
            kind="competitor-platforms",
        ),
    }
    search = {"query_id": query.pk, "since": win.start, "until": win.end}
    moments = [
        {
            **m,
            "label": _label(m["start"], q.interval),
            "url": search_url(
                **{**search, "since": m["start"], "until": m["end"]}, sentiment="negative"
            ),
        }
        for m in data["negative_moments"]
    ]
    terms = topics = None
    trends_error = None
    # The trends module has its own limits (whole days, a bounded baseline): a window it
    # refuses hides this section with its message, not the whole page.
    try:
        terms = trends.trending_terms(
            query_id=query.pk,
            start=win.start,
            end=win.end,
            baseline_days=14,
            limit=20,
            kind="all",
        )
        topics = trends.topic_clusters(query_id=query.pk, start=win.start, end=win.end, limit=10)
    except ApiError as exc:
        trends_error = exc.detail
    return {
        "data": data,
        "charts": chart_map,
        "q": q,
        "query": query,
        "form": {"start": _local_input(win.start), "end": _local_input(win.end)},
        "totals": data["totals"],
        "net": fmt_net(data["totals"]["net_sentiment"]),
        "mix": [
            (s, SENTIMENT_LABELS[s], data["totals"][s], fmt_share(data["sentiment_mix"][s]))
            for s in insight.SENTIMENTS
        ],
        "platform_rows": [{**p, "share_text": fmt_share(p["share"])} for p in data["by_platform"]],
        "moments": moments,
        "posts": data["top_posts"],
        "terms": terms,
        "topics": topics,
        "trends_error": trends_error,
        "search_url": search_url(**search),
        "negative_url": search_url(**search, sentiment="negative"),
        "presets": _preset_links(request),
    }


@permission_required(Perm.LISTENING_VIEW)
def competitor_view(request: HttpRequest, pk: int) -> HttpResponse:
    return _answer(
        request,
        template="listening/insight/competitor.html",
        build=lambda fmt: competitor_context(request, fmt, pk),
        view="competitor",
        filename=f"competitor-{pk}",
    )


# --- Platform focus ------------------------------------------------------------------------


def platform_focus_context(request: HttpRequest, fmt: str) -> dict:
    q = _params(request, PlatformFocusQuery)
    win = insight.window(q.start, q.end)
    f = insight.filters(country=q.country)
    query = insight.query_get(q.query_id, kinds=("brand",)) if q.query_id else None
    data = insight.platform_focus(win=win, query=query, country=f.country)
    rows = data["platforms"]
    picked = set(data["recommendation"]["platforms"])
    chart_map = {
        "shares": charts.bar_chart(
            title=_("Where brand and customers' mentions concentrate"),
            desc=data["recommendation"]["text"],
            categories=[r["platform"] for r in rows],
            series=[
                charts.Series(
                    _("Brand mentions"),
                    [r["brand_share"] or 0 for r in rows],
                    charts.PALETTE[0],
                    key="brand_share",
                ),
                charts.Series(
                    _("Customers' mentions"),
                    [r["customer_share"] or 0 for r in rows],
                    charts.PALETTE[1],
                    key="customer_share",
                ),
            ],
            y_format=charts.fmt_percent,
            kind="platform-focus",
        )
    }
    return {
        "data": data,
        "charts": chart_map,
        "q": q,
        "form": {"start": _local_input(win.start), "end": _local_input(win.end)},
        "brands": [r for r in _brand_and_competitors() if r.kind == QueryKind.BRAND],
        "rows": [
            {
                **r,
                "brand_share_text": fmt_share(r["brand_share"]),
                "customer_share_text": fmt_share(r["customer_share"]),
                "recommended": r["platform"] in picked,
                "url": search_url(
                    platform=r["platform"],
                    since=win.start,
                    until=win.end,
                    country=f.country,
                    query_id=q.query_id,
                ),
            }
            for r in rows
        ],
        "recommendation": data["recommendation"],
        "presets": _preset_links(request),
    }


@permission_required(Perm.LISTENING_VIEW)
def platform_focus_view(request: HttpRequest) -> HttpResponse:
    return _answer(
        request,
        template="listening/insight/platform_focus.html",
        build=lambda fmt: platform_focus_context(request, fmt),
        view="platform_focus",
        filename="platform-focus",
    )
