"""The default stream: a durable outbox table in the main database.

``publish`` inserts one ``OutboxEntry`` per mention in the caller's transaction (so a webhook
answers "accepted" only for mentions that are on disk, and a connector's cursor moves in the
same commit as its batch). ``consume`` claims the oldest ready rows with a lease
(``available_at`` pushed ``LEASE`` into the future, ``FOR UPDATE SKIP LOCKED`` on PostgreSQL so
several workers share the table), hands them to the handler, and deletes them in the handler's
transaction. A consumer killed mid-batch leaves its rows behind; when the lease runs out
another consumer (or the restarted one) takes them again. Rows that fail ``MAX_ATTEMPTS`` times
on their own are parked (``failed_at``, ``last_error``) so one poison record cannot stall the
stream; they are listed on the sources page.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Sequence
from datetime import timedelta

from django.conf import settings
from django.db import close_old_connections, connection, transaction
from django.utils import timezone

from apiary.core.db import local_settings, sqlite_writer

from ..models import OutboxEntry
from ..raw import RawMention, mention_from_json
from .base import Delivery, Handler, Stream

logger = logging.getLogger(__name__)

LEASE = timedelta(seconds=30)  # default; APIARY_OUTBOX_LEASE_SECONDS (setting or env) overrides
MAX_ATTEMPTS = 5
IDLE_POLL_SECONDS = 0.25  # other processes publish too; this bounds their latency

# Publishers in this process wake the local consumer at once instead of waiting for the poll.
_wakeup = threading.Event()


def _lease() -> timedelta:
    """How long a claimed batch stays invisible to other consumers (how soon a dead worker's
    rows come back)."""
    raw = getattr(settings, "APIARY_OUTBOX_LEASE_SECONDS", None)
    if raw is None:
        raw = os.environ.get("APIARY_OUTBOX_LEASE_SECONDS") or None
    try:
        seconds = float(raw) if raw is not None else 0.0
    except ValueError:
        seconds = 0.0
    return timedelta(seconds=seconds) if seconds > 0 else LEASE


def _q(name: str) -> str:
    return connection.ops.quote_name(name)


# The planner's statistics for a queue table are always stale (it fills and drains faster than
# autovacuum analyses it): it then guessed a few hundred ready rows and chose a bitmap scan plus
# a sort of the whole backlog — 80-250 ms per claim at a 130k-row backlog, half of PostgreSQL's
# CPU during ingest. Walking the partial index in id order stops after one batch, whatever the
# backlog. PostgreSQL only, for the claim's transaction only (core.db.local_settings).
CLAIM_SETTINGS = {"enable_bitmapscan": "off", "enable_sort": "off"}


def claim_sql() -> str:
    """Lease the oldest ready rows: params (lease end, now, batch size)."""
    table = _q(OutboxEntry._meta.db_table)
    lock = " FOR UPDATE SKIP LOCKED" if connection.vendor == "postgresql" else ""
    return (
        f"UPDATE {table} SET {_q('available_at')} = %s, "
        f"{_q('attempts')} = {_q('attempts')} + 1 "
        f"WHERE {_q('id')} IN (SELECT {_q('id')} FROM {table} "
        f"WHERE {_q('failed_at')} IS NULL AND {_q('available_at')} <= %s "
        f"ORDER BY {_q('id')} LIMIT %s{lock}) "
        f"RETURNING {_q('id')}, {_q('payload')}, {_q('attempts')}"
    )


class OutboxStream(Stream):
    name = "outbox"
    transactional = True

    def publish(self, mentions: Sequence[RawMention]) -> None:
        if not mentions:
            return
        # Plain SQL, not bulk_create (which cost as much as encoding): COPY on PostgreSQL, where
        # psycopg would otherwise parse and bind a megabyte of SQL text per statement; multi-row
        # INSERTs on SQLite.
        now = timezone.now()
        table = _q(OutboxEntry._meta.db_table)
        names = ("platform", "external_id", "payload", "enqueued_at", "available_at")
        cols = ", ".join(_q(c) for c in (*names, "attempts", "last_error"))
        if connection.vendor == "postgresql":
            with (
                connection.wrap_database_errors,
                connection.cursor() as cursor,
                cursor.cursor.copy(f"COPY {table} ({cols}) FROM STDIN") as copy,
            ):
                for m in mentions:
                    copy.write_row((m.platform, m.external_id, m.to_json(), now, now, 0, ""))
        else:
            stamp = connection.ops.adapt_datetimefield_value(now)
            for start in range(0, len(mentions), 500):
                chunk = mentions[start : start + 500]
                params: list = []
                for m in chunk:
                    params += (m.platform, m.external_id, m.to_json(), stamp, stamp)
                with connection.cursor() as cursor:
                    cursor.execute(
                        f"INSERT INTO {table} ({cols}) VALUES "
                        + ", ".join(["(%s, %s, %s, %s, %s, 0, '')"] * len(chunk)),
                        params,
                    )
        transaction.on_commit(_wakeup.set)

    def pending(self) -> int:
        return OutboxEntry.objects.filter(failed_at__isnull=True).count()

    def claim(self, batch_size: int) -> list[tuple[int, str, int]]:
        """Lease up to ``batch_size`` ready rows: ``(id, payload, attempts)``, oldest first."""
        now = timezone.now()
        adapt = connection.ops.adapt_datetimefield_value
        params = [adapt(now + _lease()), adapt(now), batch_size]
        with (
            sqlite_writer(),
            local_settings(savepoint=False, **CLAIM_SETTINGS),
            connection.cursor() as cursor,
        ):
            cursor.execute(claim_sql(), params)
            rows = cursor.fetchall()
        rows.sort()
        return rows

    def _deliveries(self, rows) -> list[Delivery]:
        out = []
        for row_id, payload, attempts in rows:
            try:
                out.append(Delivery(mention_from_json(payload), row_id, attempts))
            except Exception as exc:  # a row written by an older version, or corrupted
                out.append(Delivery(None, row_id, attempts, error=f"undecodable payload: {exc}"))
        return out

    def settle(self, done: list[int]) -> None:
        """Delete stored rows; call inside the handler's transaction."""
        for start in range(0, len(done), 900):
            OutboxEntry.objects.filter(pk__in=done[start : start + 900]).delete()

    def park(self, failed: dict[int, str]) -> None:
        now = timezone.now()
        for row_id, error in failed.items():
            OutboxEntry.objects.filter(pk=row_id).update(failed_at=now, last_error=error[:2000])

    def release(self, ids: list[int], error: str) -> None:
        """Give rows back after a failed batch: retry soon, park the ones out of attempts."""
        now = timezone.now()
        OutboxEntry.objects.filter(pk__in=ids, attempts__lt=MAX_ATTEMPTS).update(
            available_at=now + timedelta(seconds=2), last_error=error[:2000]
        )
        OutboxEntry.objects.filter(pk__in=ids, attempts__gte=MAX_ATTEMPTS).update(
            failed_at=now, last_error=error[:2000]
        )

    def process_once(self, handler: Handler, *, batch_size: int = 500) -> int:
        """Claim one batch and run it through ``handler``; returns how many rows it claimed.

        A handler that declares ``supports_settle`` (``consumer.handle_batch``) enriches
        outside any transaction and calls ``settle(done, failed)`` inside its own storage
        transaction — so the write lock (SQLite has one) is held only while writing, not while
        the CPU-bound stages run. Any other handler runs inside one transaction here."""
        rows = self.claim(batch_size)
        if not rows:
            return 0
        deliveries = self._deliveries(rows)

        def settle(failed: dict[int, str]) -> None:
            if connection.vendor == "postgresql":
                # Safe to not wait for the WAL flush here (unlike at receipt): the outbox rows
                # are deleted in this same transaction, so a commit lost in a crash loses the
                # deletion too and the batch is simply stored again. (Not so for NATS, which
                # acks after the commit: its consumer keeps synchronous commits.)
                with connection.cursor() as cursor:
                    cursor.execute("SET LOCAL synchronous_commit = off")
            done = [d.handle for i, d in enumerate(deliveries) if i not in failed]
            self.settle(done)
            if failed:
                self.park({deliveries[i].handle: err for i, err in failed.items()})

        try:
            if getattr(handler, "supports_settle", False):
                handler(deliveries, settle=settle)
            else:
                with transaction.atomic():
                    settle(handler(deliveries))
        except Exception as exc:
            logger.exception("Stream batch of %d failed; it will be retried", len(rows))
            self.release([r[0] for r in rows], f"{type(exc).__name__}: {exc}")
        return len(rows)

    def consume(self, handler: Handler, stop: threading.Event, *, batch_size: int = 500) -> None:
        while not stop.is_set():
            try:
                claimed = self.process_once(handler, batch_size=batch_size)
            except Exception:
                # The database went away, a lock timed out, …: never let the worker die.
                logger.exception("Outbox consumer error; retrying")
                close_old_connections()
                stop.wait(1.0)
                continue
            if claimed < batch_size:
                _wakeup.wait(IDLE_POLL_SECONDS)
                _wakeup.clear()
