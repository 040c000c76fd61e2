"""The RSS/Atom connector against a local feed server speaking real HTTP (no database)."""

from __future__ import annotations

import itertools
import socket
import threading
import time
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

import pytest

from apiary.listening.connectors import ConnectorError, RecordingContext, connector_class
from apiary.listening.connectors._common import from_iso
from apiary.listening.connectors.rss import RSSConnector
from apiary.listening.fakes.feeds import FakeFeedServer, FeedEntry, coffee_entries

FEED = "/reviews.xml"


@pytest.fixture(autouse=True)
def fast_clock(monkeypatch):
    monkeypatch.setattr(RSSConnector, "min_interval_seconds", 0.01)
    monkeypatch.setattr(RSSConnector, "max_backoff_seconds", 0.3)
    monkeypatch.setattr(RSSConnector, "timeout_seconds", 0.5)


@pytest.fixture
def server():
    with FakeFeedServer() as srv:
        yield srv


@contextmanager
def running(ctx: RecordingContext):
    thread = threading.Thread(target=RSSConnector(ctx).run, daemon=True)
    thread.start()
    try:
        yield
    finally:
        ctx.stop()
        thread.join(3)
        assert not thread.is_alive(), "connector did not stop"


def wait_until(condition, timeout: float = 3.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.01)
    raise AssertionError("condition not met in time")


def config(server: FakeFeedServer, path: str = FEED, **extra) -> dict:
    return {"url": server.url(path), "interval_seconds": 0.05, **extra}


def test_first_poll_emits_every_entry_oldest_first_with_plain_text(server):
    # given
    server.set_feed(FEED, coffee_entries(), format="rss", language=None)
    ctx = RecordingContext(config=config(server, platform="trustpilot"), source_id=7, stop_after=6)

    # when
    with running(ctx):
        wait_until(lambda: len(ctx.mentions) >= 6)

    # then
    ids = [m.external_id for m in ctx.mentions]
    assert ids == [f"https://ridgeback-coffee.example/reviews/review-{n}" for n in range(1, 7)]
    russian = ctx.mentions[1]
    assert russian.platform == "trustpilot"
    assert russian.source_id == 7
    assert russian.text == (
        "Кофе отличный, но обслуживание медленное\n\n"
        "Зерно свежей обжарки, эспрессо без горечи.\n\n"
        "Ждали заказ двадцать минут — персоналу нужно больше рук."
    )
    assert russian.author_name == "Ирина К."
    assert russian.url == "https://ridgeback-coffee.example/reviews/review-2"
    assert russian.created_at == server.entries(FEED)[-2].published
    assert russian.language_hint == ""
    assert russian.raw["title"] == "Кофе отличный, но обслуживание медленное"
    assert "<" not in ctx.mentions[3].text and "12 oz cold brew" in ctx.mentions[3].text
    assert ctx.errors == [] and ctx.oks >= 1
    assert len(ctx.cursor["seen"]) == 6 and ctx.cursor["etag"]


def test_atom_entries_carry_their_own_language(server):
    # given
    server.set_feed(FEED, coffee_entries(), format="atom")
    ctx = RecordingContext(config=config(server), stop_after=6)

    # when
    with running(ctx):
        wait_until(lambda: len(ctx.mentions) >= 6)

    # then
    assert [m.language_hint for m in ctx.mentions] == ["en", "ru", "es", "en", "ru", "es"]
    assert all(m.platform == "web" for m in ctx.mentions)
    assert ctx.mentions[4].text.startswith("Подписка на зерно — честный отзыв\n\nДоставка вовремя")


def test_language_setting_overrides_the_feed(server):
    # given
    server.set_feed(FEED, coffee_entries(3), format="atom")
    ctx = RecordingContext(config=config(server, language="es"), stop_after=3)

    # when
    with running(ctx):
        wait_until(lambda: len(ctx.mentions) >= 3)

    # then
    assert {m.language_hint for m in ctx.mentions} == {"es"}


