"""Storing enriched mentions: one bulk write per batch, idempotent by ``(platform, external_id)``.

``mentions_store`` runs inside the caller's transaction (the stream consumer opens it, so the
outbox rows are deleted — or the JetStream messages acked — only after this commits):

1. ``INSERT … ON CONFLICT (platform, external_id) DO NOTHING RETURNING id, platform,
   external_id`` in chunks — the rows that come back are the ones that are new;
2. the query matches of the new rows (``MentionMatch``);
3. hourly and daily rollups, and the map's daily region and grid-cell rollups (fine and coarse
   cells), counted from the new rows only (``ON CONFLICT DO UPDATE count = count + n``),
   so a re-delivered batch never counts twice;
4. per-source counters (events per minute, last event, lag).

Plain SQL on purpose: the ORM's ``bulk_create(ignore_conflicts=True)`` cannot tell which rows
were new. Only this app's table and column names go into the SQL text; every value is a
parameter.
"""

from __future__ import annotations

import json
import sqlite3
import statistics
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import connection
from django.utils import timezone

from ..models import (
    GEO_COARSE_SHIFT,
    Mention,
    MentionCellDay,
    MentionCoarseCellDay,
    MentionMatch,
    MentionRegionDay,
    MentionRollup,
    MentionRollupDay,
    Source,
    SourceMinute,
    geo_cell,
)
from ..pipeline import EnrichedMention

_MENTION_COLUMNS = [
    "platform",
    "external_id",
    "source_id",
    "text",
    "url",
    "created_at",
    "received_at",
    "stored_at",
    "author_handle",
    "author_name",
    "author_url",
    "author_followers",
    "author_location",
    "parent_external_id",
    "quote_external_id",
    "language",
    "language_confidence",
    "sentiment",
    "sentiment_score",
    "sentiment_confidence",
    "intent",
    "intent_cues",
    "query_ids",
    "lat",
    "lon",
    "country",
    "region",
    "region_name",
    "city",
    "place_confidence",
    "place_source",
    "customer_id",
    "raw",
]
_ROWS_PER_STATEMENT = 250  # 33 columns × 250 = 8,250 parameters, under SQLite's 32,766


@dataclass(slots=True)
class StoreResult:
    inserted: int
    duplicates: int
    ids: dict[tuple[str, str], int]


def _q(name: str) -> str:
    return connection.ops.quote_name(name)


def _execute(cursor, sql: str, params: list) -> None:
    """Run a bulk statement written with ``%s`` placeholders. On SQLite it goes straight to
    the sqlite3 cursor with ``?`` placeholders: Django's wrapper rewrites ``%s`` with a regular
    expression over the whole text on every call (thousands of placeholders per statement),
    which cost more than a tenth of the insert. The text holds only our quoted names and
    placeholders, never a literal ``%``."""
    if connection.vendor != "sqlite":
        cursor.execute(sql, params)
        return
    with connection.wrap_database_errors:
        sqlite3.Cursor.execute(cursor.cursor, sql.replace("%s", "?"), params)


def _adapters():
    """Per-backend value adapters for datetime and JSON columns (computed once per call)."""
    json_field = Mention._meta.get_field("raw")
    vendor = connection.vendor

    if vendor == "sqlite":
        # What ``connection.ops.adapt_datetimefield_value`` stores (naive in the connection's
        # time zone, ``str()`` form), without its per-call setting and expression checks: it
        # ran ~6 times per mention and was 8% of a SQLite ingest worker's time.
        tz = connection.timezone

        def dt(value: datetime):
            if value is None:
                return None
            if value.tzinfo is not None:
                value = value.astimezone(tz).replace(tzinfo=None)
            return value.isoformat(" ")

        def js(value):
            return json.dumps(value, ensure_ascii=False, separators=(",", ":"))

    else:

        def dt(value: datetime):
            return value

        def js(value):
            return json_field.get_db_prep_value(value, connection)

    return dt, js


