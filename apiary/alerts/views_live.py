"""The alerts live feed for pages: Server-Sent Events at ``/alerts/stream/``.

Each open alerts page holds one stream. The stream reads ``AlertEvent`` rows after the last id
the browser saw (``Last-Event-ID`` on reconnect, ``?after=`` on the first connect) through
``selectors.alert_events_after``, which filters by what the user may see. The rows live in the
database, so any number of server processes serve streams and none has to hear about a new
alert from another one (no process memory, no sticky sessions).

A stream ends after ``ALERTS_STREAM_SECONDS`` (25 s by default); the browser's EventSource
reconnects by itself with ``Last-Event-ID``, so a dropped connection or a server restart costs
at most one reconnect and never a missed alert. Under uvicorn (ASGI) the generator is async and
waits with ``asyncio.sleep`` (no thread held per open page); under a WSGI server (the test live
server, gunicorn sync) it is a plain generator, because each server would otherwise buffer the
other kind whole before sending a byte.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Iterator

from asgiref.sync import sync_to_async
from django.conf import settings
from django.core.handlers.asgi import ASGIRequest
from django.http import HttpRequest, StreamingHttpResponse

from apiary.accounts.access import Perm, permission_required

from . import selectors

POLL_SECONDS = 0.5  # well inside the 2 s promise, one primary-key probe per tick
HEARTBEAT_SECONDS = 10  # a comment line keeps proxies from closing an idle stream
RETRY_MS = 1000  # how soon EventSource reconnects after the stream ends
MAX_AFTER = 2**62
BATCH = 200


def stream_seconds() -> float:
    return float(getattr(settings, "ALERTS_STREAM_SECONDS", 25))


def start_id(request: HttpRequest) -> int | None:
    """Where a stream or a row poll starts: the last event id the browser saw
    (``Last-Event-ID`` on a reconnect wins over ``?after=``), but never beyond the newest event
    — an id from a restored database or a made-up header must not silence the feed until the
    table catches up. ``None`` (nothing usable given) means "from now"."""
    raw = request.headers.get("Last-Event-ID") or request.GET.get("after") or ""
    try:
        value = int(raw)
    except ValueError:
        return None
    if value < 0:
        return None
    return min(value, MAX_AFTER, selectors.latest_event_id())


def event_frame(event: dict) -> str:
    """One SSE frame. It names the alert and what happened, never mention text: the page then
    fetches the rows it shows through the access-checked views."""
    alert = event.get("alert") or {}
    data = {
        "id": event["id"],
        "kind": event["kind"],
        "alert_id": alert.get("id"),
        "severity": alert.get("severity"),
        "status": alert.get("status"),
    }
    return f"id: {data['id']}\nevent: alert\ndata: {json.dumps(data, separators=(',', ':'))}\n\n"


def _read(user, after: int | None) -> tuple[list[str], int]:
    answer = selectors.alert_events_after(after_id=after, user=user, limit=BATCH)
    frames = [event_frame(e) for e in answer["events"]]
    return frames, int(answer["last_id"])


def _sync_stream(user, after: int | None) -> Iterator[str]:
    yield f"retry: {RETRY_MS}\n: connected\n\n"
    deadline = time.monotonic() + stream_seconds()
    beat = time.monotonic() + HEARTBEAT_SECONDS
    while True:
        frames, after = _read(user, after)
        if frames:
            yield "".join(frames)
            beat = time.monotonic() + HEARTBEAT_SECONDS
        elif time.monotonic() >= beat:
            yield ": keep-alive\n\n"
            beat = time.monotonic() + HEARTBEAT_SECONDS
        if time.monotonic() >= deadline:
            return
        time.sleep(POLL_SECONDS)


async def _async_stream(user, after: int | None) -> AsyncIterator[str]:
    read = sync_to_async(_read)
    yield f"retry: {RETRY_MS}\n: connected\n\n"
    loop = asyncio.get_running_loop()
    deadline = loop.time() + stream_seconds()
    beat = loop.time() + HEARTBEAT_SECONDS
    while True:
        frames, after = await read(user, after)
        if frames:
            yield "".join(frames)
            beat = loop.time() + HEARTBEAT_SECONDS
        elif loop.time() >= beat:
            yield ": keep-alive\n\n"
            beat = loop.time() + HEARTBEAT_SECONDS
        if loop.time() >= deadline:
            return
        await asyncio.sleep(POLL_SECONDS)


@permission_required(Perm.ALERTS_VIEW)
def stream_view(request: HttpRequest) -> StreamingHttpResponse:
    after = start_id(request)
    user = request.user
    content = (
        _async_stream(user, after)
        if isinstance(request, ASGIRequest)
        else _sync_stream(user, after)
    )
    response = StreamingHttpResponse(content, content_type="text/event-stream; charset=utf-8")
    response["Cache-Control"] = "no-cache, no-store"
    response["X-Accel-Buffering"] = "no"  # nginx: pass events through as they come
    return response