def test_unchanged_feed_is_a_conditional_get_answered_304(server):
    # given
    server.set_feed(FEED, coffee_entries(), format="rss")
    ctx = RecordingContext(config=config(server))

    # when
    with running(ctx):
        requests = server.wait_for_requests(FEED, 3)

    # then
    first, second = requests[0], requests[1]
    assert first.status == 200 and "if-none-match" not in first.headers
    assert second.status == 304
    assert second.headers["if-none-match"] == ctx.cursor["etag"]
    assert second.headers["if-modified-since"] == ctx.cursor["last_modified"]
    assert len(ctx.mentions) == 6
    assert ctx.oks >= 2 and ctx.errors == []


def test_only_new_entries_are_emitted(server):
    # given
    server.set_feed(FEED, coffee_entries(), format="rss")
    ctx = RecordingContext(config=config(server))
    new = FeedEntry(
        id="tag:ridgeback,2026:launch",
        title="Ridgeback launches decaf",
        summary="<p>Swiss-water decaf, finally!</p>",
        link="https://ridgeback-coffee.example/news/decaf",
        published=datetime.now(tz=UTC) - timedelta(minutes=5),
        author="Newsroom",
    )

    # when
    with running(ctx):
        wait_until(lambda: len(ctx.mentions) == 6)
        server.add_entry(FEED, new)
        wait_until(lambda: len(ctx.mentions) == 7)
        server.wait_for_requests(FEED, len(server.requests_for(FEED)) + 2)

    # then
    assert len(ctx.mentions) == 7
    assert ctx.mentions[-1].external_id == "tag:ridgeback,2026:launch"
    assert ctx.mentions[-1].text == "Ridgeback launches decaf\n\nSwiss-water decaf, finally!"
    assert len({m.external_id for m in ctx.mentions}) == 7


def test_restart_from_the_cursor_emits_nothing_old(server):
    # given: a server that ignores validators, so only the seen-ids ring can tell
    server.set_feed(FEED, coffee_entries(), format="rss", conditional=False)
    first = RecordingContext(config=config(server), stop_after=6)
    with running(first):
        wait_until(lambda: len(first.mentions) == 6)
    server.add_entry(
        FEED,
        FeedEntry(id="urn:new", title="New review", summary="Lovely oat latte", link=None),
    )
    second = RecordingContext(config=config(server), initial_cursor=first.cursor)

    # when
    with running(second):
        wait_until(lambda: second.mentions)
        before = len(server.requests_for(FEED))
        server.wait_for_requests(FEED, before + 2)

    # then
    assert [m.external_id for m in second.mentions] == ["urn:new"]
    assert all(r.status == 200 for r in server.requests_for(FEED))


def test_seen_ids_are_bounded(server, monkeypatch):
    # given
    monkeypatch.setattr(RSSConnector, "seen_limit", 4)
    server.set_feed(FEED, coffee_entries(6), format="rss")
    ctx = RecordingContext(config=config(server), stop_after=6)

    # when
    with running(ctx):
        wait_until(lambda: len(ctx.mentions) == 6)

    # then
    assert len(ctx.cursor["seen"]) == 4


@pytest.mark.parametrize(
    ("fault", "message"),
    [
        ("500", "server error: HTTP 500"),
        ("html", "HTML page instead of an RSS/Atom feed"),
        ("malformed", "malformed XML"),
        ("slow", "timed out after 0.5s"),
        ("drop", "network error"),
    ],
)
def test_a_fault_is_reported_backed_off_and_recovered(server, fault, message):
    # given
    server.set_feed(FEED, coffee_entries(), format="rss")
    server.fault(FEED, fault, delay=1.0)
    ctx = RecordingContext(config=config(server), stop_after=6)

    # when
    with running(ctx):
        wait_until(lambda: len(ctx.mentions) == 6)

    # then
    assert len(ctx.errors) == 1 and message in ctx.errors[0], ctx.errors
    assert "next attempt at" in ctx.errors[0]
    failed = ctx.cursors[0]
    assert failed["failures"] == 1
    assert from_iso(failed["next_poll_at"]) > datetime.now(tz=UTC) - timedelta(seconds=5)
    assert ctx.oks == 1 and ctx.cursor["failures"] == 0


