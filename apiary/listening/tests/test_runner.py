"""Sources end to end: the supervisor runs a real connector against a local feed server, the
batch and the cursor go through the outbox together, the consumer stores the mentions."""

import threading
import time

import pytest

from apiary.listening.connectors.rss import RSSConnector
from apiary.listening.fakes.feeds import FakeFeedServer, coffee_entries
from apiary.listening.models import Mention, OutboxEntry, Source
from apiary.listening.runner import DbConnectorContext, SourceSupervisor
from apiary.listening.services.sources import source_create, source_status_set

from .factories import drain, raw_mention

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def fast_clock(monkeypatch):
    monkeypatch.setattr(RSSConnector, "min_interval_seconds", 0.05)
    monkeypatch.setattr(RSSConnector, "max_backoff_seconds", 0.3)
    monkeypatch.setattr(RSSConnector, "timeout_seconds", 1.0)


def wait_for(predicate, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


def test_emit_puts_batch_and_cursor_in_one_commit():
    # given
    source, _ = source_create(name="Replay", kind="replay", config={"rate_per_minute": 60})
    ctx = DbConnectorContext(source, threading.Event())
    # when
    ctx.emit([raw_mention(), raw_mention()], cursor={"index": 2})
    # then
    source.refresh_from_db()
    assert source.cursor == {"index": 2}
    assert OutboxEntry.objects.filter(platform="bluesky").count() == 2
    assert source.received_count == 2
    assert drain() == 2
    assert Mention.objects.filter(source=source).count() == 2


def test_reject_and_errors_show_on_the_source():
    # given
    source, _ = source_create(name="Replay", kind="replay", config={})
    ctx = DbConnectorContext(source, threading.Event())
    # when
    ctx.reject("frame is not JSON")
    ctx.report_error("HTTP 500 from the feed")
    source.refresh_from_db()
    # then
    assert source.rejected_count == 1
    assert source.last_error == "HTTP 500 from the feed"
    assert source.error_count == 2
    # and a later good batch clears the error
    ctx.emit([raw_mention()], cursor={})
    source.refresh_from_db()
    assert source.last_error == ""


def test_supervisor_runs_an_rss_source_until_paused():
    with FakeFeedServer() as server:
        # given
        server.set_feed("/feed.xml", coffee_entries(5))
        source, _ = source_create(
            name="Reviews", kind="rss", config={"url": server.url(), "interval_seconds": 30}
        )
        supervisor = SourceSupervisor(runner_id="test-runner")
        try:
            # when
            supervisor.tick()
            assert wait_for(lambda: OutboxEntry.objects.count() >= 5)
            drain()
            # then
            assert Mention.objects.filter(source=source).count() == 5
            source.refresh_from_db()
            assert source.runner == "test-runner" and source.cursor.get("etag")
            # pausing stops the thread and releases the lease
            source_status_set(source=source, status="paused")
            supervisor.tick()
            assert supervisor.running == {}
            source.refresh_from_db()
            assert source.runner == ""
        finally:
            supervisor.shutdown()


def test_two_supervisors_never_run_the_same_source():
    with FakeFeedServer() as server:
        server.set_feed("/feed.xml", coffee_entries(2))
        source_create(name="Feed", kind="rss", config={"url": server.url()})
        first, second = SourceSupervisor("one"), SourceSupervisor("two")
        try:
            first.tick()
            second.tick()
            assert len(first.running) == 1
            assert second.running == {}
        finally:
            first.shutdown()
            second.shutdown()


def test_a_feed_that_fails_shows_the_error():
    with FakeFeedServer() as server:
        server.set_body("/feed.xml", "<html><body>Not a feed</body></html>", "text/html")
        source, _ = source_create(name="Broken", kind="rss", config={"url": server.url()})
        supervisor = SourceSupervisor("err")
        try:
            supervisor.tick()
            assert wait_for(lambda: Source.objects.get(pk=source.pk).last_error != "")
            assert "HTML" in Source.objects.get(pk=source.pk).last_error or "feed" in (
                Source.objects.get(pk=source.pk).last_error
            )
        finally:
            supervisor.shutdown()
