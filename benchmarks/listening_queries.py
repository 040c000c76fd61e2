"""Listening insight at scale: every dashboard chart, search, radius and full-text search over
10,000,000 stored mentions, on SQLite and PostgreSQL.

    .venv/bin/python benchmarks/listening_queries.py [--mentions 10000000]
        [--backend sqlite|postgres|both] [--runs 40] [--keep] [--reload]

For each backend, in a subprocess of its own (``DATABASE_URL`` must be set before Django
starts):

1. **Data.** A database (SQLite file ``var/bench/listening_queries.sqlite3``; PostgreSQL
   database ``apiary_bench_queries``) is migrated and filled with ``--mentions`` mentions
   spread over the last 180 days. 60,000 distinct mentions come from the demo generator
   (en/ru/es, brand/competitor stories, heavy-tailed followers, coordinates for some) and are
   enriched once by the real pipeline; the 10M rows are those enriched mentions with new ids
   and times, written through the real storage path (``consumer.store_enriched``: the
   mention rows, query matches, hourly rollups, the full-text index and every ``after_store``
   hook such as term rollups), 3% linked to customers. Texts therefore repeat as they do in
   real streams (retweets, templates), which makes full-text posting lists long — the hard
   case. With ``--keep`` the database stays for the next run and is reused if it already
   holds the requested number of mentions (``--reload`` forces a fresh load).
2. **Requests.** A staff user calls each endpoint and page through Django's test client,
   in-process: the figure is server time (routing, validation, the database queries,
   rendering), without network. Each case cycles through varied parameters (queries,
   countries, languages, periods, terms) so one cached plan cannot flatter it; 3 warm-up
   calls, then ``--runs`` timed calls. Any non-200 answer fails the benchmark.
3. **Figures.** p50/p95/max per case, plus the worst p95 per category (dashboard charts,
   search page, radius search, full-text search) against the issue's targets (300/300/300/500
   ms).

Writes ``benchmarks/results/listening_queries.json`` (merged), keys like
``sqlite.barometer_day.p95_ms``, ``postgres.fulltext.worst_p95_ms``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path
from urllib.parse import quote

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results" / "listening_queries.json"
PG_SERVER = os.environ.get("APIARY_BENCH_PG", "postgres://postgres@127.0.0.1:5432")
PG_DB = "apiary_bench_queries"
SQLITE_PATH = Path(
    os.environ.get("APIARY_BENCH_SQLITE", ROOT / "var" / "bench" / "listening_queries.sqlite3")
)
SAMPLE = 60_000
DAYS = 180
TARGETS = {"dashboard": 300, "search": 300, "radius": 300, "fulltext": 500}

QUERY_BOOK = [
    ("Northwind", "brand", 'northwind OR "north wind" OR #northwindcoffee OR @northwindcoffee'),
    ("Blue Harbor", "competitor", '"blue harbor" OR #blueharbor'),
    ("Café Aurora", "competitor", '"café aurora" OR "cafe aurora" OR #cafeaurora'),
    ("Кофе Лисица", "competitor", '"кофе лисица" OR лисица'),
    ("Delivery", "topic", "delivery OR доставк* OR entrega OR envío OR courier"),
    ("Espresso", "topic", "espresso OR эспрессо OR expreso"),
    ("Price", "topic", "price OR цен* OR precio* OR expensive OR дорого OR caro"),
    ("Beans", "topic", 'beans OR зерн* OR "café en grano" OR grano'),
]


# --- child: load --------------------------------------------------------------------------


def _setup():
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "apiary.settings")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()


_KEEP_INDEXES = (
    "listening_mention_pkey",
    "listening_mention_key",  # ON CONFLICT needs it
    "listening_mentionmatch_pkey",
    "listening_match_key",
)


def _pg_drop_indexes(connection) -> list[str]:
    """PostgreSQL bulk load as a DBA does it: drop the mention table's secondary indexes (the
    full-text GIN index above all) and build them once at the end — maintaining a dozen
    indexes row by row made the load I/O-bound at ~1,800 rows/s. The definitions are kept in
    a table so an interrupted load can restore them (``_pg_restore_indexes``)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE TABLE IF NOT EXISTS bench_dropped_index (name text PRIMARY KEY, def text)"
        )
        cursor.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE tablename IN "
            "('listening_mention', 'listening_mentionmatch') AND NOT indexname = ANY(%s)",
            [list(_KEEP_INDEXES)],
        )
        rows = cursor.fetchall()
        for name, definition in rows:
            cursor.execute(
                "INSERT INTO bench_dropped_index VALUES (%s, %s) ON CONFLICT DO NOTHING",
                [name, definition],
            )
            cursor.execute(f'DROP INDEX IF EXISTS "{name}"')
    return [r[0] for r in rows]


