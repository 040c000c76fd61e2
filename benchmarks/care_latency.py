"""Real-time care: receipt → conversation and receipt → alert latency; the inbox page at scale.

    .venv/bin/python benchmarks/care_latency.py [--backend sqlite|postgres|both]
        [--steady-rate 1000] [--steady-seconds 30] [--conversations 1000000] [--runs 40]
        [--only latency,inbox,detectors]

For each backend, in a throwaway database (SQLite file in a temporary directory; PostgreSQL
database ``apiary_bench_care``, created and dropped):

1. **latency**: two ``apiary worker`` processes run the real listening consumer (which calls
   the care and alerts ``after_store`` hooks inside the storage transaction) and one runs the
   alerts detector loop and the care clock. A producer sends the demo replay generator's
   multilingual mentions as webhook items through ``services.ingest.mentions_receive`` at a
   steady ``--steady-rate`` per second for ``--steady-seconds``; brand support requests open
   conversations, purchase-intent posts raise lead alerts. Latency is read back from the
   database: ``InboxEvent.at`` of each ``conversation.created`` event minus the mention's
   ``received_at`` (the moment the conversation could appear live), and the alert's live-feed
   event time minus its first evidence mention's ``received_at``. p50 / p95 / max.
2. **inbox**: ``--conversations`` conversations (realistic mix of states, platforms, languages,
   priorities, 20 agents, a year of activity) are bulk-inserted, then each inbox view is
   requested ``--runs`` times through Django's test client as a logged-in agent; the figure is
   server time per request (p50 / p95 / max) — mine, unassigned, all, by priority and a
   filtered view.
3. **detectors**: one tick of the rate detectors timed with 5, 20 and 80 brand/competitor
   queries, over a short and a long stored history (the same number of current-hour rows), to
   show that the cost follows the number of rules and queries, not the history.

Writes ``benchmarks/results/care_latency.json`` (merged), keys like
``postgres.conversation_p95_ms``, ``sqlite.inbox.all.p95_ms``, ``postgres.detectors.q80.long_ms``.
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
RESULTS = ROOT / "benchmarks" / "results" / "care_latency.json"
PG_SERVER = os.environ.get("APIARY_BENCH_PG", "postgres://postgres@127.0.0.1:5432")
PG_DB = "apiary_bench_care"
BIN = Path(sys.executable).parent
sys.path.insert(0, str(ROOT / "benchmarks"))
from support.stats import figures, pct, results_merge  # noqa: E402


def _pg(sql: str) -> None:
    subprocess.run(
        ["psql", PG_SERVER + "/postgres", "-q", "-c", sql], check=True, capture_output=True
    )


# --- 1. latency ---------------------------------------------------------------------------


def latency_producer(rate: int, seconds: int) -> None:
    """Runs in a fresh process with DATABASE_URL set (workers consume in other processes)."""
    from datetime import UTC, datetime, timedelta

    import django

    django.setup()
    from django.db import connection
    from ingest import _items

    from apiary.listening.connectors.replay import generate_mentions
    from apiary.listening.services.ingest import mentions_receive
    from apiary.listening.services.sources import source_create

    source, _token = source_create(name="bench-care", kind="webhook")
    total = rate * seconds
    gen = generate_mentions(11, 0, total, t0=datetime.now(UTC) - timedelta(hours=1))
    items = list(_items(gen))
    for item in items:
        item["external_id"] = "care-" + item["external_id"]
        item["created_at"] = datetime.now(UTC).isoformat()
    tick = 0.1
    per_tick = max(1, int(rate * tick))
    begin = time.perf_counter()
    for i in range(0, len(items), per_tick):
        due = begin + (i // per_tick) * tick
        delay = due - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        mentions_receive(source=source, items=items[i : i + per_tick])
    send_s = time.perf_counter() - begin

    def stored() -> int:
        with connection.cursor() as cursor:
            cursor.execute("SELECT COUNT(*) FROM listening_mention")
            return cursor.fetchone()[0]

    deadline = time.monotonic() + 120
    while stored() < total and time.monotonic() < deadline:
        time.sleep(0.2)
    time.sleep(3.0)  # let the detector loop take its last tick

    def as_dt(v):
        return datetime.fromisoformat(v) if isinstance(v, str) else v

    with connection.cursor() as cursor:
        # The conversation became visible when its conversation.created event was written.
        cursor.execute(
            """
            SELECT e.at, MIN(m.received_at)
            FROM care_inboxevent e
            JOIN care_message msg ON msg.conversation_id = e.conversation_id
            JOIN listening_mention m ON m.id = msg.mention_id
            WHERE e.kind = 'conversation.created'
            GROUP BY e.id, e.at
            """
        )
        conv = [(as_dt(a) - as_dt(r)).total_seconds() * 1000 for a, r in cursor.fetchall()]
    alerts = alert_latencies(connection, as_dt)
    out = {
        "steady_rate": rate,
        "steady_seconds": seconds,
        "send_s": round(send_s, 1),
        "mentions_stored": stored(),
        **figures(conv, "conversation_"),
        **figures(alerts, "alert_"),
    }
    print("RESULT " + json.dumps(out), flush=True)


def alert_latencies(connection, as_dt) -> list[float]:
    """Per-mention alerts (lead, advocate): the ``opened`` live-feed event minus the received
    time of the mention that raised it. Rate alerts have no single causing mention."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT e.at, m.received_at
            FROM alerts_alertevent e
            JOIN alerts_alert a ON a.id = e.alert_id
            JOIN listening_mention m ON m.id = a.mention_id
            WHERE e.kind = 'opened'
            """
        )
        return [(as_dt(a) - as_dt(r)).total_seconds() * 1000 for a, r in cursor.fetchall()]


def run_latency(env: dict, args) -> dict:
    workers = [
        subprocess.Popen(
            [str(BIN / "apiary"), "worker", "--only", only],
            env=env,
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
        )
        for only in ("listening-consumer", "listening-consumer", "alerts-detectors,care-clock")
    ]
    try:
        time.sleep(3.0)
        proc = subprocess.run(
            [
                sys.executable,
                __file__,
                "--latency-producer",
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
        return json.loads(line[len("RESULT ") :])
    finally:
        for w in workers:
            w.send_signal(signal.SIGTERM)
        for w in workers:
            try:
                w.wait(20)
            except subprocess.TimeoutExpired:
                w.kill()


# --- 2. inbox page ------------------------------------------------------------------------


def inbox_bench(conversations: int, runs: int) -> None:
    import random
    from datetime import UTC, datetime, timedelta

    import django

    django.setup()
    from django.db import connection
    from django.test import Client
    from django.urls import reverse

    from apiary.accounts.models import Role
    from apiary.accounts.services import staff_user_create
    from apiary.care.models import AgentProfile, Conversation

    rng = random.Random(6)
    agents = []
    for i in range(20):
        user = staff_user_create(
            email=f"agent{i}@bench.local",
            password="bench-pass-123456",  # noqa: S106 (throwaway bench database)
            role=Role.CARE_AGENT,
        )
        AgentProfile.objects.create(user=user, languages=[["en", "es", "ru"][i % 3]], online=True)
        agents.append(user)
    now = datetime.now(UTC)
    platforms = ["bluesky", "mastodon", "x", "facebook", "instagram", "reviews"]
    languages = ["en", "es", "ru", "other"]
    started = time.perf_counter()
    batch = []
    for i in range(conversations):
        r = rng.random()
        status = "resolved" if r < 0.80 else ("open" if r < 0.95 else "pending")
        last = now - timedelta(seconds=rng.random() ** 2 * 365 * 86400)
        if status != "resolved":
            last = now - timedelta(seconds=rng.random() * 3 * 86400)
        created = last - timedelta(seconds=rng.random() * 86400)
        score = int(rng.random() ** 2 * 100)
        assignee = None if (status == "open" and rng.random() < 0.3) else rng.choice(agents)
        answered = status != "open" or rng.random() < 0.4
        batch.append(
            Conversation(
                platform=rng.choice(platforms),
                thread_key=f"bench-{i}",
                subject=f"Order {i} arrived late — any update on the refund?",
                status=status,
                priority=("low", "normal", "high", "urgent")[min(3, score // 25)],
                priority_score=score,
                priority_factors=[{"factor": "influence", "points": score, "detail": "bench"}],
                opened_reason="bench",
                author_handle=f"author{i % 50_000}.bsky.social",
                author_name=f"Author {i % 50_000}",
                author_followers=int(rng.paretovariate(1.2) * 50),
                language=rng.choice(languages),
                sentiment=rng.choice(["negative", "neutral", "positive"]),
                intent=rng.choice(["support", "purchase", "none"]),
                country=rng.choice(["ES", "RU", "US", "MX", "GB", ""]),
                assignee=assignee,
                assigned_at=created if assignee else None,
                created_at=created,
                updated_at=last,
                last_message_at=last,
                last_inbound_at=last,
                first_response_at=created + timedelta(minutes=rng.random() * 60)
                if answered
                else None,
                resolved_at=last if status == "resolved" else None,
                sla_due_at=created + timedelta(minutes=30),
            )
        )
        if len(batch) >= 10_000:
            Conversation.objects.bulk_create(batch)
            batch.clear()
    if batch:
        Conversation.objects.bulk_create(batch)
    load_s = time.perf_counter() - started
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")

    client = Client()
    agent = agents[0]
    client.force_login(agent)
    base = reverse("care:inbox")
    cases = {
        "mine": "?view=mine",
        "unassigned": "?view=unassigned",
        "all": "?view=all",
        "priority": "?view=priority",
        "filtered": "?view=all&platform=bluesky&language=es&sentiment=negative",
    }
    out = {"conversations": conversations, "load_s": round(load_s, 1), "runs": runs}
    for name, query in cases.items():
        client.get(base + query)  # warm caches and templates
        times = []
        for _ in range(runs):
            t = time.perf_counter()
            response = client.get(base + query)
            times.append((time.perf_counter() - t) * 1000)
            if response.status_code != 200:
                raise SystemExit(f"{name}: HTTP {response.status_code}")
        out.update({f"inbox.{name}.{k}": v for k, v in figures(times).items()})
    print("RESULT " + json.dumps(out), flush=True)


# --- 3. detectors -------------------------------------------------------------------------


def detectors_bench() -> None:
    """One rate-detector tick against N watched queries, over a short and a long history.

    Each query gets the same current-hour rollup rows (3 countries × 3 sentiments × 2
    platforms); the long history adds 60 days of hourly rows behind them. The first tick reads
    the seasonal baseline (the same hour on earlier days); later ticks read the current hour.
    """
    from datetime import UTC, datetime, timedelta

    import django

    django.setup()
    from apiary.alerts.detectors import rulebook
    from apiary.alerts.detectors.rate import RateDetector
    from apiary.alerts.models import AlertRule
    from apiary.alerts.services import rule_create
    from apiary.listening.models import ListeningQuery, MentionRollup

    now = datetime.now(UTC)
    hour = now.replace(minute=0, second=0, microsecond=0)
    out: dict = {}
    for history_days, label in ((2, "short"), (60, "long")):
        for n_queries in (5, 20, 80):
            MentionRollup.objects.all().delete()
            AlertRule.objects.all().delete()
            ListeningQuery.objects.filter(name__startswith="bench-q").delete()
            queries = [
                ListeningQuery.objects.create(
                    name=f"bench-q{i}", kind="brand" if i % 2 else "competitor", text=f"word{i}"
                )
                for i in range(n_queries)
            ]
            rule_create(
                name="bench crisis", kind="crisis_spike", conditions={"query_kinds": ["brand"]}
            )
            rule_create(
                name="bench competitor",
                kind="competitor_move",
                conditions={"query_kinds": ["competitor"]},
            )
            rows = []
            for q in queries:
                for h in range(history_days * 24 + 1):
                    at = hour - timedelta(hours=h)
                    for country in ("ES", "RU", "US"):
                        for sentiment in ("negative", "neutral", "positive"):
                            for platform in ("bluesky", "mastodon"):
                                rows.append(
                                    MentionRollup(
                                        hour=at,
                                        query_id=q.pk,
                                        platform=platform,
                                        language="en",
                                        sentiment=sentiment,
                                        intent="none",
                                        country=country,
                                        count=5,
                                        reach=100,
                                    )
                                )
                if len(rows) > 20_000:
                    MentionRollup.objects.bulk_create(rows, batch_size=5000)
                    rows = []
            MentionRollup.objects.bulk_create(rows, batch_size=5000)
            rulebook.invalidate()
            detector = RateDetector()
            t = time.perf_counter()
            detector.tick()
            first_ms = (time.perf_counter() - t) * 1000
            ticks = []
            for _ in range(20):
                t = time.perf_counter()
                detector.tick()
                ticks.append((time.perf_counter() - t) * 1000)
            key = f"detectors.q{n_queries}.{label}"
            out[f"{key}.first_tick_ms"] = round(first_ms, 1)
            out[f"{key}.tick_p50_ms"] = pct(ticks, 0.5)
            out[f"{key}.tick_max_ms"] = round(max(ticks), 1)
            out[f"{key}.history_rows"] = MentionRollup.objects.count()
            print(key, out[f"{key}.first_tick_ms"], out[f"{key}.tick_p50_ms"], file=sys.stderr)
    print("RESULT " + json.dumps(out), flush=True)


# --- driver -------------------------------------------------------------------------------


def run_backend(backend: str, args) -> dict:
    tmp = Path(tempfile.mkdtemp(prefix="apiary-bench-care-"))
    if backend == "sqlite":
        db_url = f"sqlite:///{tmp / 'bench.sqlite3'}"
    else:
        _pg(f"DROP DATABASE IF EXISTS {PG_DB}")
        _pg(f"CREATE DATABASE {PG_DB}")
        db_url = f"{PG_SERVER}/{PG_DB}"
    env = {
        **os.environ,
        "DATABASE_URL": db_url,
        "APIARY_STREAM_URL": "memory://",
        "APIARY_DATA_DIR": str(tmp),
        "APIARY_LOG_LEVEL": "WARNING",
        "APIARY_DEBUG": "false",
        "APIARY_SECRET_KEY": "bench-" + uuid.uuid4().hex + uuid.uuid4().hex,
        "APIARY_ALLOWED_HOSTS": "127.0.0.1,localhost,testserver",
        "DJANGO_SETTINGS_MODULE": "apiary.settings",
    }
    result: dict = {}
    try:
        subprocess.run([str(BIN / "apiary"), "migrate", "-v", "0"], env=env, check=True, cwd=ROOT)
        # Production settings serve hashed static names from a manifest, as a deployment does.
        subprocess.run(
            [str(BIN / "apiary"), "collectstatic", "--noinput", "-v", "0"],
            env=env,
            check=True,
            cwd=ROOT,
        )
        # The demo's brand/competitor queries and the default inbox and alert rules.
        subprocess.run([sys.executable, __file__, "--setup"], env=env, check=True, cwd=ROOT)
        only = set(args.only.split(","))
        for phase, cmd in (
            ("latency", None),
            ("inbox", ["--inbox", str(args.conversations), str(args.runs)]),
            ("detectors", ["--detectors"]),
        ):
            if phase not in only:
                continue
            print(f"--- {backend}: {phase}", file=sys.stderr)
            if phase == "latency":
                result.update(run_latency(env, args))
                print(json.dumps(result), file=sys.stderr)
                continue
            proc = subprocess.run(
                [sys.executable, __file__, *cmd],
                env=env,
                cwd=ROOT,
                stdout=subprocess.PIPE,
                text=True,
                check=True,
            )
            line = next(x for x in proc.stdout.splitlines() if x.startswith("RESULT "))
            result.update(json.loads(line[len("RESULT ") :]))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        if backend == "postgres":
            _pg(f"DROP DATABASE IF EXISTS {PG_DB}")
    return result


def setup() -> None:
    import django

    django.setup()
    from apiary.care.rules import rules_ensure_defaults
    from apiary.listening.models import ListeningQuery

    for name, kind, text in [
        ("Northwind", "brand", 'northwind OR "north wind" OR #northwindcoffee OR @northwindcoffee'),
        ("Blue Harbor", "competitor", '"blue harbor" OR #blueharbor'),
        ("Café Aurora", "competitor", '"café aurora" OR "cafe aurora" OR #cafeaurora'),
        ("Кофе Лисица", "competitor", '"кофе лисица" OR лисица'),
    ]:
        ListeningQuery.objects.get_or_create(name=name, defaults={"kind": kind, "text": text})
    rules_ensure_defaults()
    # The demo's alert rules (lead, advocate, crisis, competitor, SLA, VIP).
    from apiary.alerts.services import rule_create
    from apiary.demo.steps.alerts import RULES

    for name, kind, conditions, cooldown, severity in RULES:
        rule_create(
            name=name,
            kind=kind,
            conditions=conditions,
            cooldown_minutes=cooldown,
            severity=severity,
        )


def main() -> None:
    if (
        len(sys.argv) > 1
        and sys.argv[1].startswith("--")
        and sys.argv[1]
        in (
            "--latency-producer",
            "--inbox",
            "--detectors",
            "--setup",
        )
    ):
        mode = sys.argv[1]
        if mode == "--latency-producer":
            latency_producer(int(sys.argv[2]), int(sys.argv[3]))
        elif mode == "--inbox":
            inbox_bench(int(sys.argv[2]), int(sys.argv[3]))
        elif mode == "--detectors":
            detectors_bench()
        else:
            setup()
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--steady-rate", type=int, default=1000)
    parser.add_argument("--steady-seconds", type=int, default=30)
    parser.add_argument("--conversations", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=40)
    parser.add_argument("--only", default="latency,inbox,detectors")
    args = parser.parse_args()
    backends = ["sqlite", "postgres"] if args.backend == "both" else [args.backend]
    for backend in backends:
        print(f"=== {backend} ===", file=sys.stderr)
        found = run_backend(backend, args)
        print(json.dumps({backend: found}, indent=1))
        results_merge(RESULTS, backend, found)
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