def test_connection_refused_is_reported(server):
    # given: a port nobody listens on
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    ctx = RecordingContext(config={"url": f"http://127.0.0.1:{port}/feed", "interval_seconds": 1})

    # when
    with running(ctx):
        wait_until(lambda: ctx.errors)

    # then
    assert "could not connect to 127.0.0.1" in ctx.errors[0]
    assert ctx.cursor["failures"] == 1


def test_consecutive_failures_double_the_wait_up_to_the_cap(server):
    # given: interval 0.05 s, cap 0.3 s (fixture)
    server.set_feed(FEED, coffee_entries(), format="rss")
    server.fault(FEED, "500", times=4)
    ctx = RecordingContext(config=config(server), stop_after=6)

    # when
    with running(ctx):
        wait_until(lambda: len(ctx.mentions) == 6)

    # then
    times = [r.at for r in server.requests_for(FEED)]
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert [c["failures"] for c in ctx.cursors[:4]] == [1, 2, 3, 4]
    assert gaps[0] >= 0.09 and gaps[1] >= 0.19 and gaps[2] >= 0.29
    assert all(gap < 0.6 for gap in gaps)
    assert len(ctx.errors) == 4


def test_429_waits_as_long_as_retry_after_says(server):
    # given
    server.set_feed(FEED, coffee_entries(), format="rss")
    server.fault(FEED, "429", retry_after=1)
    ctx = RecordingContext(config=config(server), stop_after=6)

    # when
    with running(ctx):
        wait_until(lambda: len(ctx.mentions) == 6)

    # then
    first, second = server.requests_for(FEED)[:2]
    assert first.status == 429
    assert second.at - first.at >= 0.95
    assert "HTTP 429, Retry-After 1s" in ctx.errors[0]


def test_permanent_redirect_is_followed_without_changing_config(server):
    # given
    server.set_feed(FEED, coffee_entries(), format="rss")
    server.redirect("/old-feed", FEED)
    cfg = config(server, "/old-feed")
    ctx = RecordingContext(config=dict(cfg), stop_after=6)

    # when
    with running(ctx):
        wait_until(lambda: len(ctx.mentions) == 6)

    # then
    assert ctx.config == cfg
    assert ctx.cursor["moved_to"] == server.url(FEED)
    assert server.requests_for("/old-feed")[0].status == 301


def test_bad_entries_are_rejected_and_the_good_ones_emitted(server):
    # given
    now = datetime.now(tz=UTC).replace(microsecond=0)
    entries = [
        FeedEntry(id="urn:r:good-1", title="Great beans", summary="Loved them", published=now),
        FeedEntry(id="urn:r:future", title="Future", published=datetime(2999, 1, 1, tzinfo=UTC)),
        FeedEntry(id="urn:r:empty", title="", summary="   ", published=now),
        FeedEntry(id="urn:" + "x" * 300, title="Long id", published=now),
        FeedEntry(id="urn:r:ancient", title="Epoch", published=datetime(1970, 1, 2, tzinfo=UTC)),
        FeedEntry(id="urn:r:good-2", title="Buen café", summary="<p>Muy rico</p>", published=now),
    ]
    server.set_feed(FEED, entries, format="atom", conditional=False)
    ctx = RecordingContext(config=config(server))

    # when
    with running(ctx):
        wait_until(lambda: len(ctx.mentions) == 2)
        server.wait_for_requests(FEED, 3)

    # then
    assert sorted(m.external_id for m in ctx.mentions) == ["urn:r:good-1", "urn:r:good-2"]
    reasons = [reason for reason, _ in ctx.rejected]
    assert len(reasons) == 4  # once each, not once per poll
    assert any("created_at: is in the future" in r for r in reasons)
    assert any("text: must not be empty" in r for r in reasons)
    assert any("external_id: is longer than 255" in r for r in reasons)
    assert any("created_at: is before 2000" in r for r in reasons)
    assert ctx.errors == []