def _row(e: EnrichedMention, stored_at, dt, js) -> tuple:
    r = e.raw
    p = e.place
    return (
        r.platform,
        r.external_id,
        r.source_id,
        r.text,
        r.url,
        dt(r.created_at),
        dt(r.received_at),
        stored_at,
        r.author_handle,
        r.author_name,
        r.author_url,
        r.author_followers,
        r.author_location,
        r.parent_external_id,
        r.quote_external_id,
        e.language,
        e.language_confidence,
        e.sentiment,
        e.sentiment_score,
        e.sentiment_confidence,
        e.intent,
        js(e.intent_cues),
        js(e.query_ids),
        p.lat if p is not None and p.lat is not None else r.lat,
        p.lon if p is not None and p.lon is not None else r.lon,
        p.country if p is not None else "",
        p.region if p is not None else "",
        p.region_name if p is not None else "",
        p.city if p is not None else "",
        p.confidence if p is not None else None,
        p.source if p is not None else "",
        e.customer_id,
        js(r.raw),
    )


def _insert_mentions_postgres(batch: Sequence[EnrichedMention]) -> dict[tuple[str, str], int]:
    """COPY into a scratch table, then one ``INSERT … SELECT … ON CONFLICT DO NOTHING
    RETURNING``: a client-side bound multi-row VALUES cost three times as much here."""
    dt, js = _adapters()
    stored_at = timezone.now()
    table = _q(Mention._meta.db_table)
    scratch = _q("scratch_listening_mention")
    cols = ", ".join(_q(c) for c in _MENTION_COLUMNS)
    new: dict[tuple[str, str], int] = {}
    with connection.wrap_database_errors, connection.cursor() as cursor:
        cursor.execute(
            f"CREATE TEMP TABLE IF NOT EXISTS {scratch} ON COMMIT DROP AS "
            f"SELECT {cols} FROM {table} WITH NO DATA"
        )
        cursor.execute(f"TRUNCATE {scratch}")
        with cursor.cursor.copy(f"COPY {scratch} ({cols}) FROM STDIN") as copy:
            for e in batch:
                copy.write_row(_row(e, stored_at, dt, js))
        cursor.execute(
            f"INSERT INTO {table} ({cols}) SELECT {cols} FROM {scratch} "
            f"ON CONFLICT ({_q('platform')}, {_q('external_id')}) DO NOTHING "
            f"RETURNING {_q('id')}, {_q('platform')}, {_q('external_id')}"
        )
        for mention_id, platform, external_id in cursor.fetchall():
            new[(platform, external_id)] = mention_id
    return new


def _insert_mentions(batch: Sequence[EnrichedMention]) -> dict[tuple[str, str], int]:
    if connection.vendor == "postgresql":
        return _insert_mentions_postgres(batch)
    dt, js = _adapters()
    stored_at = dt(timezone.now())
    table = _q(Mention._meta.db_table)
    cols = ", ".join(_q(c) for c in _MENTION_COLUMNS)
    one = "(" + ", ".join(["%s"] * len(_MENTION_COLUMNS)) + ")"
    new: dict[tuple[str, str], int] = {}
    with connection.cursor() as cursor:
        for start in range(0, len(batch), _ROWS_PER_STATEMENT):
            chunk = batch[start : start + _ROWS_PER_STATEMENT]
            params: list = []
            for e in chunk:
                params.extend(_row(e, stored_at, dt, js))
            _execute(
                cursor,
                f"INSERT INTO {table} ({cols}) VALUES {', '.join([one] * len(chunk))} "
                f"ON CONFLICT ({_q('platform')}, {_q('external_id')}) DO NOTHING "
                f"RETURNING {_q('id')}, {_q('platform')}, {_q('external_id')}",
                params,
            )
            for mention_id, platform, external_id in cursor.fetchall():
                new[(platform, external_id)] = mention_id
    return new


def _pg_arrays(cursor, sql_head: str, types: list[str], rows: list[tuple], tail: str) -> None:
    """PostgreSQL: ``INSERT … SELECT * FROM unnest(%s::t1[], %s::t2[], …) …``: one parameter
    per column instead of one per value, so the statement text is the same every batch
    (psycopg caches its parse) and binding is a handful of arrays — a multi-row VALUES of 8,000
    placeholders spent more time in psycopg's query splitting than in the server."""
    columns = [list(col) for col in zip(*rows, strict=True)]
    arrays = ", ".join(f"%s::{t}[]" for t in types)
    cursor.execute(f"{sql_head} SELECT * FROM unnest({arrays}) {tail}", columns)


