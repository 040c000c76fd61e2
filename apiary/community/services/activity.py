"""Visitor sessions, log-ins and log-outs as activity events (the writes behind
``community/middleware.py``).

A session is a run of requests by one browser with no gap longer than ``idle_seconds`` (30 min,
the usual web-analytics definition). It starts with a ``session.start`` event and a
``VisitSession`` row; the row's ``last_seen_at`` moves at most once a minute; the sweeper
(``sessions_sweep``, the ``community-sessions`` worker) closes sessions idle longer than the limit
with a ``session.end`` event whose ``duration_ms`` is ``last_seen_at - started_at``. A log-out
closes the session at once. Every function takes ``now`` so tests drive the clock.
"""

from __future__ import annotations

import logging
import secrets
import threading
from datetime import datetime, timedelta

from django.conf import settings
from django.db import close_old_connections, connection, transaction
from django.db.models import F
from django.utils import timezone

from apiary.community.models import ActivityEvent, VisitSession
from apiary.community.services._common import activity_record
from apiary.core.db import counting_write

logger = logging.getLogger(__name__)

IDLE_SECONDS = 30 * 60  # a gap longer than this ends the session
TOUCH_SECONDS = 60  # last_seen_at is written at most this often


def session_settings() -> dict:
    """``APIARY_COMMUNITY_SESSIONS = {"idle_seconds": …, "touch_seconds": …}`` overrides."""
    return {
        "idle_seconds": IDLE_SECONDS,
        "touch_seconds": TOUCH_SECONDS,
        **getattr(settings, "APIARY_COMMUNITY_SESSIONS", {}),
    }


def _ms(delta: timedelta) -> int:
    return max(0, int(delta.total_seconds() * 1000))


def session_start(*, user_id: int | None, now: datetime, data: dict | None = None) -> str:
    """Open a session: one row and one ``session.start`` event. Returns its id."""
    sid = secrets.token_hex(16)
    with counting_write():
        VisitSession.objects.create(sid=sid, user_id=user_id, started_at=now, last_seen_at=now)
        ActivityEvent.objects.create(
            kind="session.start", user_id=user_id, session_key=sid, at=now, data=data or {}
        )
    return sid


def session_touch(*, sid: str, now: datetime) -> bool:
    """Move ``last_seen_at``. False when the session is gone or already closed (the caller
    starts a new one)."""
    with counting_write():
        return bool(
            VisitSession.objects.filter(sid=sid, ended_at__isnull=True).update(last_seen_at=now)
        )


def session_adopt(*, sid: str, user_id: int, now: datetime) -> bool:
    """A visitor logged in mid-session: the session becomes theirs (it does not split)."""
    return bool(
        VisitSession.objects.filter(sid=sid, ended_at__isnull=True).update(
            user_id=user_id, last_seen_at=now
        )
    )


def session_close(*, sid: str, now: datetime, reason: str) -> int | None:
    """Close one session now (log-out, or a different account took the browser). Returns the
    duration in ms, or None when it was already closed (closing twice records nothing)."""
    row = VisitSession.objects.filter(sid=sid, ended_at__isnull=True).first()
    if row is None:
        return None
    end = max(now, row.started_at)
    if not VisitSession.objects.filter(pk=row.pk, ended_at__isnull=True).update(ended_at=end):
        return None  # the sweeper got there first
    duration = _ms(end - row.started_at)
    ActivityEvent.objects.create(
        kind="session.end",
        user_id=row.user_id,
        session_key=sid,
        at=end,
        duration_ms=duration,
        data={"reason": reason},
    )
    return duration


def sessions_sweep(*, now: datetime | None = None, limit: int = 1000) -> int:
    """Close sessions idle longer than the limit; returns how many. Safe to run in several
    processes at once: rows are claimed under a lock (``SKIP LOCKED`` on PostgreSQL; SQLite
    serialises writers), so each session gets exactly one ``session.end``."""
    now = now or timezone.now()
    cutoff = now - timedelta(seconds=session_settings()["idle_seconds"])
    with transaction.atomic():
        qs = VisitSession.objects.filter(ended_at__isnull=True, last_seen_at__lt=cutoff)
        if connection.vendor == "postgresql":
            qs = qs.select_for_update(skip_locked=True)
        rows = list(qs.order_by("last_seen_at")[:limit])
        if not rows:
            return 0
        ActivityEvent.objects.bulk_create(
            [
                ActivityEvent(
                    kind="session.end",
                    user_id=r.user_id,
                    session_key=r.sid,
                    # the session ended when the visitor was last seen, not when we noticed
                    at=r.last_seen_at,
                    duration_ms=_ms(r.last_seen_at - r.started_at),
                    data={"reason": "idle"},
                )
                for r in rows
            ]
        )
        VisitSession.objects.filter(pk__in=[r.pk for r in rows]).update(ended_at=F("last_seen_at"))
    return len(rows)


def login_record(*, user, method: str, sid: str = "") -> None:
    """A successful log-in (``method``: ``password``, ``register``)."""
    activity_record(kind="login", user=user, session_key=sid, data={"method": method})


def logout_record(*, user, sid: str = "", now: datetime | None = None) -> None:
    """A log-out: the event, and the session closes at once (it does not wait for the
    sweeper)."""
    now = now or timezone.now()
    activity_record(kind="logout", user=user, session_key=sid)
    if sid:
        session_close(sid=sid, now=now, reason="logout")


def sessions_worker():
    """``WORKER_FACTORIES["community-sessions"]``: close idle visits about once a minute."""
    stop = threading.Event()

    def run() -> None:
        while not stop.is_set():
            try:
                close_old_connections()
                while sessions_sweep() >= 1000:  # a backlog: keep going
                    pass
            except Exception:
                logger.exception("community-sessions sweep failed")
            stop.wait(60.0)

    return run, stop.set
