"""The trending page (``/listening/trending/``): rising terms with sparklines, and topic
clusters, for a query and a period; ``?format=csv`` downloads the terms table.

Thin: numbers from ``trends`` (``TermRollup`` / ``TopicCluster`` reads only); a few
representative mentions are fetched by primary key. Bad parameters show the page again with
the message (400), never a 500.
"""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from urllib.parse import urlencode

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from apiary.accounts.access import Perm, permission_required
from apiary.core.errors import ApiError

from . import trends
from .models import ListeningQuery, Mention

PERIODS = (1, 7, 14, 30)  # days
DEFAULT_PERIOD = 7
TABLE_LIMIT = 50
SPARKLINES = 25
PARAMS = {"query_id", "days", "kind", "baseline_days", "format"}
SPARK_W, SPARK_H = 120, 24
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


class BadInput(Exception):
    pass


def _int(request: HttpRequest, name: str, default: int, allowed=None, low=0, high=None) -> int:
    raw = request.GET.get(name, "").strip()
    if raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise BadInput(_("%(name)s must be a whole number.") % {"name": name}) from None
    if allowed is not None and value not in allowed:
        raise BadInput(
            _("%(name)s must be one of: %(values)s.")
            % {"name": name, "values": ", ".join(str(v) for v in allowed)}
        )
    if value < low or (high is not None and value > high):
        raise BadInput(
            _("%(name)s must be between %(low)s and %(high)s.")
            % {"name": name, "low": low, "high": high}
        )
    return value


def _form(request: HttpRequest) -> dict:
    unknown = set(request.GET) - PARAMS
    if unknown:
        raise BadInput(_("Unknown filter(s): %(names)s.") % {"names": ", ".join(sorted(unknown))})
    kind = request.GET.get("kind", "").strip() or "all"
    if kind not in trends.KINDS:
        raise BadInput(_("kind must be one of: %(names)s.") % {"names": ", ".join(trends.KINDS)})
    fmt = request.GET.get("format", "").strip() or "html"
    if fmt not in ("html", "csv"):
        raise BadInput(_("format must be one of: %(names)s.") % {"names": "html, csv"})
    return {
        "query_id": _int(request, "query_id", 0, high=2**63 - 1),
        "days": _int(request, "days", DEFAULT_PERIOD, allowed=PERIODS),
        "baseline_days": _int(
            request, "baseline_days", trends.BASELINE_DAYS, low=1, high=trends.MAX_BASELINE_DAYS
        ),
        "kind": kind,
        "format": fmt,
    }


def _sparkline(values: list[int]) -> str:
    """SVG polyline points for a small inline chart (server-rendered, no script)."""
    if not values:
        return ""
    top = max(values) or 1
    step = SPARK_W / max(len(values) - 1, 1)
    return " ".join(
        f"{i * step:.1f},{SPARK_H - 2 - (v / top) * (SPARK_H - 4):.1f}"
        for i, v in enumerate(values)
    )


def _csv_cell(value):
    if value is None:
        return ""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        # Terms come from strangers' posts: a spreadsheet must not run them as formulas.
        return "'" + value
    return value


def _csv(terms: list[dict], form: dict) -> HttpResponse:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    header = ["term", "kind", "count", "baseline_per_day", "expected", "score", "sample_mention_id"]
    writer.writerow(header)
    for t in terms:
        writer.writerow([_csv_cell(t[k]) for k in header])
    response = HttpResponse("\ufeff" + buf.getvalue(), content_type="text/csv; charset=utf-8")
    name = f"trending-q{form['query_id']}-{form['days']}d"
    response["Content-Disposition"] = f'attachment; filename="{name}.csv"'
    return response


@permission_required(Perm.LISTENING_VIEW)
def trending_view(request: HttpRequest) -> HttpResponse:
    queries = list(ListeningQuery.objects.order_by("kind", "name").only("id", "name", "kind"))
    context: dict = {"queries": queries, "periods": PERIODS, "kinds": trends.KINDS}
    try:
        form = _form(request)
        context["form"] = form
        end = timezone.now()
        start = end - timedelta(days=form["days"])
        terms = trends.trending_terms(
            query_id=form["query_id"],
            start=start,
            end=end,
            baseline_days=form["baseline_days"],
            limit=TABLE_LIMIT,
            kind=form["kind"],
        )
        if form["format"] == "csv":
            return _csv(terms, form)
        topics = trends.topic_clusters(query_id=form["query_id"], start=start, end=end)
    except (BadInput, ApiError) as exc:
        context.setdefault("form", {"query_id": 0, "days": DEFAULT_PERIOD, "kind": "all"})
        context["error"] = exc.detail if isinstance(exc, ApiError) else str(exc)
        status = exc.status if isinstance(exc, ApiError) else 400
        return render(request, "listening/trending.html", context, status=min(status, 499))

    win = trends.day_window(start, end)
    series = trends.term_series(
        query_id=form["query_id"],
        keys=[t["key"] for t in terms[:SPARKLINES]],
        start=win.start - timedelta(days=form["baseline_days"]),
        end=win.end,
    )
    search = reverse("listening:search")
    for t in terms:
        t["search_url"] = f"{search}?{urlencode({'q': t['term']})}"
        t["spark"] = _sparkline(series.get(t["key"], []))
        t["ratio"] = round(t["count"] / t["expected"], 1) if t["expected"] else None
    wanted = [c["representative_mention_ids"][0] for c in topics if c["representative_mention_ids"]]
    texts = dict(Mention.objects.filter(pk__in=wanted).values_list("pk", "text"))
    for c in topics:
        ids = c["representative_mention_ids"]
        c["example"] = texts.get(ids[0], "") if ids else ""
        c["search_url"] = f"{search}?{urlencode({'q': c['terms'][0] if c['terms'] else ''})}"
        c["pct"] = {
            k: round(100 * v / c["size"]) if c["size"] else 0 for k, v in c["sentiment"].items()
        }
    params = {k: v for k, v in form.items() if k != "format"}
    context.update(
        {
            "terms": terms,
            "topics": topics,
            "window": win,
            "csv_url": "?" + urlencode({**params, "format": "csv"}),
            "spark_w": SPARK_W,
            "spark_h": SPARK_H,
        }
    )
    return render(request, "listening/trending.html", context)
