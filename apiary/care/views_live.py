"""The inbox's live feed for pages: an SSE stream (``/care/stream/``) and the same events as JSON
for the polling fallback (``/care/events/``).

Both read ``InboxEvent`` rows with an id above the last one the page saw, through
``selectors.events_after`` (which applies access), so any number of server processes can serve
any client: nothing lives in process memory. A stream polls the table a few times a second,
sends a comment line as a heartbeat (so proxies and the browser notice a dead connection), and
ends after ``STREAM_SECONDS``; the browser's EventSource reconnects at once with
``Last-Event-ID``, which keeps long-lived connections from piling up on one process and lets a
deploy drain.

Under ASGI (``apiary serve`` runs uvicorn) the body is an async generator, so a waiting stream
holds no thread; under WSGI (the test live server, ``runserver``) it is a plain generator,
because Django would otherwise buffer an async iterator to the end before sending anything.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time

from asgiref.sync import sync_to_async
from django.core.handlers.asgi import ASGIRequest
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse, StreamingHttpResponse
from django.views.decorators.http import require_GET

from apiary.accounts.access import Perm, permission_required

from . import selectors
from .models import InboxEvent

# How often a stream looks for new rows: well inside the 2-second promise.
POLL_SECONDS = 0.5
# A comment line this often when nothing happens.
HEARTBEAT_SECONDS = 15.0
# Then the server ends the stream and the browser reconnects (``retry`` below).
STREAM_SECONDS = 120.0
RETRY_MS = 1000
BATCH = 200

logger = logging.getLogger(__name__)

# How many streams this process is serving right now (for logs and for tests that must wait
# until closed pages' streams have let go of their database connections).
_open = 0
_open_lock = threading.Lock()


def open_streams() -> int:
    return _open


def _count(delta: int) -> None:
    global _open
    with _open_lock:
        _open += delta


def latest_event_id() -> int:
    """Where a freshly rendered page starts listening (read before the page's own queries)."""
    return InboxEvent.objects.order_by("-pk").values_list("pk", flat=True).first() or 0


def _start_id(request: HttpRequest) -> int:
    raw = request.headers.get("Last-Event-ID") or request.GET.get("after") or ""
    try:
        value = int(raw)
    except ValueError:
        return latest_event_id()
    if value < 0:
        return latest_event_id()
    # An id from the future (a restored database, a made-up header) must not silence the
    # stream until the table catches up.
    return min(value, latest_event_id())


def event_payload(event) -> dict:
    """One event as the pages see it; no message text (see ``events``)."""
    if isinstance(event, dict):
        at = event.get("at")
        return {
            "id": event["id"],
            "kind": event["kind"],
            "conversation_id": event.get("conversation_id"),
            "user_id": event.get("user_id"),
            "data": event.get("data") or {},
            "at": at.isoformat() if hasattr(at, "isoformat") else at,
        }
    return {
        "id": event.pk,
        "kind": event.kind,
        "conversation_id": event.conversation_id,
        "user_id": event.user_id,
        "data": event.data or {},
        "at": event.at.isoformat() if event.at else None,
    }


def _read(user, after: int) -> tuple[list[dict], int]:
    """Events after ``after`` this user may see, and the id to continue from.

    ``selectors.events_after`` may answer a list of events, or ``(events, last_scanned_id)``
    when it filtered rows out: continuing from the last *scanned* id keeps a stream from
    re-reading rows it may never show."""
    answer = selectors.events_after(after_id=after, user=user, limit=BATCH)
    if isinstance(answer, tuple):
        events, scanned = answer
    else:
        events, scanned = answer, None
    payloads = [event_payload(e) for e in events]
    last = max([after, *(p["id"] for p in payloads)])
    if scanned:
        last = max(last, int(scanned))
    return payloads, last


def _frame(payload: dict) -> str:
    return f"id: {payload['id']}\ndata: {json.dumps(payload, separators=(',', ':'))}\n\n"


def _sync_stream(user, after: int):
    _count(+1)
    started = last_beat = time.monotonic()
    try:
        yield f"retry: {RETRY_MS}\n: connected\n\n"
        while time.monotonic() - started < STREAM_SECONDS:
            try:
                events, after = _read(user, after)
            except Exception:
                # The database went away (restart, shutdown): end this stream; the browser
                # reconnects from its Last-Event-ID, so nothing is lost.
                logger.warning("care stream ended: reading events failed", exc_info=True)
                return
            for payload in events:
                yield _frame(payload)
            now = time.monotonic()
            if events:
                last_beat = now
            elif now - last_beat >= HEARTBEAT_SECONDS:
                last_beat = now
                yield ": heartbeat\n\n"
            time.sleep(POLL_SECONDS)
    finally:
        # A stream outlives ordinary requests by far; give its connection back now rather
        # than keeping it idle for CONN_MAX_AGE.
        try:
            connection.close()
        except Exception:  # the same database trouble; nothing left to clean up
            logger.debug("care stream: closing the connection failed", exc_info=True)
        _count(-1)


async def _async_stream(user, after: int):
    read = sync_to_async(_read)
    _count(+1)
    loop = asyncio.get_running_loop()
    started = last_beat = loop.time()
    try:
        yield f"retry: {RETRY_MS}\n: connected\n\n"
        while loop.time() - started < STREAM_SECONDS:
            try:
                events, after = await read(user, after)
            except Exception:
                logger.warning("care stream ended: reading events failed", exc_info=True)
                return
            for payload in events:
                yield _frame(payload)
            now = loop.time()
            if events:
                last_beat = now
            elif now - last_beat >= HEARTBEAT_SECONDS:
                last_beat = now
                yield ": heartbeat\n\n"
            await asyncio.sleep(POLL_SECONDS)
    finally:
        # The reads ran in this request's thread; give its connection back with the stream.
        try:
            await sync_to_async(connection.close)()
        except Exception:
            logger.debug("care stream: closing the connection failed", exc_info=True)
        _count(-1)


@require_GET
@permission_required(Perm.CARE_INBOX)
def stream_view(request: HttpRequest) -> HttpResponse:
    after = _start_id(request)
    user = request.user
    body = (
        _async_stream(user, after)
        if isinstance(request, ASGIRequest)
        else _sync_stream(user, after)
    )
    response = StreamingHttpResponse(body, content_type="text/event-stream; charset=utf-8")
    response["Cache-Control"] = "no-cache, no-transform"
    # nginx and friends must pass each event on as it comes.
    response["X-Accel-Buffering"] = "no"
    return response


@require_GET
@permission_required(Perm.CARE_INBOX)
def events_view(request: HttpRequest) -> HttpResponse:
    """The polling fallback: the same events as JSON, ``{"events": [...], "last": id}``."""
    after = _start_id(request)
    events, last = _read(request.user, after)
    return JsonResponse({"events": events, "last": last})
