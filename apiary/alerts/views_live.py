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


def stream_seconds() -> float:
    return float(getattr(settings, "ALERTS_STREAM_SECONDS", 25))


def after_from(request: HttpRequest) -> int:
    """The last event id the browser saw: ``Last-Event-ID`` wins (a reconnect), then ``?after``."""
    raw = request.headers.get("Last-Event-ID") or request.GET.get("after") or "0"
    try:
        return min(max(0, int(raw)), MAX_AFTER)
    except ValueError:
        return 0


def _field(event, name: str):
    return event.get(name) if isinstance(event, dict) else getattr(event, name, None)


def event_frame(event) -> str:
    """One SSE frame. The data names the alert and what happened, never its text: the page
    fetches the rows it shows through the access-checked views."""
    data = {
        "id": _field(event, "id"),
        "kind": _field(event, "kind"),
        "alert_id": _field(event, "alert_id"),
    }
    return f"id: {data['id']}\nevent: alert\ndata: {json.dumps(data)}\n\n"


def _read(user, after: int) -> tuple[list[str], int]:
    events = list(selectors.alert_events_after(after_id=after, user=user, limit=200))
    frames = [event_frame(e) for e in events]
    if events:
        after = max(int(_field(e, "id")) for e in events)
    return frames, after


def _sync_stream(user, after: int) -> Iterator[str]:
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


async def _async_stream(user, after: int) -> AsyncIterator[str]:
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
    after = after_from(request)
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
