"""Small database helpers shared by the apps."""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, wait
from contextlib import contextmanager, suppress
from pathlib import Path

from django.conf import settings as django_settings
from django.db import connection, connections, transaction
from django.utils import translation

logger = logging.getLogger(__name__)

_SETTING_NAME = re.compile(r"[a-z_]+")
_SETTING_VALUE = re.compile(r"[A-Za-z0-9_.]+")


@contextmanager
def local_settings(*, savepoint: bool = True, **settings: str):
    """One transaction with PostgreSQL settings for it alone (``SET LOCAL``): planner hints for
    one query, a relaxed commit.

    Applied only when this is the outermost transaction: inside a caller's, a setting would last
    until the caller's commit and change its other statements too, so there every setting is
    left as it was and this is a savepoint (``savepoint=False``: nothing at all, for hints that
    need no rollback of their own). Other databases: just the transaction. Names and values
    are code constants, checked, since ``SET`` takes no parameters."""
    for name, value in settings.items():
        if not (_SETTING_NAME.fullmatch(name) and _SETTING_VALUE.fullmatch(value)):
            raise ValueError(f"not a setting: {name}={value!r}")
    apply = connection.vendor == "postgresql" and not connection.in_atomic_block
    with transaction.atomic(savepoint=savepoint):
        if apply:
            with connection.cursor() as cursor:
                for name, value in settings.items():
                    cursor.execute(f"SET LOCAL {name} = {value}")
        yield


@contextmanager
def counting_write():
    """One transaction for a page view's bookkeeping (a counter bump and its activity event),
    committed without waiting for the write-ahead log to reach the disk on PostgreSQL
    (``SET LOCAL synchronous_commit TO OFF``, this transaction only).

    Why: an anonymous topic page served from the cache costs ~1 ms, and two separate
    autocommits each waiting for a WAL flush cost more than the page; views and visits are
    counters and analytics, where a crash may lose the last fraction of a second of them but
    never corrupts anything or loses a write anyone saw confirmed elsewhere. SQLite in WAL mode
    with ``synchronous=NORMAL`` (settings.py) already commits without a sync. Never use this
    for content, money or anything a person was told is saved."""
    # Inside a caller's transaction the commit stays the caller's (local_settings).
    with local_settings(synchronous_commit="off"):
        yield


class SqliteCheckpointer:
    """Copies SQLite's write-ahead log back into the database from a thread of its own.

    Why: in WAL mode with ``synchronous=NORMAL`` a commit does not wait for the disk, but the
    connection whose commit takes the log past ``wal_autocheckpoint`` pages (1,000 by default)
    then checkpoints it, in its own thread: it copies the pages and waits for two ``fsync``
    calls. An ingest worker writes a few megabytes a second, so it checkpointed every other
    batch and spent ~20% of its time waiting for the disk with a core idle. This thread
    checkpoints every ``interval`` seconds instead (PASSIVE: it never blocks a reader or
    writer) and touches ``<database>-checkpointer`` each round; while that file is fresh, the
    ingest writers (``sqlite_writer``, any process) turn their automatic checkpoints off, and
    back on within ``HEARTBEAT_FRESH_SECONDS`` of the thread stopping. sqlite3 lets go of the
    GIL while it waits, so the worker goes on enriching the next batch. Other connections
    (web requests) keep the automatic checkpoints. Nothing on PostgreSQL.

    Measured (2 workers draining a 100,000-mention backlog on SQLite): 4,470 -> 5,471/s."""

    def __init__(self, interval: float = 0.1) -> None:
        self.interval = interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> bool:
        name = _db_file()
        if not name:
            return False
        self._stop.clear()
        self._thread = threading.Thread(
            target=self._run, args=(name,), name="sqlite-checkpointer", daemon=True
        )
        self._thread.start()
        return True

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def _run(self, name: str) -> None:
        import sqlite3

        db = sqlite3.connect(name, timeout=20, isolation_level=None, check_same_thread=False)
        heartbeat = _heartbeat(name)
        try:
            while not self._stop.wait(self.interval):
                try:
                    db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
                    heartbeat.touch()
                except (sqlite3.Error, OSError) as exc:  # busy, disk full: try again next round
                    logger.warning("WAL checkpoint failed: %s", exc)
            with suppress(sqlite3.Error):
                db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
        finally:
            db.close()


