"""Care's background work: the ``care-clock`` worker loop (every ``TICK_SECONDS``):

- ``sla.sla_breach_check`` — overdue conversations are marked breached once and emit
  ``sla.breached`` (the alerts app raises the alert);
- ``replies.delivery_retry_due`` — replies whose next delivery attempt is due (back-off
  retries, and queued replies whose on-commit enqueue was lost), when the replies module has it;
- housekeeping once an hour: live-feed events older than ``EVENT_KEEP_DAYS`` and presence rows
  older than an hour are deleted (readers only ever ask for the last few seconds).

Every step is idempotent and safe with several workers (each claims rows with locks), so
``apiary serve`` and any number of ``apiary worker`` processes may all run the loop.
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import timedelta

from django.db import close_old_connections
from django.utils import timezone

logger = logging.getLogger(__name__)

TICK_SECONDS = 2.0
HOUSEKEEPING_SECONDS = 3600.0
EVENT_KEEP_DAYS = 7


def care_clock_tick(now=None) -> dict:
    """One pass of the loop; returns what it did (for tests and logs)."""
    from . import sla

    out = {"breached": sla.sla_breach_check(now), "retried": 0}
    try:
        from . import replies
    except ImportError:
        replies = None
    retry = getattr(replies, "delivery_retry_due", None)
    if retry is not None:
        out["retried"] = retry(now) if now is not None else retry()
    return out


def care_housekeeping(now=None) -> dict:
    from .models import AgentPresence, InboxEvent

    now = now or timezone.now()
    events, _e = InboxEvent.objects.filter(at__lt=now - timedelta(days=EVENT_KEEP_DAYS)).delete()
    presence, _p = AgentPresence.objects.filter(seen_at__lt=now - timedelta(hours=1)).delete()
    return {"events": events, "presence": presence}


def care_clock_worker():
    """``WORKER_FACTORIES["care-clock"]``: ``(run, stop)``; run() blocks until stop()."""
    stop = threading.Event()

    def run() -> None:
        last_housekeeping = 0.0
        while not stop.is_set():
            started = time.monotonic()
            try:
                close_old_connections()
                care_clock_tick()
                if started - last_housekeeping > HOUSEKEEPING_SECONDS:
                    care_housekeeping()
                    last_housekeeping = started
            except Exception:
                # One failed pass (database restarting, a lock timeout) must not stop the clock.
                logger.exception("care-clock pass failed")
            stop.wait(max(0.1, TICK_SECONDS - (time.monotonic() - started)))

    return run, stop.set
