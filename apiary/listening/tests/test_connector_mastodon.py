"""The Mastodon connector against a local fake instance (REST + SSE over real HTTP, no DB)."""

from __future__ import annotations

import threading
import time
from contextlib import contextmanager

import pytest

from apiary.listening.connectors import ConnectorError, RecordingContext, connector_class
from apiary.listening.connectors.mastodon import MastodonConnector
from apiary.listening.fakes.mastodon import FakeMastodon


@pytest.fixture(autouse=True)
def fast_clock(monkeypatch):
    monkeypatch.setattr(MastodonConnector, "min_stall_seconds", 0.05)
    monkeypatch.setattr(MastodonConnector, "reconnect_base_seconds", 0.01)
    monkeypatch.setattr(MastodonConnector, "reconnect_max_seconds", 0.05)
    monkeypatch.setattr(MastodonConnector, "unauthorized_retry_seconds", 0.3)
    monkeypatch.setattr(MastodonConnector, "timeout_seconds", 2.0)


@pytest.fixture
def server():
    with FakeMastodon(heartbeat_seconds=0.1) as srv:
        yield srv


def config(server: FakeMastodon, **extra) -> dict:
    return {
        "base_url": server.base_url,
        "timeline": "hashtag",
        "hashtag": "coffee",
        "stall_seconds": 1,
        **extra,
    }


@contextmanager
def running(ctx: RecordingContext):
    thread = threading.Thread(target=MastodonConnector(ctx).run, daemon=True)
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


def streaming(server: FakeMastodon, count: int = 1):
    return lambda: server.active_streams >= 1 and server.streams_opened >= count


def uris(statuses) -> list[str]:
    return [s["uri"] for s in statuses]


def test_backfill_then_stream_with_the_cursor_on_every_batch(server):
    # given
    seeded = server.seed(3)
    server.toot("Tea is fine too", tags=["tea"])
    ctx = RecordingContext(config=config(server), source_id=3)

    # when
    with running(ctx):
        wait_until(lambda: len(ctx.mentions) == 3)
        wait_until(streaming(server))
        live = server.toot("Just had a <b>great</b> #coffee", tags=["coffee"])
        wait_until(lambda: len(ctx.mentions) == 4)

    # then
    assert [m.external_id for m in ctx.mentions] == uris([*seeded, live])
    assert ctx.cursor == {"last_id": live["id"]}
    assert ctx.cursors[0] == {"last_id": seeded[-1]["id"]}
    assert all(m.platform == "mastodon" and m.source_id == 3 for m in ctx.mentions)
    assert ctx.errors == [] and ctx.oks == 1


def test_a_status_maps_to_a_plain_text_mention_with_its_author(server):
    # given
    ann = server.seed(3)[0]
    ctx = RecordingContext(config=config(server), stop_after=3)

    # when
    with running(ctx):
        wait_until(lambda: len(ctx.mentions) == 3)

    # then
    first, second, third = ctx.mentions
    assert first.text == "The new #coffee blend at Ridgeback is amazing.\n\nNutty, low acidity."
    assert first.external_id == f"https://coffee.social/users/ann/statuses/{ann['id']}"
    assert first.url == f"https://coffee.social/@ann/{ann['id']}"
    assert first.author_handle == "ann@coffee.social"
    assert first.author_name == "Ann Barista ☕"
    assert first.author_followers == 1520
    assert first.author_location == "Portland, OR"
    assert first.author_url == "https://coffee.social/@ann"
    assert first.language_hint == "en"
    assert first.raw == ann
    assert first.created_at.isoformat().startswith(ann["created_at"][:19])
    assert second.author_handle == "ivan@mastodon.ru.example"
    assert second.author_location == "" and second.language_hint == "ru"
    assert third.author_location == "Sevilla"
    assert third.text.startswith("¿Alguien ha probado el cold brew de Ridgeback?\nMe han dicho")


