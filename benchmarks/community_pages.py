"""Community pages at scale: server time of the topic page, space page, home feed and search
with 1,000,000 posts and 5,000,000 comments and reactions, and requests per second of anonymous
topic pages under a real server (gunicorn) on SQLite and PostgreSQL.

    .venv/bin/python benchmarks/community_pages.py [--backend sqlite|postgres|both]
        [--posts 1000000] [--members 20000] [--runs 40] [--rps-seconds 30]
        [--server-workers 3] [--concurrency 12] [--only server,rps] [--keep] [--reload]

For each backend, in subprocesses of their own (``DATABASE_URL`` is read when Django starts),
with production settings (``APIARY_DEBUG=false``: hashed static files, no debug toolbar-ish
overhead, templates cached):

1. **Data.** A throwaway database (a SQLite file in a temporary directory; the PostgreSQL
   database ``apiary_bench_community``, created and dropped) is migrated and filled by
   ``benchmarks/support/community_data.py``: 40 spaces of every visibility, ``--members``
   members with memberships, follows and reading history, ``--posts`` posts of every type in
   en/ru/es with tags, three comments and two reactions per post on average, heavy-tailed (24
   recent hot topics carry thousands of comments each). Bulk-written (COPY / executemany) with
   the counters the services keep; see that module for the shape. ``--keep`` keeps the
   database (``var/bench/community_pages*``) for the next run, which reuses it when it holds the
   same number of posts (``--reload`` builds it again).
2. **Server time** (``server``): Django's test client, in-process, so the figure is the server's
   own time per request (routing, middleware, access checks, queries, rendering) without the
   network. Each case cycles through varied addresses (hot and long-tail topics and their later
   comment pages, big and small spaces and their later pages and type filters, common and rare
   search words and filters), as an anonymous visitor and as a logged-in member of closed and
   secret spaces; 3 warm-up requests, then ``--runs`` timed ones. Any answer but 200 fails the
   run. The number of queries of each case's first address is recorded too.
3. **Requests per second** (``rps``): gunicorn (sync workers, ``--server-workers``) on
   127.0.0.1 serves ``apiary.wsgi`` against the same database; ``support/loadgen.py`` keeps
   ``--concurrency`` connections busy for ``--rps-seconds`` seconds with anonymous topic pages
   (2,000 public topics, Zipf-weighted: hot topics most often), after a 5 s warm-up. The
   figure is successful answers per second, with latency p50/p95 as the client saw it and the
   server processes' CPU time per request (which, unlike rps, does not depend on what else the
   machine is doing).

Writes ``benchmarks/results/community_pages.json`` (merged), keys like
``sqlite.topic.p95_ms`` (all topic cases pooled), ``postgres.topic.hot_anon.p95_ms``,
``sqlite.topic_rps``, ``postgres.load_s``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results" / "community_pages.json"
PG_SERVER = os.environ.get("APIARY_BENCH_PG", "postgres://postgres@127.0.0.1:5432")
PG_DB = "apiary_bench_community"
KEEP_DIR = ROOT / "var" / "bench"
BIN = Path(sys.executable).parent
sys.path.insert(0, str(ROOT / "benchmarks"))
from support.stats import figures, results_merge  # noqa: E402

TARGET_P95_MS = 100
TARGET_RPS = 300
CATEGORIES = ("topic", "space", "home", "search")  # the targets
SEARCH_WORDS = [
    "espresso",  # common English word: long posting lists
    "grinder noise",
    "молоко",
    "molienda fina",
    "warranty repair",
    "доставка курьер",
    "cardamom",  # rare
    "sifón",
    "quality",
    "кофемолка",
]


def _pg(sql: str, db: str = "postgres") -> None:
    subprocess.run(["psql", f"{PG_SERVER}/{db}", "-q", "-c", sql], check=True, capture_output=True)


# --- child: load --------------------------------------------------------------------------


def child_load(posts: int, members: int) -> None:
    import django

    django.setup()
    from support import community_data

    result = community_data.load(posts=posts, members=members)
    print("RESULT " + json.dumps(result), flush=True)


# --- child: server time ---------------------------------------------------------------------


def _cases(ids: dict) -> list[tuple[str, str, bool, list[str]]]:
    """(category, case, as_member, addresses)."""
    hot, tail = ids["hot"], ids["tail"]
    topic = "/community/p/{}/"
    # hot topics: first page, a middle and the last comment page (pagination at work)
    hot_urls = []
    for i, pk in enumerate(hot):
        hot_urls.append(topic.format(pk) + ("" if i % 3 == 0 else f"?page={[2, 'last'][i % 2]}"))
    tail_urls = [topic.format(pk) for pk in tail[:400:4]]
    member_urls = [topic.format(pk) for pk in ids["member_topics"][:100]]
    big, small, mid = ids["big_space"], ids["small_space"], ids["mid_space"]
    space = "/community/s/{}/"
    space_big = [space.format(big)] + [
        space.format(big) + "?" + q
        for q in ("page=2", "type=question", "page=50", "type=idea", "type=question&answered=no")
    ]
    space_small = [space.format(small), space.format(mid), space.format(small) + "?page=2"]
    space_member = [space.format(ids["member_space"])] + [
        space.format(ids["member_space"]) + "?" + q for q in ("page=3", "type=question")
    ]
    search = [
        "/community/search/?" + urlencode(q)
        for q in (
            *({"q": w} for w in SEARCH_WORDS),
            {"q": "espresso", "sort": "newest"},
            {"q": f"espresso in:{big}"},
            {"q": "type:question crema"},
            {"q": "", "tag": ids["tags"][0]},
        )
    ]
    tags = [f"/community/t/{t}/" for t in ids["tags"]]
    api = [
        "/api/v1/community/posts?" + urlencode(q)
        for q in ({}, {"space": big}, {"type": "question"}, {"order": "new"})
    ]
    return [
        ("topic", "hot_anon", False, hot_urls),
        ("topic", "tail_anon", False, tail_urls),
        ("topic", "hot_member", True, hot_urls[::-1]),
        ("topic", "closed_member", True, member_urls),
        ("space", "big_anon", False, space_big),
        ("space", "small_anon", False, space_small),
        ("space", "big_member", True, space_big[::-1]),
        ("space", "closed_member", True, space_member),
        ("home", "anon", False, ["/community/"]),
        ("home", "member", True, ["/community/", "/community/feed/"]),
        ("search", "anon", False, search),
        ("search", "member", True, search[::-1]),
        ("profile", "prolific_anon", False, [f"/community/u/{ids['prolific_author_id']}/"]),
        ("tag", "anon", False, tags),
        ("api", "posts_anon", False, api),
    ]


class _Counter:
    def __init__(self, sink: list) -> None:
        self.sink = sink

    def __call__(self, execute, sql, params, many, context):
        self.sink.append(sql)
        return execute(sql, params, many, context)


def child_server(ids_json: str, runs: int, only: str) -> None:
    import django

    django.setup()
    from django.conf import settings
    from django.db import connection
    from django.test import Client

    from apiary.accounts.models import User

    ids = json.loads(Path(ids_json).read_text())
    member = User.objects.get(email=ids["bench_member_email"])
    # A browser's User-Agent, so the activity log counts visits and views as it does for people
    # (it skips scripts and bots); each client keeps its cookies like one visitor.
    agent = "Mozilla/5.0 (X11; Linux x86_64; rv:130.0) Gecko/20100101 Firefox/130.0"
    anon_client = Client(HTTP_USER_AGENT=agent)
    member_client = Client(HTTP_USER_AGENT=agent)
    member_client.force_login(member)
    out: dict = {}
    pooled: dict[str, list[float]] = {}
    wanted = set(only.split(",")) if only else None
    parallel = settings.APIARY_DB_PARALLEL
    for category, case, as_member, urls in _cases(ids):
        if wanted and category not in wanted:
            continue
        client = member_client if as_member else anon_client
        for url in urls[:3]:  # warm-up: templates, plan caches, the OS page cache
            client.get(url)
        # Django clears the query log when a request starts: count through a wrapper instead,
        # with every query in this thread (read_parallel's pool threads have connections of
        # their own, which the wrapper would not see)
        queries: list[str] = []
        settings.APIARY_DB_PARALLEL = False
        with connection.execute_wrapper(_Counter(queries)):
            response = client.get(urls[0])
        settings.APIARY_DB_PARALLEL = parallel
        if response.status_code != 200:
            raise SystemExit(f"{category}.{case}: {urls[0]} answered {response.status_code}")
        times = []
        for i in range(runs):
            url = urls[i % len(urls)]
            t = time.perf_counter()
            response = client.get(url)
            times.append((time.perf_counter() - t) * 1000)
            if response.status_code != 200:
                raise SystemExit(f"{category}.{case}: {url} answered {response.status_code}")
        case_figures = figures(times)
        case_figures["queries"] = len(queries)
        case_figures["addresses"] = len(urls)
        for k, v in case_figures.items():
            out[f"{category}.{case}.{k}"] = v
        pooled.setdefault(category, []).extend(times)
        print(
            f"  {category}.{case}: p50 {case_figures['p50_ms']} ms, "
            f"p95 {case_figures['p95_ms']} ms, max {case_figures['max_ms']} ms, "
            f"{case_figures['queries']} queries",
            file=sys.stderr,
            flush=True,
        )
    for category, times in pooled.items():
        f = figures(times)
        out[f"{category}.p50_ms"] = f["p50_ms"]
        out[f"{category}.p95_ms"] = f["p95_ms"]
        out[f"{category}.max_ms"] = f["max_ms"]
        if category in CATEGORIES:
            out[f"{category}.target_p95_ms"] = TARGET_P95_MS
            out[f"{category}.met"] = f["p95_ms"] <= TARGET_P95_MS
    print("RESULT " + json.dumps(out), flush=True)


# --- rps ------------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _cpu_seconds(pid: int) -> float:
    """utime + stime of a process and its live children (gunicorn master + workers)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    pids = [pid]
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        pids += [int(c) for c in children]
    except OSError:
        pass
    for p in pids:
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / tick
        except (OSError, IndexError, ValueError):
            pass
    return total


