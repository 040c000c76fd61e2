"""Runs the connector of every active pulling source (RSS, Mastodon, Bluesky, replay).

One ``SourceSupervisor`` per worker process. Every ``TICK`` seconds it looks at the sources
table, takes a lease on each active source that nobody else holds (``runner``/``lease_until``,
an atomic conditional UPDATE, so two ``apiary worker`` processes never run the same feed),
starts a thread per leased source, renews its leases, and stops the threads of sources that
were paused, deleted, reconfigured or whose lease was lost. A connector that raises is
restarted with back-off; its error is shown on the source.

``DbConnectorContext`` is the database-backed :class:`ConnectorContext`: ``emit`` publishes
to the stream and saves the cursor — in one transaction with the default outbox.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from datetime import timedelta
from typing import Any

from django.db import close_old_connections, connection, reset_queries, transaction
from django.db.models import Q
from django.utils import timezone

from .connectors import connector_class
from .models import RUNNING_KINDS, Source, SourceStatus
from .raw import RawMention
from .services import sources as source_services
from .stream import get_stream

logger = logging.getLogger(__name__)

TICK = 2.0
LEASE = timedelta(seconds=30)


class DbConnectorContext:
    def __init__(self, source: Source, stop: threading.Event) -> None:
        self.source_id = source.pk
        self.config = dict(source.config or {})
        self._cursor = dict(source.cursor or {})
        self._stop = stop
        self._had_error = bool(source.last_error)

    @property
    def cursor(self) -> dict[str, Any]:
        return dict(self._cursor)

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def emit(self, mentions: list[RawMention], *, cursor: dict[str, Any] | None = None) -> None:
        reset_queries()  # long-running thread, no request cycle: keep DEBUG's query log small
        for m in mentions:
            m.source_id = self.source_id
        stream = get_stream()
        if stream.transactional:
            with transaction.atomic():
                stream.publish(mentions)
                if cursor is not None:
                    source_services.source_cursor_save(source_id=self.source_id, cursor=cursor)
                source_services.source_received(source_id=self.source_id, received=len(mentions))
        else:
            stream.publish(mentions)  # returns once JetStream acked every message
            if cursor is not None:
                source_services.source_cursor_save(source_id=self.source_id, cursor=cursor)
            source_services.source_received(source_id=self.source_id, received=len(mentions))
        if cursor is not None:
            self._cursor = dict(cursor)
        if mentions and self._had_error:
            self.report_ok()

    def save_cursor(self, cursor: dict[str, Any]) -> None:
        source_services.source_cursor_save(source_id=self.source_id, cursor=cursor)
        self._cursor = dict(cursor)

    def reject(self, reason: str, payload: Any = None) -> None:
        logger.info("Source %s rejected an item: %s", self.source_id, reason)
        source_services.source_received(source_id=self.source_id, received=0, rejected=1)
        source_services.source_error_record(
            source_id=self.source_id, message=f"rejected an item: {reason}"
        )
        self._had_error = True

    def report_error(self, message: str) -> None:
        logger.warning("Source %s: %s", self.source_id, message)
        source_services.source_error_record(source_id=self.source_id, message=message)
        self._had_error = True

    def report_ok(self) -> None:
        if self._had_error:
            source_services.source_error_clear(source_id=self.source_id)
            self._had_error = False

    def sleep(self, seconds: float) -> bool:
        return not self._stop.wait(max(0.0, seconds))


class _Running:
    def __init__(self, source: Source) -> None:
        self.source_id = source.pk
        self.signature = (source.kind, repr(sorted((source.config or {}).items())))
        self.stop = threading.Event()
        self.thread = threading.Thread(
            target=self._run, args=(source,), name=f"apiary-source-{source.pk}", daemon=True
        )

    def _run(self, source: Source) -> None:
        delay = 1.0
        try:
            while not self.stop.is_set():
                started = time.monotonic()
                try:
                    fresh = Source.objects.get(pk=self.source_id)
                    ctx = DbConnectorContext(fresh, self.stop)
                    connector_class(fresh.kind)(ctx).run()
                except Exception as exc:
                    logger.exception("Connector of source %s crashed", self.source_id)
                    try:
                        source_services.source_error_record(
                            source_id=self.source_id,
                            message=f"connector stopped with an error: {type(exc).__name__}: {exc}",
                        )
                    except Exception:
                        logger.exception("Could not record the error of source %s", self.source_id)
                if time.monotonic() - started > 60:
                    delay = 1.0
                if self.stop.wait(delay):
                    break
                delay = min(delay * 2, 300.0)
        finally:
            connection.close()


class SourceSupervisor:
    def __init__(self, runner_id: str | None = None) -> None:
        self.runner_id = runner_id or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self.stop_event = threading.Event()
        self.running: dict[int, _Running] = {}

    def _lease(self, source_id: int) -> bool:
        now = timezone.now()
        return bool(
            Source.objects.filter(pk=source_id)
            .filter(Q(lease_until__isnull=True) | Q(lease_until__lt=now) | Q(runner=self.runner_id))
            .update(runner=self.runner_id, lease_until=now + LEASE, heartbeat_at=now)
        )

    def tick(self) -> None:
        reset_queries()
        wanted = {
            s.pk: s
            for s in Source.objects.filter(
                kind__in=RUNNING_KINDS, status=SourceStatus.ACTIVE, deleted_at__isnull=True
            )
        }
        for source_id, running in list(self.running.items()):
            source = wanted.get(source_id)
            changed = source is not None and running.signature != (
                source.kind,
                repr(sorted((source.config or {}).items())),
            )
            if source is None or changed or not self._lease(source_id):
                running.stop.set()
                running.thread.join(5.0)
                del self.running[source_id]
                Source.objects.filter(pk=source_id, runner=self.runner_id).update(
                    runner="", lease_until=None
                )
        for source_id, source in wanted.items():
            if source_id not in self.running and self._lease(source_id):
                running = _Running(source)
                self.running[source_id] = running
                running.thread.start()
                logger.info("Started source %s (%s)", source.name, source.kind)

    def run(self) -> None:
        try:
            while not self.stop_event.is_set():
                try:
                    self.tick()
                except Exception:
                    logger.exception("Source supervisor tick failed; retrying")
                    close_old_connections()
                self.stop_event.wait(TICK)
        finally:
            self.shutdown()

    def shutdown(self) -> None:
        for running in self.running.values():
            running.stop.set()
        for running in self.running.values():
            running.thread.join(5.0)
        try:
            Source.objects.filter(runner=self.runner_id).update(runner="", lease_until=None)
        except Exception:
            logger.exception("Could not release source leases")
        self.running.clear()
        connection.close()


def sources_worker():
    """``WORKER_FACTORIES`` entry: ``(run, stop)``."""
    supervisor = SourceSupervisor()
    return supervisor.run, supervisor.stop_event.set