def _pg_restore_indexes(connection) -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE TABLE IF NOT EXISTS bench_dropped_index (name text PRIMARY KEY, def text)"
        )
        cursor.execute("SET maintenance_work_mem = '1GB'")
        cursor.execute("SELECT name, def FROM bench_dropped_index ORDER BY name")
        for name, definition in cursor.fetchall():
            print(f"  building {name}", file=sys.stderr, flush=True)
            cursor.execute(definition.replace("CREATE INDEX", "CREATE INDEX IF NOT EXISTS", 1))
            cursor.execute("DELETE FROM bench_dropped_index WHERE name = %s", [name])


def load(mentions: int) -> dict:
    _setup()
    import dataclasses
    import random
    from datetime import UTC, datetime, timedelta

    from django.db import connection, transaction

    from apiary.customers.models import Customer
    from apiary.listening.connectors.replay import COMPETITORS, generate_mentions
    from apiary.listening.consumer import store_enriched
    from apiary.listening.models import ListeningQuery, Mention
    from apiary.listening.pipeline import enrich
    from apiary.listening.queries import QueryBook

    # Resume an interrupted load: rows bench-0 … bench-(n-1) are there, in whole batches.
    have = Mention.objects.count()
    if have >= mentions:
        if have == mentions:
            if connection.vendor == "postgresql":
                _pg_restore_indexes(connection)  # an interrupted index build
            return {"loaded": False, "mentions": have}
        raise SystemExit(f"the benchmark database holds {have:,} mentions: use --reload")
    for name, kind, text in QUERY_BOOK:
        ListeningQuery.objects.get_or_create(name=name, defaults={"kind": kind, "text": text})
    queries = [(q.id, q.kind, q.text) for q in ListeningQuery.objects.order_by("pk")]
    book = QueryBook(queries)
    if not Customer.objects.filter(email__startswith="bench").exists():
        Customer.objects.bulk_create(
            Customer(name=f"Bench customer {i}", email=f"bench{i}@example.com", country="ES")
            for i in range(2000)
        )
    customer_ids = list(
        Customer.objects.filter(email__startswith="bench").values_list("pk", flat=True)
    )
    dropped = _pg_drop_indexes(connection) if connection.vendor == "postgresql" else []

    end = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    start = end - timedelta(days=DAYS)
    t = time.perf_counter()
    sample = list(
        generate_mentions(2026, 0, SAMPLE, t0=start, competitors=COMPETITORS, spike_multiplier=4.0)
    )
    templates = []
    for i in range(0, len(sample), 2000):
        templates += enrich(sample[i : i + 2000], book=book)
    enrich_s = time.perf_counter() - t
    rng = random.Random(7)
    span = (end - start).total_seconds()
    batch_size = 5000
    t = time.perf_counter()
    last = t
    for first in range(have, mentions, batch_size):
        batch = []
        for i in range(first, min(mentions, first + batch_size)):
            tpl = templates[i % len(templates)]
            # Times sweep the 180 days in order, as a stream would write them, with jitter.
            at = start + timedelta(seconds=span * i / mentions + rng.uniform(0, 60))
            raw = dataclasses.replace(
                tpl.raw, external_id=f"bench-{i}", created_at=at, received_at=at, raw={}
            )
            batch.append(
                dataclasses.replace(
                    tpl,
                    raw=raw,
                    customer_id=rng.choice(customer_ids) if rng.random() < 0.03 else None,
                )
            )
        with transaction.atomic():
            store_enriched(batch)
        now = time.perf_counter()
        if now - last > 15:
            done = first + len(batch)
            print(
                f"  loaded {done:,}/{mentions:,} ({(done - have) / (now - t):,.0f}/s)",
                file=sys.stderr,
                flush=True,
            )
            last = now
    load_s = time.perf_counter() - t
    t = time.perf_counter()
    if connection.vendor == "postgresql":
        _pg_restore_indexes(connection)
    index_s = time.perf_counter() - t
    return {
        "index_build_s": round(index_s, 1),
        "dropped_indexes": len(dropped),
        "loaded": True,
        "mentions": mentions,
        "enrich_sample_s": round(enrich_s, 1),
        "load_s": round(load_s, 1),
        "load_mentions_per_s": round((mentions - have) / load_s),
    }