def run_rps(env: dict, ids: dict, args) -> dict:
    from support import loadgen

    port = _free_port()
    proc = subprocess.Popen(
        [
            str(BIN / "gunicorn"),
            "apiary.wsgi:application",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            str(args.server_workers),
            "--worker-class",
            "sync",
            "--backlog",
            "256",
            "--log-level",
            "warning",
            "--timeout",
            "60",
        ],
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=sys.stderr,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit("gunicorn did not start") from None
                time.sleep(0.2)
        hot = ids["hot"]
        tail = ids["tail"]
        # 2,000 public topics, hot ones first (the generator favours the first addresses)
        paths = [f"/community/p/{pk}/" for pk in [*hot, *tail][:2000]]
        # Steady state: every address rendered once (a running site's cache holds its pages),
        # then 5 s of the measured mix. The hit ratio of the measured run is reported.
        loadgen.run(
            host="127.0.0.1",
            port=port,
            paths=paths,
            seconds=120,
            max_requests=len(paths),
            concurrency=args.concurrency,
            order="cycle",
        )
        warm = loadgen.run(
            host="127.0.0.1", port=port, paths=paths, seconds=5, concurrency=args.concurrency
        )
        if warm["ok"] == 0:
            raise SystemExit(f"no successful answer during the warm-up: {warm}")
        cpu0 = _cpu_seconds(proc.pid)
        result = loadgen.run(
            host="127.0.0.1",
            port=port,
            paths=paths,
            seconds=args.rps_seconds,
            concurrency=args.concurrency,
            seed=11,
        )
        cpu = _cpu_seconds(proc.pid) - cpu0
        if result["ok"] < result["requests"]:
            raise SystemExit(f"non-2xx answers under load: {result['status']}")
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
    print(
        f"  topic rps: {result['rps']} /s, p50 {result['p50_ms']} ms, p95 {result['p95_ms']} ms "
        f"({result['requests']} requests, {args.server_workers} workers, "
        f"{args.concurrency} connections)",
        file=sys.stderr,
        flush=True,
    )
    return {
        "topic_rps": result["rps"],
        "topic_rps_target": TARGET_RPS,
        "topic_rps_met": result["rps"] >= TARGET_RPS,
        "topic_rps_p50_ms": result["p50_ms"],
        "topic_rps_p95_ms": result["p95_ms"],
        "topic_rps_p99_ms": result["p99_ms"],
        "topic_rps_requests": result["requests"],
        "topic_rps_seconds": args.rps_seconds,
        "topic_rps_server_cpu_ms_per_request": round(1000 * cpu / max(1, result["requests"]), 2),
        "topic_rps_workers": args.server_workers,
        "topic_rps_concurrency": args.concurrency,
        "topic_rps_mean_kb": result["mean_kb"],
        "topic_rps_cache_hits": result["cache"].get("hit", 0),
        "topic_rps_cache_misses": result["cache"].get("miss", 0),
    }


# --- driver ---------------------------------------------------------------------------------


def _env(db_url: str, data_dir: Path) -> dict:
    return {
        **os.environ,
        "DATABASE_URL": db_url,
        "APIARY_STREAM_URL": "memory://",
        "APIARY_DATA_DIR": str(data_dir),
        "APIARY_LOG_LEVEL": "WARNING",
        "APIARY_DEBUG": "false",
        "APIARY_SECRET_KEY": "bench-" + uuid.uuid4().hex + uuid.uuid4().hex,
        "APIARY_ALLOWED_HOSTS": "127.0.0.1,localhost,testserver",
        "DJANGO_SETTINGS_MODULE": "apiary.settings",
    }


def _child(env: dict, *argv: str) -> dict:
    proc = subprocess.run(
        [sys.executable, __file__, *argv],
        env=env,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
        check=True,
    )
    line = next(x for x in proc.stdout.splitlines() if x.startswith("RESULT "))
    return json.loads(line[len("RESULT ") :])


def run_backend(backend: str, args) -> dict:
    if args.keep:
        data_dir = KEEP_DIR / f"community_pages-{backend}"
        data_dir.mkdir(parents=True, exist_ok=True)
    else:
        data_dir = Path(tempfile.mkdtemp(prefix="apiary-bench-community-"))
    meta = data_dir / "load.json"
    if backend == "sqlite":
        db_file = data_dir / "bench.sqlite3"
        db_url = f"sqlite:///{db_file}"
    else:
        db_url = f"{PG_SERVER}/{PG_DB}"
    env = _env(db_url, data_dir)
    reuse = False
    if args.keep and not args.reload and meta.exists():
        reuse = json.loads(meta.read_text()).get("posts") == args.posts
    result: dict = {}
    try:
        if not reuse:
            meta.unlink(missing_ok=True)
            if backend == "sqlite":
                for suffix in ("", "-wal", "-shm"):
                    Path(f"{db_file}{suffix}").unlink(missing_ok=True)
            else:
                _pg(f"DROP DATABASE IF EXISTS {PG_DB}")
                _pg(f"CREATE DATABASE {PG_DB}")
        subprocess.run([str(BIN / "apiary"), "migrate", "-v", "0"], env=env, check=True, cwd=ROOT)
        # Production serves hashed static names from a manifest, as a deployment does.
        subprocess.run(
            [str(BIN / "apiary"), "collectstatic", "--noinput", "-v", "0"],
            env=env,
            check=True,
            cwd=ROOT,
        )
        if reuse:
            loaded = json.loads(meta.read_text())
            print(f"--- {backend}: reusing {args.posts:,} posts in {data_dir}", file=sys.stderr)
        else:
            print(f"--- {backend}: loading {args.posts:,} posts", file=sys.stderr, flush=True)
            loaded = _child(env, "--load", str(args.posts), str(args.members))
            loaded["posts"] = args.posts
            meta.write_text(json.dumps(loaded))
            result["load_s"] = loaded["load_s"]
            result["index_and_analyze_s"] = loaded["index_and_analyze_s"]
        for name, n in loaded["counts"].items():
            result[f"rows.{name}"] = n
        ids_file = data_dir / "ids.json"
        ids_file.write_text(json.dumps(loaded["ids"]))
        only = set(args.only.split(","))
        if "both" in only:  # the help's word for the default
            only |= {"server", "rps"}
        if "server" in only:
            print(f"--- {backend}: server time", file=sys.stderr, flush=True)
            result.update(_child(env, "--server", str(ids_file), str(args.runs), args.cases))
        if "rps" in only:
            print(f"--- {backend}: requests per second", file=sys.stderr, flush=True)
            result.update(run_rps(env, loaded["ids"], args))
    finally:
        if not args.keep:
            shutil.rmtree(data_dir, ignore_errors=True)
            if backend == "postgres":
                _pg(f"DROP DATABASE IF EXISTS {PG_DB}")
    return result


def _pg_reachable() -> bool:
    try:
        _pg("SELECT 1")
        return True
    except (subprocess.CalledProcessError, FileNotFoundError):
        return False


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--load":
        child_load(int(sys.argv[2]), int(sys.argv[3]))
        return
    if len(sys.argv) > 1 and sys.argv[1] == "--server":
        child_server(sys.argv[2], int(sys.argv[3]), sys.argv[4] if len(sys.argv) > 4 else "")
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--posts", type=int, default=1_000_000)
    parser.add_argument("--members", type=int, default=20_000)
    parser.add_argument("--runs", type=int, default=40)
    parser.add_argument("--rps-seconds", type=int, default=30)
    parser.add_argument("--server-workers", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=12)
    parser.add_argument(
        "--only",
        default="server,rps",
        help="server, rps, both (= server,rps), or load (just build the data)",
    )
    parser.add_argument("--cases", default="", help="server-time categories, e.g. topic,search")
    parser.add_argument("--keep", action="store_true", help="keep the database for the next run")
    parser.add_argument("--reload", action="store_true", help="with --keep: load again")
    args = parser.parse_args()
    if args.rps_seconds > 300 or args.concurrency > 64:
        parser.error("keep the load bounded: --rps-seconds ≤ 300, --concurrency ≤ 64")
    if "rps" in args.only and not (BIN / "gunicorn").exists():
        print(
            "gunicorn is not installed (pip install -e '.[serve]'): measuring server time only",
            file=sys.stderr,
        )
        args.only = args.only.replace("rps", "")
    backends = ["sqlite", "postgres"] if args.backend == "both" else [args.backend]
    if "postgres" in backends and not _pg_reachable():
        print("PostgreSQL is not reachable: measuring SQLite only", file=sys.stderr)
        backends = [b for b in backends if b != "postgres"]
    for backend in backends:
        print(f"=== {backend} ===", file=sys.stderr)
        found = run_backend(backend, args)
        found["posts"] = args.posts
        print(json.dumps({backend: found}, indent=1))
        results_merge(RESULTS, backend, found)
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