_writer_state = threading.local()
HEARTBEAT_FRESH_SECONDS = 5.0
SQLITE_AUTOCHECKPOINT = 1000  # SQLite's default, what a connection starts with


def _db_file() -> str:
    """The SQLite database's file name; "" on PostgreSQL or for an in-memory database."""
    if connection.vendor != "sqlite":
        return ""
    name = str(connection.settings_dict.get("NAME") or "")
    return "" if not name or name == ":memory:" or name.startswith("file:") else name


def _heartbeat(name: str) -> Path:
    return Path(name + "-checkpointer")


def _checkpointer_alive(name: str) -> bool:
    try:
        return time.time() - _heartbeat(name).stat().st_mtime < HEARTBEAT_FRESH_SECONDS
    except OSError:
        return False


def _sync_autocheckpoint(name: str) -> None:
    """Automatic checkpoints off on this connection while a checkpointer thread (any process)
    keeps the log short, back on when none does (see SqliteCheckpointer)."""
    want = 0 if _checkpointer_alive(name) else SQLITE_AUTOCHECKPOINT
    raw = connection.connection
    if getattr(_writer_state, "autocheckpoint", None) != (id(raw), want):
        with connection.cursor() as cursor:
            cursor.execute(f"PRAGMA wal_autocheckpoint={want}")
        _writer_state.autocheckpoint = (id(raw), want)


@contextmanager
def sqlite_writer():
    """Wrap a hot SQLite write transaction (ingest: receipt, claim, store): while a
    checkpointer thread runs in any process (``SqliteCheckpointer``), this connection leaves
    checkpoints to it (``_sync_autocheckpoint``) instead of waiting for ``fsync`` after its
    own commit. Only outside a transaction; nothing on PostgreSQL or an in-memory database.

    (Queueing these writers on an ``flock`` instead of SQLite's sleeping busy handler was
    measured too: the receiving process then won the lock more often, but the workers
    stored ~12% less per second, so it was left out.)"""
    name = _db_file()
    if name and not connection.in_atomic_block:
        connection.ensure_connection()
        _sync_autocheckpoint(name)
    yield


# --- parallel reads ---------------------------------------------------------------------------

PARALLEL_THREADS = 2
_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()
_in_pool = threading.local()


def _parallel_pool() -> ThreadPoolExecutor:
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(PARALLEL_THREADS, thread_name_prefix="apiary-db")
        return _pool


def _parallel_possible() -> bool:
    """Other threads read what this one reads: not inside a transaction (they would not see
    its writes, nor a test's), not from a pool thread (no waiting on a full pool), not on an
    in-memory SQLite database (each connection would open a database of its own)."""
    if not django_settings.APIARY_DB_PARALLEL:
        return False
    if connection.in_atomic_block or getattr(_in_pool, "active", False):
        return False
    return connection.vendor != "sqlite" or bool(_db_file())


def _run_pooled(call: Callable, language: str | None):
    # The pool thread's connection follows CONN_MAX_AGE like a request's (Django checks at a
    # request's start and end); tests close it at once (PostgreSQL cannot drop a test database
    # someone is still connected to).
    for conn in connections.all(initialized_only=True):
        conn.close_if_unusable_or_obsolete()
    _in_pool.active = True
    try:
        with translation.override(language):
            return call()
    finally:
        _in_pool.active = False
        for conn in connections.all(initialized_only=True):
            if django_settings.TESTING:
                conn.close()
            else:
                conn.close_if_unusable_or_obsolete()


def read_parallel(*calls: Callable) -> list:
    """The results of ``calls``, read-only database work, in order: the first in this thread,
    the others at once in pool threads with database connections of their own, when
    ``_parallel_possible`` (else one after the other here).

    Why: a search's independent queries (posts' and replies' full-text matches; ranks and
    facets) each wait on the database; with two cores, running them side by side cuts the
    page's wall time by the shorter ones. The pool threads see committed data only, so this
    is for reads whose answer does not depend on the caller's uncommitted writes."""
    if len(calls) < 2 or not _parallel_possible():
        return [call() for call in calls]
    language = translation.get_language()
    pool = _parallel_pool()
    futures = [pool.submit(_run_pooled, call, language) for call in calls[1:]]
    try:
        first = calls[0]()
    finally:
        wait(futures)  # no pool work may outlive the call, whatever raised
    return [first, *(future.result() for future in futures)]  # a call's error is raised here