def derive() -> dict:
    """The trends tables for the loaded mentions. The term rollup task (``trends.py``) reads
    mentions at ~4,000/s — 40 minutes for 10M —, so this computes the same rows the same way
    (``trends.extract_terms`` per text, the task's keys, display and sample rules, its upsert)
    but extracts each distinct text once: the load replicates 60,000 enriched mentions, so
    ``bench-i`` has the text and queries of mention ``i % 60000``. Topic clusters are computed
    by the real task (``topics_cluster_all``: a bounded sample per query)."""
    _setup()
    from collections import Counter
    from datetime import UTC

    from django.db import connection, transaction

    from apiary.listening import trends
    from apiary.listening.models import Mention, TermRollup, TopicCluster, TrendWatermark

    out: dict = {}
    t = time.perf_counter()
    if not TermRollup.objects.exists():
        terms_of: dict[str, list] = {}
        counts: Counter = Counter()
        meta: dict[tuple, tuple[str, str, int]] = {}
        last = 0
        rows = (
            Mention.objects.order_by("id")
            .values_list("id", "text", "language", "query_ids", "created_at")
            .iterator(chunk_size=20_000)
        )
        for mention_id, text, language, query_ids, created_at in rows:
            key = (text, language)
            terms = terms_of.get(key)
            if terms is None:
                terms = terms_of[key] = trends.extract_terms(text, language)
            day = created_at.astimezone(UTC).date()
            for term in terms:
                for qid in (0, *(query_ids or ())):
                    k = (day, qid, term.term)
                    counts[k] += 1
                    first = meta.get(k)
                    meta[k] = (term.kind, first[1] if first else term.display, mention_id)
            last = mention_id
        adapt = connection.ops.adapt_datefield_value
        rows_out = [
            (adapt(day), qid, term, *meta[(day, qid, term)][:2], n, meta[(day, qid, term)][2])
            for (day, qid, term), n in counts.items()
        ]
        with transaction.atomic():
            for i in range(0, len(rows_out), 50_000):
                trends._upsert_terms(rows_out[i : i + 50_000])
            TrendWatermark.objects.update_or_create(
                name=trends.WATERMARK, defaults={"last_mention_id": last}
            )
        out["term_rollup_rows"] = len(rows_out)
        out["distinct_texts"] = len(terms_of)
    out["terms_s"] = round(time.perf_counter() - t, 1)
    t = time.perf_counter()
    if not TopicCluster.objects.exists():
        trends.topics_cluster_queries()
    out["topics_s"] = round(time.perf_counter() - t, 1)
    out["topic_clusters"] = TopicCluster.objects.count()
    return out


# --- child: measure -----------------------------------------------------------------------