def test_entries_without_a_guid_fall_back_to_link_then_a_stable_hash(server):
    # given
    published = datetime(2026, 1, 5, 9, 30, tzinfo=UTC)
    entries = [
        FeedEntry(id=None, title="Linked", summary="a", link="https://news.example/a"),
        FeedEntry(id=None, title="Bare alert", summary="Ridgeback mentioned", published=published),
    ]
    server.set_feed(FEED, entries, format="rss")
    runs = []

    # when
    for _ in range(2):
        ctx = RecordingContext(config=config(server), stop_after=2)
        with running(ctx):
            wait_until(lambda ctx=ctx: len(ctx.mentions) == 2)
        runs.append(sorted(m.external_id for m in ctx.mentions))

    # then
    assert runs[0] == runs[1]
    assert "https://news.example/a" in runs[0]
    hashed = [i for i in runs[0] if i.startswith("sha:")]
    assert len(hashed) == 1 and len(hashed[0]) == 36


def test_a_slightly_broken_feed_is_read_with_a_warning(server):
    # given: an undefined HTML entity, the commonest breakage of real feeds
    body = (
        '<?xml version="1.0"?><rss version="2.0"><channel><title>Alerts</title>'
        '<item><guid isPermaLink="false">alert-1</guid>'
        "<title>Ridgeback&nbsp;Coffee in the news</title>"
        "<description>Coverage of the new roastery</description></item>"
        "</channel></rss>"
    )
    server.set_body(FEED, body, "application/rss+xml")
    ctx = RecordingContext(config=config(server, platform="news"), stop_after=1)

    # when
    with running(ctx):
        wait_until(lambda: ctx.mentions)

    # then
    assert ctx.mentions[0].external_id == "alert-1"
    assert ctx.mentions[0].platform == "news"
    assert "not well-formed XML" in ctx.errors[0] and "1 entries recovered" in ctx.errors[0]


def test_a_schedule_from_a_longer_interval_does_not_park_the_source(server):
    # given: the cursor was saved when the interval was a day
    server.set_feed(FEED, coffee_entries(2), format="rss")
    tomorrow = (datetime.now(tz=UTC) + timedelta(days=1)).isoformat()
    ctx = RecordingContext(
        config=config(server), initial_cursor={"next_poll_at": tomorrow}, stop_after=2
    )

    # when
    with running(ctx):
        wait_until(lambda: len(ctx.mentions) == 2)

    # then
    assert len(server.requests_for(FEED)) == 1


def test_validate_config_cleans_and_refuses():
    # given
    clean = RSSConnector.validate_config({"url": " https://example.com/feed ", "platform": "News"})

    # then
    assert clean == {
        "url": "https://example.com/feed",
        "interval_seconds": 300,
        "platform": "news",
        "language": "",
    }
    for bad, message in [
        ({}, "url: is required"),
        ({"url": "ftp://example.com/feed"}, "http:// or https://"),
        ({"url": "https:///nohost"}, "with a host"),
        ({"url": "https://e.com/f", "interval_seconds": 100_000}, "interval_seconds"),
        ({"url": "https://e.com/f", "interval_seconds": True}, "interval_seconds"),
        ({"url": "https://e.com/f", "platform": "myspace"}, "platform: must be one of"),
        ({"url": "https://e.com/f", "colour": "red"}, "unknown setting(s): colour"),
    ]:
        with pytest.raises(ConnectorError, match=None) as info:
            RSSConnector.validate_config(bad)
        assert message in str(info.value)


def test_minimum_interval_is_thirty_seconds_in_production(monkeypatch):
    # given
    monkeypatch.setattr(RSSConnector, "min_interval_seconds", 30)

    # then
    with pytest.raises(ConnectorError, match="from 30 to 86400"):
        RSSConnector.validate_config({"url": "https://e.com/f", "interval_seconds": 5})
    assert connector_class("rss") is RSSConnector
