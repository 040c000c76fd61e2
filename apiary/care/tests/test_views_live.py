"""The live feed for pages: SSE (sync under WSGI, async under ASGI) and the JSON polling
fallback read InboxEvent rows after the last id, so any server process can serve any page."""

from __future__ import annotations

import asyncio
import json
from concurrent.futures import ThreadPoolExecutor

import pytest
from asgiref.sync import sync_to_async
from django.db import connections
from django.test import AsyncClient, Client
from django.urls import reverse

from apiary.accounts.models import Role
from apiary.care import events, views_live

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def short_streams(monkeypatch):
    # A stream normally lives two minutes; tests need it to end quickly.
    monkeypatch.setattr(views_live, "STREAM_SECONDS", 1.2)
    monkeypatch.setattr(views_live, "POLL_SECONDS", 0.05)
    monkeypatch.setattr(views_live, "HEARTBEAT_SECONDS", 0.3)


def frames(body: str) -> list[dict]:
    return [
        json.loads(line[len("data: ") :]) for line in body.splitlines() if line.startswith("data: ")
    ]


def test_sse_sends_events_after_last_event_id_then_ends(make_user, short_streams):
    agent = make_user(Role.CARE_AGENT)
    first = events.emit("presence", user_id=agent.pk, data={"state": "viewing"})
    second = events.emit("sla.breached", data={"n": 1})
    client = Client()
    client.force_login(agent)
    response = client.get(reverse("care:stream"), HTTP_LAST_EVENT_ID=str(first.pk))
    assert response["Content-Type"].startswith("text/event-stream")
    assert response["Cache-Control"].startswith("no-cache")
    body = b"".join(response.streaming_content).decode()
    assert body.startswith("retry: 1000\n")
    sent = frames(body)
    assert [e["id"] for e in sent] == [second.pk]  # only what came after Last-Event-ID
    assert sent[0]["kind"] == "sla.breached"
    assert f"id: {second.pk}\n" in body
    assert ": heartbeat" in body  # nothing else happened, so the stream kept itself alive


def test_sse_without_a_position_starts_at_the_newest_event(make_user, short_streams):
    agent = make_user(Role.CARE_AGENT)
    events.emit("sla.breached", data={})
    client = Client()
    client.force_login(agent)
    body = b"".join(client.get(reverse("care:stream")).streaming_content).decode()
    assert frames(body) == []


def test_a_bogus_or_future_position_does_not_silence_the_stream(make_user, short_streams):
    agent = make_user(Role.CARE_AGENT)
    client = Client()
    client.force_login(agent)
    for bad in ("abc", "-5", str(10**15)):
        response = client.get(reverse("care:events"), {"after": bad})
        assert response.status_code == 200
        assert response.json()["events"] == []
    # a position beyond the newest id is clamped, so the next event is still delivered
    response = client.get(reverse("care:events"), {"after": str(10**15)})
    last = response.json()["last"]
    e = events.emit("sla.breached", data={})
    got = client.get(reverse("care:events"), {"after": last}).json()
    assert [x["id"] for x in got["events"]] == [e.pk]


def test_sse_under_asgi_streams_from_an_async_generator(make_user, short_streams):
    agent = make_user(Role.CARE_AGENT)
    start = events.emit("presence", user_id=agent.pk, data={})
    later = events.emit("conversation.updated", data={"change": "status"})

    client = AsyncClient()
    client.force_login(agent)

    async def read() -> tuple[bool, str]:
        response = await client.get(reverse("care:stream"), {"after": start.pk})
        chunks = [chunk async for chunk in response.streaming_content]
        return response.is_async, b"".join(chunks).decode()

    # A fresh thread with its own event loop: Playwright's sync API may have left a running
    # loop in this one (browser tests in the same session).
    with ThreadPoolExecutor(1) as pool:
        is_async, body = pool.submit(asyncio.run, read()).result(timeout=30)
        # The test client runs sync code in asgiref's shared thread (no per-request thread as
        # under uvicorn); close what it opened there so the test database can be dropped.
        pool.submit(asyncio.run, sync_to_async(connections.close_all)()).result(timeout=30)
    assert is_async  # no thread is held while the stream waits
    assert [e["id"] for e in frames(body)] == [later.pk]


def test_polling_fallback_returns_json(make_user):
    agent = make_user(Role.CARE_AGENT)
    e = events.emit("sla.breached", data={"x": 1})
    client = Client()
    client.force_login(agent)
    got = client.get(reverse("care:events"), {"after": e.pk - 1}).json()
    assert got["events"][0]["kind"] == "sla.breached"
    assert got["last"] == e.pk