def cases(ids: dict) -> list[tuple[str, str, list[str]]]:
    """(name, category, urls to cycle through)."""
    brand, comps, topics = ids["brand"], ids["competitors"], ids["topics"]
    countries = ["ES", "RU", "US", "MX", "GB", "AR"]
    since = ids["since"]
    week = ids["week"]
    last_week = ids["last_week"]
    out: list[tuple[str, str, list[str]]] = []

    def api(path):
        return "/api/v1" + path

    out.append(
        (
            "barometer_day",
            "dashboard",
            [
                api(f"/listening/barometer?query_id={q}&interval=day&start={since}")
                for q in [brand, *comps]
            ],
        )
    )
    out.append(
        (
            "barometer_hour_week_compare",
            "dashboard",
            [
                api(
                    f"/listening/barometer?query_id={q}&interval=hour&start={week[0]}&end={week[1]}"
                    f"&compare_start={last_week[0]}&compare_end={last_week[1]}&country={c}"
                )
                for q in [brand, *comps]
                for c in ("ES", "RU")
            ],
        )
    )
    out.append(
        (
            "share_of_voice",
            "dashboard",
            [
                api(f"/listening/share-of-voice?by={by}&interval=week&start={since}")
                for by in ("volume", "positive", "reach")
            ],
        )
    )
    out.append(
        (
            "competitor_watch",
            "dashboard",
            [api(f"/listening/competitors/{q}?start={week[0]}&end={week[1]}") for q in comps],
        )
    )
    out.append(
        (
            "platform_focus",
            "dashboard",
            [api(f"/listening/platform-focus?start={since}&country={c}") for c in countries],
        )
    )
    out.append(
        (
            "search_filtered_api",
            "search",
            [
                api(f"/mentions?query_id={q}&sentiment={s}&language={lang}&limit=50")
                for q in [brand, *comps, *topics]
                for s, lang in (("negative", "es"), ("positive", "ru"), ("neutral", "en"))
            ],
        )
    )
    # The mention search page (HTML, as the browser gets it) and its API with filters.
    out.append(
        (
            "search_page_filtered",
            "search",
            [
                f"/listening/?query_id={q}&sentiment={s}&language={lang}"
                for q in [brand, *comps]
                for s, lang in (("negative", "es"), ("positive", "ru"), ("neutral", "en"))
            ],
        )
    )
    out.append(
        (
            "search_reach_country",
            "search",
            [
                api(f"/mentions?country={c}&sort=reach&min_followers=1000&since={since}&limit=50")
                for c in countries
            ],
        )
    )
    # Radius: around the demo markets' cities, several radii.
    cities = [
        (40.4168, -3.7038),
        (55.7558, 37.6173),
        (41.3874, 2.1686),
        (59.9343, 30.3351),
        (51.5072, -0.1276),
        (19.4326, -99.1332),
    ]
    out.append(
        (
            "radius_api",
            "radius",
            [
                api(f"/mentions?near={lat},{lon}&radius_km={r}&limit=50")
                for lat, lon in cities
                for r in (5, 50, 500)
            ],
        )
    )
    out.append(
        (
            "radius_page",
            "radius",
            [f"/listening/?near={lat},{lon}&radius_km=50" for lat, lon in cities],
        )
    )
    # Full text: common and rare words in three languages, phrases, prefixes, exclusions,
    # combined with filters, newest first and by relevance.
    terms = [
        "delivery",
        "доставка",
        "entrega",
        '"cold brew"',
        "espres*",
        "доставк* -курьер",
        "northwind",
        "refund",
        "precio",
        "вкусный",
        "late -northwind",
        '"north wind"',
    ]
    out.append(
        (
            "fulltext_api",
            "fulltext",
            [api(f"/mentions?q={quote(t)}&limit=50") for t in terms],
        )
    )
    out.append(
        (
            "fulltext_relevance_filtered",
            "fulltext",
            [
                api(f"/mentions?q={quote(t)}&sort=relevance&language={lang}&limit=50")
                for t in terms
                for lang in ("en", "es", "ru")
            ],
        )
    )
    out.append(("fulltext_page", "fulltext", [f"/listening/?q={quote(t)}" for t in terms]))
    # Map: country and region choropleths, clusters for the world and for Spain.
    out.append(
        (
            "map_areas",
            "dashboard",
            [api(f"/listening/map/areas?level=country&since={since}")]
            + [
                api(f"/listening/map/areas?level=region&country={c}&since={since}")
                for c in ("ES", "RU")
            ]
            + [
                api(f"/listening/map/areas?level=country&query_id={q}&since={since}") for q in comps
            ],
        )
    )
    out.append(
        (
            "map_points",
            "dashboard",
            [
                api(f"/listening/map/points?bbox=-60,-180,80,180&zoom=1&since={since}"),
                api(f"/listening/map/points?bbox=35,-10,44,5&zoom=5&since={since}"),
                api(f"/listening/map/points?bbox=41,19,70,60&zoom=3&since={since}"),
                api(
                    f"/listening/map/points?bbox=-60,-180,80,180&zoom=2&query_id={brand}&since={since}"
                ),
            ],
        )
    )
    out.append(
        (
            "trending",
            "dashboard",
            [
                api(f"/listening/trending?query_id={q}&start={week[0]}&end={week[1]}")
                for q in [0, brand, *comps]
            ],
        )
    )
    out.append(
        (
            "topics",
            "dashboard",
            [api(f"/listening/topics?query_id={q}") for q in [0, brand, *comps]],
        )
    )
    # The dashboard pages themselves (HTML with server-rendered SVG charts).
    out.append(
        (
            "page_barometer",
            "dashboard",
            [
                f"/listening/insight/?query_id={q}&start={week[0]}&end={week[1]}"
                f"&compare_start={last_week[0]}&compare_end={last_week[1]}&country={c}"
                for q in [brand, *comps]
                for c in ("ES", "RU")
            ],
        )
    )
    out.append(
        (
            "page_share_of_voice",
            "dashboard",
            [
                f"/listening/insight/share-of-voice/?start={since}&by={by}"
                for by in ("volume", "reach")
            ],
        )
    )
    out.append(
        (
            "page_competitor",
            "dashboard",
            [f"/listening/insight/competitors/{q}/?start={week[0]}&end={week[1]}" for q in comps],
        )
    )
    out.append(("page_map", "dashboard", [f"/listening/map/?since={since}"]))
    return out


