"""Ingestion end to end: receive → parse → stream → enrich → store + rollups.

    .venv/bin/python benchmarks/ingest.py [--mentions 1000000] [--backend sqlite|postgres|both]
        [--stream memory|nats|both] [--workers 2] [--steady-rate 1000] [--steady-seconds 30]

For each backend × stream:

1. a throwaway database (SQLite file in a temporary directory; PostgreSQL database
   ``apiary_bench_ingest``, created and dropped) is migrated, and a throwaway JetStream stream
   is named for the NATS runs;
2. ``--workers`` processes of ``apiary worker --only listening-consumer`` start (the real
   consumer, the real broker);
3. **throughput**: a producer process generates ``--mentions`` realistic multilingual mentions
   (the demo replay generator: en/ru/es templates, authors with heavy-tailed followers,
   profile locations, some coordinates, replies) and feeds them, as webhook items, through
   ``services.ingest.mentions_receive`` (validation, duplicate check, durable publish) in
   batches of 1,000, as fast as it can; the clock stops when the last mention is stored. The
   figure is mentions stored per second of wall time, everything (producer, workers, database
   server, broker) sharing this machine's cores;
4. **latency**: the producer then sends a steady ``--steady-rate`` mentions/s for
   ``--steady-seconds`` and the p50/p95/max of ``stored_at − received_at`` is read back;
5. the workers' and producer's peak RSS are read (memory stays bounded: the backlog lives in
   the outbox table or JetStream, not in memory).

Writes ``benchmarks/results/ingest.json`` (merged), keys like ``sqlite.memory.mentions_per_s``,
``postgres.nats.p95_ms``, ``sqlite.memory.worker_peak_rss_mb``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results" / "ingest.json"
PG_SERVER = os.environ.get("APIARY_BENCH_PG", "postgres://postgres@127.0.0.1:5432")
PG_DB = "apiary_bench_ingest"
NATS = os.environ.get("APIARY_BENCH_NATS", "nats://127.0.0.1:4222")
BIN = Path(sys.executable).parent


def _items(mentions):
    for m in mentions:
        item = {
            "platform": m.platform,
            "external_id": m.external_id,
            "text": m.text,
            "created_at": m.created_at.isoformat(),
            "author": {
                "handle": m.author_handle,
                "name": m.author_name,
                "url": m.author_url,
                "followers": m.author_followers,
                "location": m.author_location,
            },
            "url": m.url,
        }
        if m.language_hint:
            item["language"] = m.language_hint
        if m.parent_external_id:
            item["parent_external_id"] = m.parent_external_id
        if m.lat is not None:
            item["lat"], item["lon"] = m.lat, m.lon
        yield item


def producer(mentions: int, steady_rate: int, steady_seconds: int) -> None:
    """Runs in a fresh process with DATABASE_URL / APIARY_STREAM_URL set."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "apiary.settings")
    sys.path.insert(0, str(ROOT))
    import resource
    from datetime import UTC, datetime, timedelta

    import django

    django.setup()
    from django.db import connection, reset_queries
    from tqdm import tqdm

    from apiary.listening.connectors.replay import generate_mentions
    from apiary.listening.models import ListeningQuery, Mention, MentionRollup
    from apiary.listening.services.ingest import mentions_receive
    from apiary.listening.services.sources import source_create

    # A realistic query book: the brand, three competitors, a dozen topics.
    for name, kind, text in [
        ("Northwind", "brand", 'northwind OR "north wind" OR #northwindcoffee OR @northwindcoffee'),
        ("Blue Harbor", "competitor", '"blue harbor" OR #blueharbor'),
        ("Café Aurora", "competitor", '"café aurora" OR "cafe aurora" OR #cafeaurora'),
        ("Кофе Лисица", "competitor", '"кофе лисица" OR лисица'),
        ("Delivery", "topic", "delivery OR доставк* OR entrega OR envío OR courier"),
        ("Espresso", "topic", "espresso OR эспрессо OR expreso"),
        ("Price", "topic", "price OR цен* OR precio* OR expensive OR дорого OR caro"),
        ("Beans", "topic", 'beans OR зерн* OR "café en grano" OR grano'),
        ("Subscription", "topic", "subscription OR подписк* OR suscripción"),
        ("Spain", "topic", "coffee country:ES"),
        ("Russia", "topic", "кофе country:RU"),
        ("Quality", "topic", "stale OR burnt OR горьк* OR несвеж* OR rancio OR quemado"),
    ]:
        ListeningQuery.objects.get_or_create(name=name, defaults={"kind": kind, "text": text})
    source, _token = source_create(name="bench", kind="webhook")
    t0 = datetime.now(UTC) - timedelta(days=30)
    gen = generate_mentions(2026, 0, mentions, t0=t0, spike_multiplier=1.0, rate_per_minute=2000)

    def stored() -> int:
        return Mention.objects.count()

    def stored_at_least(n: int) -> bool:
        # Polled every 0.2 s while the workers drain the backlog: a COUNT(*) over a million
        # rows costs 30-100 ms of a core each time, which the workers would lose. The newest id
        # is one index probe, and ids of a fresh database only reach n once n rows were
        # inserted (a conflict skips an id, never reuses one), so the exact count runs only
        # at the very end.
        top = Mention.objects.order_by("-id").values_list("id", flat=True).first() or 0
        return top >= n and stored() >= n

    # --- throughput -----------------------------------------------------------------------
    batch: list = []
    sent = 0
    started = time.perf_counter()
    with tqdm(total=mentions, desc="ingest", unit="m", unit_scale=True, file=sys.stderr) as bar:
        for item in _items(gen):
            batch.append(item)
            if len(batch) >= 1000:
                reset_queries()
                mentions_receive(source=source, items=batch)
                sent += len(batch)
                batch.clear()
                if sent % 20_000 == 0:
                    bar.update(sent - bar.n)  # received; the exact stored count waits
        if batch:
            mentions_receive(source=source, items=batch)
            sent += len(batch)
        produced = time.perf_counter() - started
        while not stored_at_least(mentions):
            time.sleep(0.2)
        bar.update(mentions - bar.n)
    elapsed = time.perf_counter() - started
    rollup_total = sum(MentionRollup.objects.filter(query_id=0).values_list("count", flat=True))

    # --- steady latency -----------------------------------------------------------------
    steady = steady_rate * steady_seconds
    gen = generate_mentions(7, 0, steady, t0=datetime.now(UTC) - timedelta(hours=1))
    items = list(_items(gen))
    for item in items:
        item["external_id"] = "steady-" + item["external_id"]
        item["created_at"] = datetime.now(UTC).isoformat()
    tick = 0.1
    per_tick = max(1, int(steady_rate * tick))
    begin = time.perf_counter()
    for i in range(0, len(items), per_tick):
        due = begin + (i // per_tick) * tick
        delay = due - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        mentions_receive(source=source, items=items[i : i + per_tick])
    while not stored_at_least(mentions + steady):
        time.sleep(0.1)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT received_at, stored_at FROM listening_mention WHERE external_id LIKE %s",
            ["steady-%"],
        )
        rows = cursor.fetchall()

    def as_dt(v):
        return datetime.fromisoformat(v) if isinstance(v, str) else v

    lat = sorted((as_dt(s) - as_dt(r)).total_seconds() * 1000 for r, s in rows)
    out = {
        "mentions": mentions,
        "stored": stored() - steady,
        "rollup_total": rollup_total,
        "produce_s": round(produced, 1),
        "elapsed_s": round(elapsed, 1),
        "mentions_per_s": round(mentions / elapsed),
        "steady_rate": steady_rate,
        "steady_mentions": len(lat),
        "p50_ms": round(lat[len(lat) // 2]) if lat else None,
        "p95_ms": round(lat[int(len(lat) * 0.95)]) if lat else None,
        "max_ms": round(lat[-1]) if lat else None,
        "producer_peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }
    # CPU per mention, which unlike the rate does not depend on what else the machine is doing
    # (generating the items included: ~10 µs each).
    usage = resource.getrusage(resource.RUSAGE_SELF)
    out["producer_cpu_us_per_mention"] = round(
        (usage.ru_utime + usage.ru_stime) / (mentions + steady) * 1e6, 1
    )
    print("RESULT " + json.dumps(out), flush=True)


def _cpu_s(pid: int) -> float | None:
    """User + system CPU seconds of a running process (``/proc/<pid>/stat``)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _peak_rss_mb(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        return None
    return None


def _pg(sql: str) -> None:
    subprocess.run(
        ["psql", PG_SERVER + "/postgres", "-q", "-c", sql], check=True, capture_output=True
    )


def run_one(backend: str, stream: str, args) -> dict:
    tmp = Path(tempfile.mkdtemp(prefix="apiary-bench-ingest-"))
    if backend == "sqlite":
        db_url = f"sqlite:///{tmp / 'bench.sqlite3'}"
    else:
        _pg(f"DROP DATABASE IF EXISTS {PG_DB}")
        _pg(f"CREATE DATABASE {PG_DB}")
        db_url = f"{PG_SERVER}/{PG_DB}"
    tag = uuid.uuid4().hex[:8]
    stream_url = "memory://"
    if stream == "nats":
        stream_url = (
            f"{NATS}?stream=APIARY_BENCH_{tag}&subject=apiary.bench.{tag}&durable=bench-{tag}"
        )
    env = {
        **os.environ,
        "DATABASE_URL": db_url,
        "APIARY_STREAM_URL": stream_url,
        "APIARY_DATA_DIR": str(tmp),
        "APIARY_LOG_LEVEL": "WARNING",
        # Production mode, as a deployment runs it (DEBUG off: no query log, no debug checks).
        "APIARY_DEBUG": "false",
        "APIARY_SECRET_KEY": "bench-" + uuid.uuid4().hex + uuid.uuid4().hex,
        "APIARY_ALLOWED_HOSTS": "127.0.0.1,localhost",
    }
    subprocess.run([str(BIN / "apiary"), "migrate", "-v", "0"], env=env, check=True, cwd=ROOT)
    workers = [
        subprocess.Popen(
            [str(BIN / "apiary"), "worker", "--only", "listening-consumer"],
            env=env,
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
        )
        for _ in range(args.workers)
    ]
    try:
        time.sleep(2.0)
        proc = subprocess.run(
            [
                sys.executable,
                __file__,
                "--producer",
                str(args.mentions),
                str(args.steady_rate),
                str(args.steady_seconds),
            ],
            env=env,
            cwd=ROOT,
            stdout=subprocess.PIPE,
            text=True,
            check=True,
        )
        line = next(x for x in proc.stdout.splitlines() if x.startswith("RESULT "))
        result = json.loads(line[len("RESULT ") :])
        peaks = [p for p in (_peak_rss_mb(w.pid) for w in workers) if p is not None]
        result["worker_peak_rss_mb"] = max(peaks) if peaks else None
        result["workers"] = args.workers
        cpu = [c for c in (_cpu_s(w.pid) for w in workers) if c is not None]
        total = args.mentions + result["steady_mentions"]
        result["worker_cpu_us_per_mention"] = round(sum(cpu) / total * 1e6, 1) if cpu else None
    finally:
        for w in workers:
            w.send_signal(signal.SIGTERM)
        for w in workers:
            try:
                w.wait(20)
            except subprocess.TimeoutExpired:
                w.kill()
        shutil.rmtree(tmp, ignore_errors=True)
        if backend == "postgres":
            _pg(f"DROP DATABASE IF EXISTS {PG_DB}")
        if stream == "nats":
            _nats_cleanup(f"APIARY_BENCH_{tag}")
    return result


def _nats_cleanup(name: str) -> None:
    try:
        import asyncio

        import nats

        async def drop():
            nc = await nats.connect(NATS, connect_timeout=2)
            try:
                await nc.jetstream().delete_stream(name)
            finally:
                await nc.close()

        asyncio.run(drop())
    except Exception as exc:  # a leftover stream is harmless (max_age expires it)
        print(f"(could not delete stream {name}: {exc})", file=sys.stderr)


def _pg_ok() -> bool:
    try:
        _pg("SELECT 1")
        return True
    except Exception:
        return False


def _nats_ok() -> bool:
    import socket

    try:
        with socket.create_connection(("127.0.0.1", 4222), timeout=1):
            return True
    except OSError:
        return False


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--producer":
        producer(int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mentions", type=int, default=1_000_000)
    parser.add_argument("--backend", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--stream", choices=["memory", "nats", "both"], default="both")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--steady-rate", type=int, default=1000)
    parser.add_argument("--steady-seconds", type=int, default=30)
    args = parser.parse_args()
    backends = ["sqlite", "postgres"] if args.backend == "both" else [args.backend]
    streams = ["memory", "nats"] if args.stream == "both" else [args.stream]
    if "postgres" in backends and not _pg_ok():
        print("PostgreSQL unreachable: measuring SQLite only", file=sys.stderr)
        backends = [b for b in backends if b != "postgres"]
    if "nats" in streams and not _nats_ok():
        print("NATS unreachable: measuring the outbox stream only", file=sys.stderr)
        streams = [s for s in streams if s != "nats"]
    results = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    for backend in backends:
        for stream in streams:
            print(f"=== {backend} + {stream}, {args.workers} workers ===", file=sys.stderr)
            figures = run_one(backend, stream, args)
            for key, value in figures.items():
                results[f"{backend}.{stream}.{key}"] = value
            print(json.dumps({f"{backend}.{stream}": figures}, indent=1))
            RESULTS.write_text(json.dumps(results, indent=2, sort_keys=True) + "\n")
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