def test_replies_spoilers_and_media_only_posts(server):
    # given
    ctx = RecordingContext(config=config(server))
    with running(ctx):
        wait_until(streaming(server))
        parent = server.toot("Where to buy #coffee beans?")
        reply = server.toot("Ridgeback online shop", in_reply_to=parent)
        orphan = server.toot("Agreed!", acct="ridgeback", in_reply_to_id="999")
        spoiler = server.toot("<p>bitter</p>", spoiler_text="Honest review")
        media = server.toot(
            "", media_attachments=[{"id": "1", "type": "image", "description": "A latte with art"}]
        )
        # when
        wait_until(lambda: len(ctx.mentions) == 5)

    # then
    by_id = {m.external_id: m for m in ctx.mentions}
    assert by_id[reply["uri"]].parent_external_id == parent["uri"]
    assert by_id[orphan["uri"]].parent_external_id == "999"
    assert by_id[spoiler["uri"]].text == "Honest review\n\nbitter"
    assert by_id[media["uri"]].text == "A latte with art"


def test_backfill_pages_oldest_first_from_the_cursor_following_link(server):
    # given
    statuses = [server.toot(f"#coffee number {n}") for n in range(100)]
    ctx = RecordingContext(config=config(server), initial_cursor={"last_id": statuses[9]["id"]})

    # when
    with running(ctx):
        wait_until(lambda: len(ctx.mentions) == 90)
        wait_until(streaming(server))

    # then
    assert [m.external_id for m in ctx.mentions] == uris(statuses[10:])
    pages = server.requests_to("/api/v1/timelines/tag/coffee")
    assert [p.query.get("min_id") for p in pages] == [
        statuses[9]["id"],
        statuses[49]["id"],
        statuses[89]["id"],
        statuses[99]["id"],
    ]
    assert all(p.query["limit"] == "40" for p in pages)
    assert [c["last_id"] for c in ctx.cursors] == [
        statuses[49]["id"],
        statuses[89]["id"],
        statuses[99]["id"],
    ]


def test_disconnect_mid_stream_resumes_with_backfill_no_gap_no_duplicate(server):
    # given
    seeded = server.seed(2)
    ctx = RecordingContext(config=config(server))
    with running(ctx):
        wait_until(lambda: len(ctx.mentions) == 2)
        wait_until(streaming(server))
        a = server.toot("A: #coffee on the stream")
        wait_until(lambda: len(ctx.mentions) == 3)

        # when: the stream is cut and B is posted while nobody listens
        server.drop_streams()
        b = server.toot("B: #coffee while disconnected")
        wait_until(lambda: len(ctx.mentions) == 4)
        wait_until(streaming(server, 2))
        c = server.toot("C: #coffee after the reconnect")
        wait_until(lambda: len(ctx.mentions) == 5)

    # then
    assert [m.external_id for m in ctx.mentions] == uris([*seeded, a, b, c])
    resumed = server.requests_to("/api/v1/timelines/tag/coffee")[1]
    assert resumed.query["min_id"] == a["id"]
    assert any("stream was cut" in e for e in ctx.errors)
    assert ctx.cursor == {"last_id": c["id"]}


def test_a_status_both_backfilled_and_streamed_is_emitted_once(server):
    # given: a slow REST answer, so a post lands while the stream is open and backfill runs
    seeded = server.seed(1)
    server.rest_delay = 0.3
    ctx = RecordingContext(config=config(server), initial_cursor={"last_id": seeded[0]["id"]})

    # when
    with running(ctx):
        wait_until(streaming(server))
        overlap = server.toot("In both #coffee")
        wait_until(lambda: ctx.mentions)
        server.rest_delay = 0
        after = server.toot("Later #coffee")
        wait_until(lambda: len(ctx.mentions) >= 2)
        time.sleep(0.1)

    # then
    assert [m.external_id for m in ctx.mentions] == uris([overlap, after])


def test_garbage_frames_are_rejected_and_the_stream_goes_on(server):
    # given
    server.seed(1)
    ctx = RecordingContext(config=config(server))

    # when
    with running(ctx):
        wait_until(lambda: ctx.mentions)
        wait_until(streaming(server))
        server.garbage()
        good = server.toot("Still fine #coffee")
        wait_until(lambda: len(ctx.mentions) == 2)

    # then
    assert ctx.mentions[-1].external_id == good["uri"]
    reasons = [reason for reason, _ in ctx.rejected]
    assert len(reasons) == 4, reasons
    assert sum("malformed JSON in an update event" in r for r in reasons) == 2
    assert "update event is not a status" in reasons
    assert "malformed SSE line" in reasons
    assert server.streams_opened == 1 and ctx.errors == []