def measure(runs: int, only: list[str] | None, skip: list[str] | None = None) -> dict:
    _setup()
    from datetime import UTC, datetime, timedelta

    from django.test import Client

    from apiary.accounts.models import Role, User
    from apiary.listening.models import ListeningQuery

    user = User.objects.filter(email="bench@example.com").first()
    if user is None:
        user = User.objects.create_user("bench@example.com", "x" * 12, role=Role.ANALYST)
    client = Client()
    client.force_login(user)
    qs = {q.name: q for q in ListeningQuery.objects.all()}
    now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)

    def iso(d):
        return d.strftime("%Y-%m-%dT%H:%M:%SZ")

    ids = {
        "brand": qs["Northwind"].id,
        "competitors": [qs[n].id for n in ("Blue Harbor", "Café Aurora", "Кофе Лисица")],
        "topics": [qs[n].id for n in ("Delivery", "Espresso", "Price", "Beans")],
        "since": iso(now - timedelta(days=90)),
        "week": (iso(now - timedelta(days=7)), iso(now)),
        "last_week": (iso(now - timedelta(days=14)), iso(now - timedelta(days=7))),
    }
    out: dict = {}
    for name, category, urls in cases(ids):
        if (only and name not in only) or (skip and name in skip):
            continue
        for url in urls[:3]:  # warm-up (and fail fast on a bad URL)
            response = client.get(url)
            if response.status_code != 200:
                raise SystemExit(
                    f"{name}: {url} answered {response.status_code}: {response.content[:300]!r}"
                )
        times = []
        for i in range(runs):
            url = urls[i % len(urls)]
            t = time.perf_counter()
            response = client.get(url)
            times.append((time.perf_counter() - t) * 1000)
            if response.status_code != 200:
                raise SystemExit(f"{name}: {url} answered {response.status_code}")
        times.sort()
        out[name] = {
            "category": category,
            "runs": runs,
            "p50_ms": round(statistics.median(times), 1),
            "p95_ms": round(times[min(len(times) - 1, int(len(times) * 0.95))], 1),
            "max_ms": round(times[-1], 1),
        }
        print(
            f"  {name:32s} p50 {out[name]['p50_ms']:8.1f} ms  p95 {out[name]['p95_ms']:8.1f} ms",
            file=sys.stderr,
            flush=True,
        )
    return out


# --- parent -------------------------------------------------------------------------------


def _pg(sql: str, db: str = "postgres") -> str:
    return subprocess.run(
        ["psql", f"{PG_SERVER}/{db}", "-qAtc", sql], check=True, capture_output=True, text=True
    ).stdout.strip()


def _env(backend: str) -> dict:
    url = f"sqlite:///{SQLITE_PATH}" if backend == "sqlite" else f"{PG_SERVER}/{PG_DB}"
    return {
        **os.environ,
        "DATABASE_URL": url,
        "APIARY_STREAM_URL": "memory://",
        "APIARY_DATA_DIR": str(SQLITE_PATH.parent),
        "APIARY_LOG_LEVEL": "WARNING",
        "APIARY_DEBUG": "false",
        "APIARY_SECRET_KEY": "bench-" + uuid.uuid4().hex + uuid.uuid4().hex,
        "APIARY_ALLOWED_HOSTS": "127.0.0.1,localhost,testserver",
    }


