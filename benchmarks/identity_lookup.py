"""Identity lookup for mention authors: IdentityIndex.load() and resolve_many() throughput.

Builds 100,000 customers with 150,000 consented identities on every social platform, then
resolves 1,000,000 authors in batches of 10,000 (the listening pipeline's shape): about 60 % hits
and 40 % misses, given as canonical handles, ``@Mixed_Case`` forms and profile URLs.

Run: ``.venv/bin/python benchmarks/identity_lookup.py``. With no arguments it runs itself once
per backend (SQLite in a temporary file, then PostgreSQL in a throwaway database that it drops
afterwards), because ``DATABASE_URL`` must be set before Django starts. Writes
``benchmarks/results/identity_lookup.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results" / "identity_lookup.json"
PG_SERVER = os.environ.get("APIARY_BENCH_PG", "postgres://postgres@127.0.0.1:5432")
PG_DATABASE = "apiary_bench_ids"
MARKER = "RESULT "

PLATFORMS = ["bluesky", "mastodon", "x", "facebook", "instagram", "vk", "telegram"]
PLATFORMS += ["youtube", "reddit", "tiktok"]
MASTODON_SERVERS = ["mastodon.social", "fosstodon.org", "hachyderm.io", "mas.to"]


def handle_for(platform: str, n: int) -> str:
    base = f"user{n}"
    if platform == "bluesky":
        return f"{base}.bsky.social"
    if platform == "mastodon":
        return f"{base}@{MASTODON_SERVERS[n % len(MASTODON_SERVERS)]}"
    return base


def raw_form(platform: str, handle: str, rng: random.Random) -> str:
    """A handle as a mention or a form might carry it."""
    from apiary.customers.handles import profile_url

    roll = rng.random()
    if roll < 0.5:
        return handle  # connectors mostly deliver canonical handles
    if roll < 0.8:
        return "@" + handle.upper() if platform != "youtube" else "@" + handle.title()
    return profile_url(platform, handle)


def run_backend(url: str, customers: int, identities: int, lookups: int) -> dict:
    os.environ["DATABASE_URL"] = url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "apiary.settings")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection
    from tqdm import tqdm

    from apiary.customers.models import Customer, SocialIdentity
    from apiary.customers.services.resolution import AuthorRef, IdentityIndex

    backend = "postgres" if connection.vendor == "postgresql" else "sqlite"
    call_command("migrate", verbosity=0)
    rng = random.Random(2026)
    batch = 5_000

    with tqdm(total=customers + identities, desc=f"{backend}: data", unit="row") as bar:
        ids: list[int] = []
        for start in range(0, customers, batch):
            rows = [
                Customer(name=f"Customer {n}", email=f"c{n}@bench.example", city="Sevilla")
                for n in range(start, min(start + batch, customers))
            ]
            ids += [c.pk for c in Customer.objects.bulk_create(rows)]
            bar.update(len(rows))
        linked: list[tuple[str, str, int]] = []
        for start in range(0, identities, batch):
            rows = []
            for n in range(start, min(start + batch, identities)):
                platform = PLATFORMS[n % len(PLATFORMS)]
                customer_id = ids[n % customers]
                handle = handle_for(platform, n)
                rows.append(
                    SocialIdentity(customer_id=customer_id, platform=platform, handle=handle)
                )
                linked.append((platform, handle, customer_id))
            SocialIdentity.objects.bulk_create(rows)
            bar.update(len(rows))

    started = time.perf_counter()
    index = IdentityIndex.load()
    load_s = time.perf_counter() - started
    assert len(index) == identities

    chunk = 10_000
    elapsed = 0.0
    hits = expected_hits = 0
    for _ in tqdm(range(lookups // chunk), desc=f"{backend}: lookups", unit="batch"):
        authors, expected = [], []
        for _i in range(chunk):
            if rng.random() < 0.6:
                platform, handle, customer_id = linked[rng.randrange(identities)]
                expected.append(customer_id)
            else:  # a stranger (or a known name on the wrong platform's numbering)
                platform = rng.choice(PLATFORMS)
                handle = handle_for(platform, identities + rng.randrange(10 * identities))
                expected.append(None)
            authors.append(AuthorRef(platform, raw_form(platform, handle, rng)))
        started = time.perf_counter()
        found = index.resolve_many(authors)
        elapsed += time.perf_counter() - started
        assert found == expected, "the benchmark resolved an author wrongly"
        hits += sum(1 for f in found if f is not None)
        expected_hits += sum(1 for e in expected if e is not None)

    total = (lookups // chunk) * chunk
    return {
        f"{backend}.index_load_s": round(load_s, 3),
        f"{backend}.index_identities": identities,
        f"{backend}.lookups": total,
        f"{backend}.lookups_per_s": round(total / elapsed),
        f"{backend}.hit_ratio": round(hits / total, 3),
    }


def spawn(url: str, args: argparse.Namespace) -> dict:
    command = [sys.executable, __file__, "--database-url", url]
    command += ["--customers", str(args.customers), "--identities", str(args.identities)]
    command += ["--lookups", str(args.lookups)]
    done = subprocess.run(command, stdout=subprocess.PIPE, text=True, check=True, cwd=ROOT)
    for line in done.stdout.splitlines():
        if line.startswith(MARKER):
            return json.loads(line[len(MARKER) :])
    raise RuntimeError("the benchmark run printed no result")


def postgres_admin():
    try:
        import psycopg

        return psycopg.connect(f"{PG_SERVER}/postgres", autocommit=True, connect_timeout=3)
    except Exception as exc:
        print(f"PostgreSQL not reachable ({exc}); measuring SQLite only.")
        return None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", help="measure this database only (internal)")
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--identities", type=int, default=150_000)
    parser.add_argument("--lookups", type=int, default=1_000_000)
    args = parser.parse_args()
    if args.database_url:
        figures = run_backend(args.database_url, args.customers, args.identities, args.lookups)
        print(MARKER + json.dumps(figures), flush=True)
        return 0

    figures: dict = {}
    with tempfile.TemporaryDirectory() as tmp:
        figures |= spawn(f"sqlite:///{tmp}/bench.sqlite3", args)
    admin = postgres_admin()
    if admin is not None:
        admin.execute(f'DROP DATABASE IF EXISTS "{PG_DATABASE}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{PG_DATABASE}"')
        try:
            figures |= spawn(f"{PG_SERVER}/{PG_DATABASE}", args)
        finally:
            admin.execute(f'DROP DATABASE IF EXISTS "{PG_DATABASE}" WITH (FORCE)')
            admin.close()

    for backend in ("sqlite", "postgres"):
        if f"{backend}.lookups_per_s" in figures:
            print(
                f"{backend}: index of {figures[f'{backend}.index_identities']:,} identities "
                f"loaded in {figures[f'{backend}.index_load_s']:.2f} s; "
                f"{figures[f'{backend}.lookups_per_s']:,} lookups/s over "
                f"{figures[f'{backend}.lookups']:,} authors "
                f"({figures[f'{backend}.hit_ratio']:.0%} hits)"
            )
    existing = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(existing | figures, indent=2, sort_keys=True) + "\n")
    print(f"wrote {RESULTS.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