def _upsert(
    cursor,
    table: str,
    key_cols: list[str],
    value_cols: list[str],
    rows: list[tuple],
    pg_types: list[str] | None = None,
):
    """``INSERT … ON CONFLICT (keys) DO UPDATE SET v = v + excluded.v`` for counter tables.

    Rows are sorted so that concurrent workers lock counter rows in the same order (no
    deadlock between two batches touching the same hours)."""
    if not rows:
        return
    # Key columns are never NULL and each column holds one type: compare them as they are
    # (formatting every value as text to sort cost more than the upsert's own Python work).
    width = len(key_cols)
    rows = sorted(rows, key=lambda r: r[:width])
    cols = key_cols + value_cols
    qt = _q(table)
    sets = ", ".join(f"{_q(c)} = {qt}.{_q(c)} + excluded.{_q(c)}" for c in value_cols)
    head = f"INSERT INTO {qt} ({', '.join(_q(c) for c in cols)})"
    conflict = f"ON CONFLICT ({', '.join(_q(c) for c in key_cols)}) DO UPDATE SET {sets}"
    if connection.vendor == "postgresql" and pg_types:
        _pg_arrays(cursor, head, pg_types, rows, conflict)
        return
    one = "(" + ", ".join(["%s"] * len(cols)) + ")"
    per = max(1, 8000 // len(cols))
    for start in range(0, len(rows), per):
        chunk = rows[start : start + per]
        _execute(
            cursor,
            f"{head} VALUES {', '.join([one] * len(chunk))} {conflict}",
            [v for row in chunk for v in row],
        )


def _geo_rollups(e: EnrichedMention, day: datetime, regions: Counter, cells: dict) -> None:
    """The map's daily rollups of one new mention, once per matched query and for query 0:
    by region (mentions with a country) and by grid cell with coordinate sums (mentions with
    coordinates — the same values ``_row`` stores, so the sums equal the mention table's)."""
    p, r = e.place, e.raw
    country = p.country if p is not None else ""
    lat = p.lat if p is not None and p.lat is not None else r.lat
    lon = p.lon if p is not None and p.lon is not None else r.lon
    cell = geo_cell(lat, lon) if lat is not None and lon is not None else None
    if not country and cell is None:
        return
    region = p.region if p is not None else ""
    for qid in (0, *e.query_ids):
        if country:
            regions[(day, qid, country, region, e.sentiment)] += 1
        if cell is not None:
            sums = cells.setdefault((day, qid, *cell, country, e.sentiment), [0, 0.0, 0.0])
            sums[0] += 1
            sums[1] += lat
            sums[2] += lon


def _coarse_cells(cells: dict) -> dict:
    """The batch's fine cell counts regrouped into coarse cells (``MentionCoarseCellDay``):
    summed from the same numbers, so the coarse table is always the fine one regrouped."""
    coarse: dict[tuple, list] = {}
    for (day, qid, cy, cx, country, sentiment), (n, lat_sum, lon_sum) in cells.items():
        key = (day, qid, cy >> GEO_COARSE_SHIFT, cx >> GEO_COARSE_SHIFT, country, sentiment)
        sums = coarse.get(key)
        if sums is None:
            coarse[key] = [n, lat_sum, lon_sum]
        else:
            sums[0] += n
            sums[1] += lat_sum
            sums[2] += lon_sum
    return coarse


def mentions_store(batch: Sequence[EnrichedMention]) -> StoreResult:
    """Write one enriched batch (call inside ``transaction.atomic``)."""
    if not batch:
        return StoreResult(0, 0, {})
    new = _insert_mentions(batch)
    fresh = [e for e in batch if e.raw.key in new]
    dt, _js = _adapters()

    matches = [(new[e.raw.key], qid, dt(e.raw.created_at)) for e in fresh for qid in e.query_ids]
    rollups: Counter = Counter()
    reach: Counter = Counter()
    days: Counter = Counter()
    day_reach: Counter = Counter()
    regions: Counter = Counter()  # the map's rollups (see _geo_rollups)
    cells: dict[tuple, list] = {}
    per_source: dict[int, list[EnrichedMention]] = defaultdict(list)
    for e in fresh:
        r = e.raw
        hour = r.created_at.replace(minute=0, second=0, microsecond=0)
        country = e.place.country if e.place is not None else ""
        followers = r.author_followers or 0
        day = hour.replace(hour=0)
        week = day - timedelta(days=day.weekday())
        for qid in (0, *e.query_ids):
            key = (hour, qid, r.platform, e.language, e.sentiment, e.intent, country)
            rollups[key] += 1
            reach[key] += followers
            day_key = (day, week, qid, r.platform, e.language, e.sentiment, country)
            days[day_key] += 1
            day_reach[day_key] += followers
        _geo_rollups(e, day, regions, cells)
        if r.source_id is not None:
            per_source[r.source_id].append(e)

    coarse = _coarse_cells(cells)

    with connection.cursor() as cursor:
        if matches:
            mt = _q(MentionMatch._meta.db_table)
            head = f"INSERT INTO {mt} ({_q('mention_id')}, {_q('query_id')}, {_q('created_at')})"
            conflict = f"ON CONFLICT ({_q('mention_id')}, {_q('query_id')}) DO NOTHING"
            if connection.vendor == "postgresql":
                _pg_arrays(cursor, head, ["bigint", "bigint", "timestamptz"], matches, conflict)
            else:
                per = 2000
                for start in range(0, len(matches), per):
                    chunk = matches[start : start + per]
                    _execute(
                        cursor,
                        f"{head} VALUES {', '.join(['(%s, %s, %s)'] * len(chunk))} {conflict}",
                        [v for row in chunk for v in row],
                    )
        _upsert(
            cursor,
            MentionRollup._meta.db_table,
            ["hour", "query_id", "platform", "language", "sentiment", "intent", "country"],
            ["count", "reach"],
            [(dt(k[0]), *k[1:], n, reach[k]) for k, n in rollups.items()],
            pg_types=["timestamptz", "bigint"] + ["text"] * 5 + ["bigint", "bigint"],
        )
        _upsert(
            cursor,
            MentionRollupDay._meta.db_table,
            ["day", "week", "query_id", "platform", "language", "sentiment", "country"],
            ["count", "reach"],
            [(dt(k[0]), dt(k[1]), *k[2:], n, day_reach[k]) for k, n in days.items()],
            pg_types=["timestamptz", "timestamptz", "bigint"] + ["text"] * 4 + ["bigint", "bigint"],
        )
        _upsert(
            cursor,
            MentionRegionDay._meta.db_table,
            ["day", "query_id", "country", "region", "sentiment"],
            ["count"],
            [(dt(k[0]), *k[1:], n) for k, n in regions.items()],
            pg_types=["timestamptz", "bigint", "text", "text", "text", "bigint"],
        )
        _upsert(
            cursor,
            MentionCellDay._meta.db_table,
            ["day", "query_id", "cell_lat", "cell_lon", "country", "sentiment"],
            ["count", "lat_sum", "lon_sum"],
            [(dt(k[0]), *k[1:], *v) for k, v in cells.items()],
            pg_types=["timestamptz", "bigint", "integer", "integer", "text", "text", "bigint"]
            + ["double precision"] * 2,
        )
        _upsert(
            cursor,
            MentionCoarseCellDay._meta.db_table,
            ["day", "query_id", "cell_lat", "cell_lon", "country", "sentiment"],
            ["count", "lat_sum", "lon_sum"],
            [(dt(k[0]), *k[1:], *v) for k, v in coarse.items()],
            pg_types=["timestamptz", "bigint", "integer", "integer", "text", "text", "bigint"]
            + ["double precision"] * 2,
        )
        minutes: Counter = Counter()
        for source_id, items in per_source.items():
            for e in items:
                minute = e.raw.received_at.replace(second=0, microsecond=0)
                minutes[(source_id, minute)] += 1
        _upsert(
            cursor,
            SourceMinute._meta.db_table,
            ["source_id", "minute"],
            ["received", "rejected"],
            [(sid, dt(minute), n, 0) for (sid, minute), n in minutes.items()],
            pg_types=["bigint", "timestamptz", "bigint", "bigint"],
        )
    now = timezone.now()
    for source_id, items in per_source.items():
        lags = [(e.raw.received_at - e.raw.created_at).total_seconds() for e in items]
        Source.objects.filter(pk=source_id).update(
            last_event_at=now, lag_seconds=max(0.0, statistics.median(lags))
        )
    return StoreResult(inserted=len(fresh), duplicates=len(batch) - len(fresh), ids=new)
