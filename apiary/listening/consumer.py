"""The stream consumer: decode → enrich (``pipeline.enrich``) → store (``services.store``).

``PipelineState`` holds what the pure stages need from the database — the compiled
``QueryBook`` of active queries and the ``IdentityIndex`` of consented identities — and
reloads each when it changes (queries: their newest ``updated_at``; identities: on a timer, so
a withdrawn consent stops resolving within ``IDENTITY_REFRESH_SECONDS``).

``handle_batch`` is the handler both streams call. A batch that fails as a whole is split so
that one bad record never takes the good ones with it: each failing record is reported back
on its own (the outbox parks it, NATS terms it) and the rest are stored.

Later apps react to stored mentions through ``after_store`` hooks (alerts, care inbox), which
run inside the same transaction and must be cheap; heavy work belongs in a task enqueued with
``transaction.on_commit``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from django.db.models import Max

from apiary.core.db import SqliteCheckpointer, sqlite_writer

from .models import ListeningQuery
from .pipeline import EnrichedMention, enrich
from .queries import QueryBook
from .services.store import StoreResult, mentions_store
from .stream.base import Delivery

logger = logging.getLogger(__name__)

IDENTITY_REFRESH_SECONDS = 30.0
QUERY_CHECK_SECONDS = 5.0

AfterStore = Callable[[list[EnrichedMention], StoreResult], None]
after_store: list[AfterStore] = []


def register_after_store(fn: AfterStore) -> AfterStore:
    if fn not in after_store:
        after_store.append(fn)
    return fn


class PipelineState:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._book: QueryBook | None = None
        self._book_stamp: object = None
        self._book_checked = 0.0
        self._identities = None
        self._identities_at = 0.0

    def book(self) -> QueryBook:
        now = time.monotonic()
        with self._lock:
            if self._book is not None and now - self._book_checked < QUERY_CHECK_SECONDS:
                return self._book
            active = ListeningQuery.objects.filter(active=True)
            stamp = (active.count(), active.aggregate(m=Max("updated_at"))["m"])
            if self._book is None or stamp != self._book_stamp:
                entries = []
                for q in active.only("id", "kind", "text"):
                    try:
                        QueryBook([(q.id, q.kind, q.text)])
                    except ValueError:
                        # Saved queries are validated by the service; an old bad one is skipped.
                        logger.warning("Listening query %s does not compile; skipped", q.id)
                        continue
                    entries.append((q.id, q.kind, q.text))
                self._book = QueryBook(entries)
                self._book_stamp = stamp
            self._book_checked = now
            return self._book

    def identities(self):
        from apiary.customers.services.resolution import IdentityIndex

        now = time.monotonic()
        with self._lock:
            if self._identities is None or now - self._identities_at > IDENTITY_REFRESH_SECONDS:
                self._identities = IdentityIndex.load()
                self._identities_at = now
            return self._identities

    def invalidate(self) -> None:
        with self._lock:
            self._book = None
            self._identities = None


_state = PipelineState()
# One per process, started by the consumer loop (SQLite only); while it runs, the ingest
# writers of every process leave checkpoints to it (core.db.sqlite_writer).
_checkpointer = SqliteCheckpointer()


def pipeline_state() -> PipelineState:
    return _state


def pipeline_state_reset() -> None:
    """Forget the cached query book and identity index (tests: each starts on a fresh database,
    and an index cached by an earlier test would not know this test's identities for 30 s)."""
    global _state
    _state = PipelineState()


def process_mentions(raws, *, state: PipelineState | None = None) -> StoreResult:
    """Enrich and store a list of RawMention (caller holds the transaction)."""
    state = state or _state
    return store_enriched(enrich(raws, book=state.book(), identities=state.identities()))


def store_enriched(enriched: list[EnrichedMention]) -> StoreResult:
    result = mentions_store(enriched)
    for hook in after_store:
        hook(enriched, result)
    return result


def handle_batch(
    deliveries: list[Delivery],
    *,
    state: PipelineState | None = None,
    settle: Callable[[dict[int, str]], None] | None = None,
) -> dict[int, str]:
    """Enrich (no transaction held) then store, calling ``settle(failed)`` inside the storage
    transaction when the stream gives one (the outbox deletes its rows there)."""
    from django.db import reset_queries, transaction

    # With DEBUG on (the demo), Django keeps every query of a connection; a long-running worker
    # has no request cycle to clear them, and bulk statements are large.
    reset_queries()
    state = state or _state
    failed: dict[int, str] = {}
    good: list[int] = []
    for i, d in enumerate(deliveries):
        if d.mention is None:
            failed[i] = d.error or "undecodable message"
        else:
            good.append(i)

    def finish() -> dict[int, str]:
        if settle is not None:
            with sqlite_writer(), transaction.atomic():
                settle(failed)
        return failed

    if not good:
        return finish()
    try:
        enriched = enrich(
            [deliveries[i].mention for i in good], book=state.book(), identities=state.identities()
        )
        with sqlite_writer(), transaction.atomic():
            store_enriched(enriched)
            if settle is not None:
                settle(failed)
        return failed
    except Exception as exc:
        if len(good) == 1:
            failed[good[0]] = f"{type(exc).__name__}: {exc}"
            logger.warning("Mention %s failed: %s", deliveries[good[0]].mention.key, exc)
            return finish()
    # Split the batch: find the bad records, store the rest.
    for i in good:
        try:
            with sqlite_writer(), transaction.atomic():
                process_mentions([deliveries[i].mention], state=state)
        except Exception as one_exc:
            failed[i] = f"{type(one_exc).__name__}: {one_exc}"
            logger.warning("Mention %s failed: %s", deliveries[i].mention.key, one_exc)
    return finish()


handle_batch.supports_settle = True


def consumer_worker():
    """``WORKER_FACTORIES`` entry: the stream consumer loop, ``(run, stop)``. On SQLite it
    also runs the WAL checkpointer thread (``core.db.SqliteCheckpointer``)."""
    from .stream import get_stream

    stop = threading.Event()

    def run() -> None:
        _checkpointer.start()
        try:
            get_stream().consume(handle_batch, stop)
        finally:
            _checkpointer.stop()

    return run, stop.set