def test_a_stalled_stream_is_reconnected(server):
    # given: the first stream sends headers and then nothing, not even heartbeats
    server.seed(1)
    server.fault("stall", on="stream")
    ctx = RecordingContext(config=config(server, stall_seconds=0.3))

    # when
    with running(ctx):
        wait_until(lambda: ctx.mentions)
        missed = server.toot("Posted during the stall #coffee")
        wait_until(lambda: len(ctx.mentions) == 2)
        wait_until(streaming(server, 2))

    # then
    assert ctx.mentions[-1].external_id == missed["uri"]
    assert any("stalled: no data for 0.3s" in e for e in ctx.errors)
    assert server.streams_opened == 2


def test_heartbeats_keep_a_quiet_stream_alive(server):
    # given: stall limit 0.3 s, heartbeats every 0.1 s
    ctx = RecordingContext(config=config(server, stall_seconds=0.3))

    # when
    with running(ctx):
        wait_until(streaming(server))
        time.sleep(0.8)

    # then
    assert server.streams_opened == 1 and ctx.errors == []


def test_stopping_interrupts_a_quiet_stream_at_once(server):
    # given: a long stall limit and rare heartbeats, so only the stop can end the read
    server.heartbeat_seconds = 30
    ctx = RecordingContext(config=config(server, stall_seconds=30))
    thread = threading.Thread(target=MastodonConnector(ctx).run, daemon=True)
    thread.start()
    wait_until(streaming(server))

    # when
    started = time.monotonic()
    ctx.stop()
    thread.join(2)

    # then
    assert not thread.is_alive()
    assert time.monotonic() - started < 0.5


def test_a_server_error_is_reported_and_retried(server):
    # given
    seeded = server.seed(1)
    server.fault("500", on="stream", times=2)
    ctx = RecordingContext(config=config(server), stop_after=1)

    # when
    with running(ctx):
        wait_until(lambda: ctx.mentions)

    # then
    assert [m.external_id for m in ctx.mentions] == uris(seeded)
    assert len(ctx.errors) == 2
    assert "HTTP 500 from streaming: We're sorry" in ctx.errors[0]
    assert "reconnecting in" in ctx.errors[0]


def test_429_waits_until_the_rate_limit_resets(server):
    # given
    seeded = server.seed(2)
    server.fault("429", on="rest", reset_in=0.5)
    ctx = RecordingContext(config=config(server), stop_after=2)

    # when
    with running(ctx):
        wait_until(lambda: len(ctx.mentions) == 2)

    # then
    first, second = server.requests_to("/api/v1/timelines/tag/coffee")[:2]
    assert first.status == 429 and second.status == 200
    assert second.at - first.at >= 0.4
    assert "rate limited (HTTP 429 from timeline)" in ctx.errors[0]
    assert [m.external_id for m in ctx.mentions] == uris(seeded)


def test_401_reports_the_token_and_retries_slowly(server):
    # given
    server.seed(1)
    server.require_token = "fresh-token"
    ctx = RecordingContext(config=config(server, access_token="stale-token"))

    # when
    with running(ctx):
        wait_until(lambda: ctx.errors)
        server.require_token = None
        wait_until(lambda: ctx.mentions)

    # then
    assert "access token rejected" in ctx.errors[0]
    attempts = server.requests_to("/api/v1/streaming/hashtag")
    assert attempts[0].status == 401
    assert attempts[0].headers["authorization"] == "Bearer stale-token"
    assert attempts[1].at - attempts[0].at >= 0.25