def _child(backend: str, *args: str) -> dict:
    proc = subprocess.run(
        [sys.executable, __file__, "--child", *args],
        env=_env(backend),
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    if proc.returncode != 0:
        raise SystemExit(f"{backend} {args[0]} failed (exit {proc.returncode})")
    line = next(x for x in proc.stdout.splitlines() if x.startswith("RESULT "))
    return json.loads(line[len("RESULT ") :])


def run_backend(backend: str, args) -> dict:
    SQLITE_PATH.parent.mkdir(parents=True, exist_ok=True)
    if backend == "sqlite":
        if args.reload:
            for suffix in ("", "-wal", "-shm"):
                Path(str(SQLITE_PATH) + suffix).unlink(missing_ok=True)
    else:
        exists = _pg(f"SELECT 1 FROM pg_database WHERE datname = '{PG_DB}'")  # noqa: S608
        if exists and args.reload:
            _pg(f"DROP DATABASE {PG_DB}")
            exists = ""
        if not exists:
            _pg(f"CREATE DATABASE {PG_DB}")
    subprocess.run(
        [str(Path(sys.executable).parent / "apiary"), "migrate", "-v", "0"],
        env=_env(backend),
        cwd=ROOT,
        check=True,
    )
    # Production mode serves pages with hashed static names: collect them as a deployment does.
    subprocess.run(
        [str(Path(sys.executable).parent / "apiary"), "collectstatic", "--noinput", "-v", "0"],
        env=_env(backend),
        cwd=ROOT,
        check=True,
    )
    loaded = _child(backend, "load", str(args.mentions))
    derived = _child(backend, "derive")
    if backend == "postgres" and (loaded.get("loaded") or derived.get("term_rollup_rows")):
        _pg("VACUUM ANALYZE", PG_DB)  # what autovacuum does after a bulk load
    figures = _child(
        backend, "measure", str(args.runs), ",".join(args.only or []), ",".join(args.skip or [])
    )
    result: dict = {"mentions": loaded["mentions"]}
    for key in ("load_s", "load_mentions_per_s", "index_build_s", "enrich_sample_s"):
        if key in loaded:
            result[key] = loaded[key]
    result.update({f"derive.{k}": v for k, v in derived.items()})
    worst: dict[str, float] = {}
    for name, fig in figures.items():
        for key in ("p50_ms", "p95_ms", "max_ms"):
            result[f"{name}.{key}"] = fig[key]
        worst[fig["category"]] = max(worst.get(fig["category"], 0.0), fig["p95_ms"])
    for category, value in worst.items():
        result[f"{category}.worst_p95_ms"] = value
        result[f"{category}.target_p95_ms"] = TARGETS[category]
        result[f"{category}.met"] = value <= TARGETS[category]
    if not args.keep:
        if backend == "sqlite":
            for suffix in ("", "-wal", "-shm"):
                Path(str(SQLITE_PATH) + suffix).unlink(missing_ok=True)
        else:
            _pg(f"DROP DATABASE IF EXISTS {PG_DB}")
    return result


def main() -> None:
    if len(sys.argv) > 2 and sys.argv[1] == "--child":
        mode = sys.argv[2]
        if mode == "load":
            out = load(int(sys.argv[3]))
        elif mode == "derive":
            out = derive()
        else:
            only = [x for x in (sys.argv[4] if len(sys.argv) > 4 else "").split(",") if x]
            skip = [x for x in (sys.argv[5] if len(sys.argv) > 5 else "").split(",") if x]
            out = measure(int(sys.argv[3]), only or None, skip)
        print("RESULT " + json.dumps(out), flush=True)
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mentions", type=int, default=10_000_000)
    parser.add_argument("--backend", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--runs", type=int, default=40)
    parser.add_argument("--keep", action="store_true", help="keep the database for the next run")
    parser.add_argument("--reload", action="store_true", help="drop and load the data again")
    parser.add_argument("--only", nargs="*", help="measure only these cases")
    parser.add_argument("--skip", nargs="*", help="do not measure these cases")
    args = parser.parse_args()
    backends = ["sqlite", "postgres"] if args.backend == "both" else [args.backend]
    results = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    for backend in backends:
        print(f"=== {backend}: {args.mentions:,} mentions ===", file=sys.stderr, flush=True)
        figures = run_backend(backend, args)
        for key, value in figures.items():
            results[f"{backend}.{key}"] = value
        print(json.dumps({backend: figures}, indent=1))
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(json.dumps(results, indent=2, sort_keys=True) + "\n")
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
