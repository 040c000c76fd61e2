"""CSV tables of the listening insight answers — one module for the pages and the API, so a
CSV downloaded from either holds the very figures the JSON and the page show.

Each insight answer (``insight.barometer(...)`` etc.) has named tables; ``table(view, name,
data)`` gives ``(header, rows)`` and ``csv_response`` writes them. Times are ISO 8601 UTC,
shares are fractions (0.25, not 25 %), an absent value (a net sentiment of no mentions) is
an empty cell.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable
from datetime import UTC, datetime

from django.http import HttpResponse
from django.utils.translation import gettext as _

from apiary.core.errors import ApiError

Rows = tuple[list[str], list[list]]

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _cell(value):
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        # Mention texts are written by strangers: never let a spreadsheet run them as formulas.
        return "'" + value
    return value


_MIX = ["volume", "positive", "neutral", "negative", "net_sentiment"]


def _buckets(buckets: list[dict], spikes: list[dict], period: str | None = None) -> list[list]:
    spiky = {s["start"] for s in spikes}
    lead = [period] if period else []
    return [[*lead, b["start"], *(b[k] for k in _MIX), b["start"] in spiky] for b in buckets]


def barometer_buckets(data: dict) -> Rows:
    header = ["period", "start", *_MIX, "spike"]
    rows = _buckets(data["buckets"], data["spikes"], "main")
    if data.get("compare"):
        rows += _buckets(data["compare"]["buckets"], [], "compare")
    return header, rows


def barometer_spikes(data: dict) -> Rows:
    header = ["start", "end", "negative", "volume", "score"]
    return header, [[s[k] for k in header] for s in data["spikes"]]


def _names(data: dict) -> dict[int, str]:
    return {q["query_id"]: q["name"] for q in data["queries"]}


def sov_queries(data: dict) -> Rows:
    header = ["query_id", "name", "kind", "value", "share"]
    return header, [[q[k] for k in header] for q in data["queries"]]


def _sov_grouped(data: dict, section: str, key: str) -> Rows:
    names = _names(data)
    header = [key, "query_id", "name", "value", "share", "total"]
    rows = [
        [
            entry[key],
            v["query_id"],
            names.get(v["query_id"], ""),
            v["value"],
            v["share"],
            entry["total"],
        ]
        for entry in data[section]
        for v in entry["values"]
    ]
    return header, rows


def competitor_buckets(data: dict) -> Rows:
    header = ["start", *_MIX, "spike"]
    return header, _buckets(data["buckets"], data["negative_moments"])


def competitor_platforms(data: dict) -> Rows:
    header = ["platform", "volume", "share"]
    return header, [[p[k] for k in header] for p in data["by_platform"]]


_POST = [
    "id",
    "created_at",
    "platform",
    "author_handle",
    "author_followers",
    "sentiment",
    "language",
    "country",
    "url",
    "text",
]


def competitor_posts(data: dict) -> Rows:
    return list(_POST), [[p[k] for k in _POST] for p in data["top_posts"]]


def competitor_moments(data: dict) -> Rows:
    header = ["start", "end", "negative", "volume", "score", "post_ids"]
    rows = [
        [*(m[k] for k in header[:-1]), " ".join(str(p["id"]) for p in m["posts"])]
        for m in data["negative_moments"]
    ]
    return header, rows


def focus_platforms(data: dict) -> Rows:
    header = [
        "rank",
        "platform",
        "brand_mentions",
        "brand_share",
        "customer_mentions",
        "customer_share",
        "customers",
        "recommended",
    ]
    picked = set(data["recommendation"]["platforms"])
    rows = [[*(r[k] for k in header[:-1]), r["platform"] in picked] for r in data["platforms"]]
    return header, rows


TABLES: dict[str, dict[str, Callable[[dict], Rows]]] = {
    "barometer": {"buckets": barometer_buckets, "spikes": barometer_spikes},
    "share_of_voice": {
        "queries": sov_queries,
        "over_time": lambda d: _sov_grouped(d, "over_time", "start"),
        "by_platform": lambda d: _sov_grouped(d, "by_platform", "platform"),
        "by_country": lambda d: _sov_grouped(d, "by_country", "country"),
    },
    "competitor": {
        "buckets": competitor_buckets,
        "platforms": competitor_platforms,
        "top_posts": competitor_posts,
        "moments": competitor_moments,
    },
    "platform_focus": {"platforms": focus_platforms},
}


def table_names(view: str) -> list[str]:
    return list(TABLES[view])


def table(view: str, name: str | None, data: dict) -> Rows:
    """``(header, rows)`` of ``view``'s table ``name`` (None = the first, the main one)."""
    tables = TABLES[view]
    name = name or next(iter(tables))
    if name not in tables:
        raise ApiError(
            422,
            "invalid_table",
            _("table must be one of: %(names)s.") % {"names": ", ".join(tables)},
        )
    return tables[name](data)


def csv_text(header: list[str], rows: Iterable[list]) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow(header)
    for row in rows:
        writer.writerow([_cell(v) for v in row])
    return buf.getvalue()


def csv_response(header: list[str], rows: Iterable[list], filename: str) -> HttpResponse:
    # The BOM lets spreadsheet programs read Cyrillic and accents as UTF-8.
    response = HttpResponse(
        "\ufeff" + csv_text(header, rows), content_type="text/csv; charset=utf-8"
    )
    response["Content-Disposition"] = f'attachment; filename="{filename}.csv"'
    return response


def export(view: str, name: str | None, data: dict, filename: str) -> HttpResponse:
    header, rows = table(view, name, data)
    return csv_response(header, rows, f"{filename}-{name or table_names(view)[0]}")