def test_reblogs_map_to_the_original_and_duplicates_are_skipped(server):
    # given
    original = server.seed(1)[0]
    ctx = RecordingContext(config=config(server))
    unseen = server.make_status(
        "Ridgeback's new roastery is open #coffee", acct="lucia@masto.es.example", language="es"
    )

    # when
    with running(ctx):
        wait_until(lambda: ctx.mentions)
        wait_until(streaming(server))
        boost_seen = server.toot("", acct="ridgeback", reblog=original)
        server.toot("", acct="ridgeback", reblog=unseen)
        marker = server.toot("marker #coffee")
        wait_until(lambda: len(ctx.mentions) == 3)

    # then
    assert [m.external_id for m in ctx.mentions] == uris([original, unseen, marker])
    boosted = ctx.mentions[1]
    assert boosted.author_handle == "lucia@masto.es.example"
    assert boosted.text == "Ridgeback's new roastery is open #coffee"
    assert boosted.language_hint == "es"
    assert ctx.cursors[1] == {"last_id": boost_seen["id"]}  # skipped, but the cursor moved


def test_delete_and_edit_events_are_ignored(server):
    # given
    first = server.seed(1)[0]
    ctx = RecordingContext(config=config(server))

    # when
    with running(ctx):
        wait_until(lambda: ctx.mentions)
        wait_until(streaming(server))
        server.edit(first["id"], "<p>edited</p>")
        server.delete(first["id"])
        marker = server.toot("marker #coffee")
        wait_until(lambda: len(ctx.mentions) == 2)

    # then
    assert [m.external_id for m in ctx.mentions] == uris([first, marker])
    assert ctx.rejected == [] and ctx.errors == []


def test_restart_from_the_cursor_emits_nothing_old(server):
    # given
    server.seed(3)
    first = RecordingContext(config=config(server), stop_after=3)
    with running(first):
        wait_until(lambda: len(first.mentions) == 3)
    new = server.toot("While we were away #coffee")
    second = RecordingContext(config=config(server), initial_cursor=first.cursor)

    # when
    with running(second):
        wait_until(lambda: second.mentions)
        wait_until(streaming(server, 2))

    # then
    assert [m.external_id for m in second.mentions] == [new["uri"]]


def test_public_local_timeline_uses_the_local_endpoints(server):
    # given
    local, _remote = server.seed(2)
    ctx = RecordingContext(config={"base_url": server.base_url + "/", "timeline": "public:local"})

    # when
    with running(ctx):
        wait_until(lambda: ctx.mentions)
        wait_until(streaming(server))
        live = server.toot("local news, no tag", tags=[])
        server.toot("remote", acct="ivan@mastodon.ru.example", tags=[])
        marker = server.toot("local marker", tags=[])
        wait_until(lambda: len(ctx.mentions) == 3)

    # then
    assert [m.external_id for m in ctx.mentions] == uris([local, live, marker])
    assert server.requests_to("/api/v1/timelines/public")[0].query["local"] == "true"
    assert server.requests_to("/api/v1/streaming/public/local")


def test_validate_config_cleans_and_refuses():
    # given
    clean = MastodonConnector.validate_config(
        {"base_url": "https://mastodon.example/", "timeline": "hashtag", "hashtag": "#Кофе"}
    )

    # then
    assert clean == {
        "base_url": "https://mastodon.example",
        "timeline": "hashtag",
        "hashtag": "Кофе",
        "access_token": "",
        "stall_seconds": 60.0,
    }
    for bad, message in [
        ({"timeline": "public"}, "base_url: is required"),
        ({"base_url": "mastodon.example"}, "http:// or https://"),
        ({"base_url": "https://m.example", "timeline": "home"}, "timeline: must be one of"),
        ({"base_url": "https://m.example", "timeline": "hashtag"}, "hashtag: is required"),
        ({"base_url": "https://m.example", "hashtag": "two words"}, "no spaces"),
        ({"base_url": "https://m.example", "hashtag": "c", "access_token": 5}, "access_token"),
        ({"base_url": "https://m.example", "hashtag": "c", "stall_seconds": 0}, "stall_seconds"),
        ({"base_url": "https://m.example", "hashtag": "c", "tag": "x"}, "unknown setting(s)"),
    ]:
        with pytest.raises(ConnectorError) as info:
            MastodonConnector.validate_config(bad)
        assert message in str(info.value)
    assert connector_class("mastodon") is MastodonConnector
