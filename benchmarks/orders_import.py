"""Orders import throughput: N CSV rows (default 1,000,000) into SQLite and into PostgreSQL.

    .venv/bin/python benchmarks/orders_import.py [--rows N] [--backend sqlite|postgres|both]

Generates a realistic file in a temporary directory (about 100 rows per 10 customers, 18 months
of dates, five currencies, items as JSON), then for each backend runs ``migrate`` and
``orders_import`` in a fresh subprocess (DATABASE_URL must be set before Django starts) and
measures rows per second of the import alone and the process's peak RSS. SQLite uses a
throwaway file; PostgreSQL a throwaway database ``apiary_bench_orders`` (created and dropped).
Writes ``benchmarks/results/orders_import.json`` (merged with what is there).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results" / "orders_import.json"
PG_SERVER = os.environ.get("APIARY_BENCH_PG", "postgres://postgres@127.0.0.1:5432")
PG_DB = "apiary_bench_orders"
CURRENCIES = ["EUR", "EUR", "EUR", "USD", "USD", "GBP", "SEK", "PLN"]
CHANNELS = ["web", "web", "web", "app", "shop", "marketplace"]
PRODUCTS = [(f"SKU-{i:04d}", f"Product {i}", round(3 + (i * 7.31) % 60, 2)) for i in range(400)]


def generate(path: Path, rows: int, seed: int = 2026) -> None:
    from tqdm import tqdm

    rng = random.Random(seed)
    customers = max(1, rows // 10)
    end = datetime.now(UTC).replace(microsecond=0)
    span = int(timedelta(days=548).total_seconds())
    with path.open("w", encoding="utf-8", newline="") as out:
        out.write(
            "external_id,customer_external_id,customer_email,ordered_at,currency,total,items,"
            "channel,referral_code\n"
        )
        for i in tqdm(range(rows), desc="generate", unit="row", unit_scale=True, file=sys.stderr):
            c = rng.randrange(customers)
            items = []
            total = 0.0
            for _ in range(rng.choice((1, 1, 2, 3))):
                sku, name, price = rng.choice(PRODUCTS)
                qty = rng.choice((1, 1, 1, 2, 3))
                items.append({"sku": sku, "name": name, "quantity": qty, "price": f"{price:.2f}"})
                total += qty * price
            at = end - timedelta(seconds=rng.randrange(span))
            # A few rows know the customer only by e-mail, as shops that skip their own ids do.
            ext = "" if rng.random() < 0.05 else f"C{c:07d}"
            items_json = json.dumps(items, separators=(",", ":")).replace('"', '""')
            referral = f"REF{rng.randrange(500):03d}" if rng.random() < 0.04 else ""
            out.write(
                f"O{i:09d},{ext},customer{c}@example.com,{at.isoformat().replace('+00:00', 'Z')},"
                f'{rng.choice(CURRENCIES)},{total:.2f},"{items_json}",{rng.choice(CHANNELS)},'
                f"{referral}\n"
            )


def child(database_url: str, csv_path: str, batch_size: int) -> None:
    """Runs in a fresh process: migrate, import, print one JSON line of figures."""
    os.environ["DATABASE_URL"] = database_url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "apiary.settings")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command
    from tqdm import tqdm

    from apiary.customers.importers import orders_import

    settings.DEBUG = False  # as in production: no query log kept in memory
    call_command("migrate", verbosity=0)
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    size = os.path.getsize(csv_path)
    with (
        open(csv_path, "rb") as fileobj,
        tqdm(total=size, unit="B", unit_scale=True, desc="import", file=sys.stderr) as bar,
    ):
        gc.freeze()  # as `apiary import` does
        started, cpu_started = time.perf_counter(), time.process_time()
        report = orders_import(
            fileobj=fileobj,
            fmt="csv",
            batch_size=batch_size,
            progress=lambda r: bar.update(r.bytes_read - bar.n),
        )
        seconds = time.perf_counter() - started
        cpu_seconds = time.process_time() - cpu_started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        json.dumps(
            {
                "rows": report.processed,
                "created": report.created,
                "updated": report.updated,
                "rejected": report.rejected,
                "seconds": round(seconds, 2),
                "rows_per_s": round(report.processed / seconds),
                # CPU time of this process only (parsing, validation, SQLite itself); on a busy
                # machine it says what the code costs when the wall clock cannot.
                "cpu_seconds": round(cpu_seconds, 2),
                "rows_per_cpu_s": round(report.processed / cpu_seconds),
                "rss_before_import_mb": round(rss_before, 1),
                "peak_rss_mb": round(peak, 1),
            }
        )
    )


def run_child(database_url: str, csv_path: Path, batch_size: int) -> dict:
    proc = subprocess.run(
        [
            sys.executable,
            __file__,
            "--child",
            "--database-url",
            database_url,
            "--file",
            str(csv_path),
            "--batch-size",
            str(batch_size),
        ],
        stdout=subprocess.PIPE,
        text=True,
        check=True,
        cwd=ROOT,
    )
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _pg(sql: str) -> None:
    import psycopg

    with psycopg.connect(f"{PG_SERVER}/postgres", autocommit=True) as conn:
        conn.execute(sql)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--backend", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--batch-size", type=int, default=20000, help="as `apiary import`")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--database-url", help=argparse.SUPPRESS)
    parser.add_argument("--file", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.database_url, args.file, args.batch_size)
        return

    tmp = Path(tempfile.mkdtemp(prefix="apiary-bench-orders-"))
    results: dict[str, float] = {}
    try:
        csv_path = tmp / "orders.csv"
        generate(csv_path, args.rows)
        print(f"{args.rows:,} rows, {csv_path.stat().st_size / 1e6:.0f} MB of CSV")
        backends = ["sqlite", "postgres"] if args.backend == "both" else [args.backend]
        for backend in backends:
            if backend == "sqlite":
                url = f"sqlite:///{tmp / 'bench.sqlite3'}"
            else:
                _pg(f"DROP DATABASE IF EXISTS {PG_DB}")
                _pg(f"CREATE DATABASE {PG_DB}")
                url = f"{PG_SERVER}/{PG_DB}"
            try:
                figures = run_child(url, csv_path, args.batch_size)
            finally:
                if backend == "postgres":
                    _pg(f"DROP DATABASE IF EXISTS {PG_DB}")
            print(
                f"{backend}: {figures['rows']:,} rows in {figures['seconds']} s = "
                f"{figures['rows_per_s']:,} rows/s ({figures['rows_per_cpu_s']:,} rows per CPU "
                f"second of the importing process); peak RSS {figures['peak_rss_mb']} MB "
                f"({figures['rss_before_import_mb']} MB before the import); "
                f"{figures['created']:,} created, {figures['rejected']} rejected"
            )
            results[f"{backend}.rows_per_s"] = figures["rows_per_s"]
            results[f"{backend}.peak_rss_mb"] = figures["peak_rss_mb"]
            results[f"{backend}.rows_per_cpu_s"] = figures["rows_per_cpu_s"]
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    merged = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    merged.update(results)
    RESULTS.write_text(json.dumps(merged, indent=2, sort_keys=True) + "\n")
    print(f"Wrote {RESULTS.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
