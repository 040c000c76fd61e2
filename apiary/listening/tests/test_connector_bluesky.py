"""The Bluesky Jetstream connector against the in-process fake Jetstream (no database)."""

from __future__ import annotations

import threading
import time

import pytest

from apiary.listening.connectors import CONNECTORS, ConnectorError, RecordingContext
from apiary.listening.connectors.bluesky import BlueskyConnector
from apiary.listening.fakes.jetstream import FakeJetstream

ALICE = "did:plc:alice2k3j4h5g6f7d8s9a0"
BOB = "did:plc:bobz9x8c7v6b5n4m3l2k1j"


class FastBluesky(BlueskyConnector):
    backoff_initial = 0.01
    backoff_max = 0.05
    batch_seconds = 0.05
    open_timeout = 2.0


@pytest.fixture
def server():
    with FakeJetstream() as fake:
        yield fake


def start(ctx: RecordingContext) -> threading.Thread:
    thread = threading.Thread(target=FastBluesky(ctx).run, daemon=True)
    thread.start()
    return thread


def wait_for(predicate, timeout: float = 3.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.01)
    return predicate()


def finish(ctx: RecordingContext, thread: threading.Thread, *, settle: float = 0.15) -> None:
    time.sleep(settle)  # long enough for a duplicate to show up if there were one
    ctx.stop()
    thread.join(timeout=3)
    assert not thread.is_alive()


def collect(server, *, count: int, cursor=None, settle=0.15, **config) -> RecordingContext:
    ctx = RecordingContext(config={"url": server.url, **config}, initial_cursor=cursor or {})
    thread = start(ctx)
    assert wait_for(lambda: len(ctx.mentions) >= count), (len(ctx.mentions), ctx.errors)
    finish(ctx, thread, settle=settle)
    return ctx


def ids(ctx: RecordingContext) -> list[str]:
    return [m.external_id for m in ctx.mentions]


def replay_all(server) -> dict:
    """A cursor that makes the connector replay the whole log (and remember nothing)."""
    return {"time_us": server._log[0].time_us}


def test_registered_and_config_validation():
    assert CONNECTORS["bluesky"] is BlueskyConnector
    clean = BlueskyConnector.validate_config({})
    assert clean["url"].startswith("wss://jetstream")
    assert clean["stall_seconds"] == 30.0 and clean["keywords"] == [] and clean["wanted_dids"] == []
    clean = BlueskyConnector.validate_config(
        {
            "url": "ws://x/subscribe",
            "keywords": [" Northwind ", "northwind", ""],
            "wanted_dids": [ALICE],
        }
    )
    assert clean["keywords"] == ["northwind"] and clean["wanted_dids"] == [ALICE]
    for bad in (
        {"url": "https://jetstream.example/subscribe"},
        {"keywords": 5},
        {"wanted_dids": ["alice"]},
        {"stall_seconds": 0},
        {"stall_seconds": "30"},
    ):
        with pytest.raises(ConnectorError):
            BlueskyConnector.validate_config(bad)


def test_live_posts_are_mapped(server):
    ctx = RecordingContext(config={"url": server.url})
    thread = start(ctx)
    assert server.wait_for_connections(1)
    parent = server.post(BOB, "Root post about coffee", langs=["en"])
    reply = server.post(
        ALICE,
        "Totally agree, Northwind's Guji is great ☕",
        langs=["en", "es"],
        reply_to=parent["uri"],
        quote="at://did:plc:other/app.bsky.feed.post/3kquoted",
    )
    server.post(BOB, "¿Dónde comprar café de Northwind en Sevilla?", langs=["es"])
    assert wait_for(lambda: len(ctx.mentions) >= 3)
    finish(ctx, thread)
    assert server.connections[0].wanted_collections == ["app.bsky.feed.post"]
    assert server.connections[0].cursor is None  # a new source starts at the live tail
    assert len(ctx.mentions) == 3
    m = ctx.mentions[1]
    rkey = reply["commit"]["rkey"]
    assert m.platform == "bluesky"
    assert m.external_id == f"at://{ALICE}/app.bsky.feed.post/{rkey}" == reply["uri"]
    assert m.text == "Totally agree, Northwind's Guji is great ☕"
    assert m.language_hint == "en"
    assert m.created_at.isoformat(timespec="milliseconds").startswith(
        reply["commit"]["record"]["createdAt"][:23]
    )
    assert m.author_handle == ALICE  # no identity event seen: the DID
    assert m.author_url == f"https://bsky.app/profile/{ALICE}"
    assert m.url == f"https://bsky.app/profile/{ALICE}/post/{rkey}"
    assert m.parent_external_id == parent["uri"]
    assert m.quote_external_id == "at://did:plc:other/app.bsky.feed.post/3kquoted"
    assert m.raw["time_us"] == reply["time_us"] and m.raw["kind"] == "commit"
    assert ctx.mentions[2].language_hint == "es"
    assert ctx.cursor["time_us"] == server.last_time_us
    assert not ctx.rejected and ctx.oks >= 1


def test_created_at_falls_back_to_time_us(server):
    event = server.post(ALICE, "backdated import", created_at="1970-01-01T00:00:00Z")
    server.post(ALICE, "clock from the future", created_at="2999-01-01T00:00:00Z")
    server.post(ALICE, "no date", created_at="not a date")
    ctx = collect(server, count=3, cursor=replay_all(server))
    for mention in ctx.mentions:
        assert abs(mention.created_at.timestamp() - event["time_us"] / 1e6) < 5


def test_restart_from_cursor_overlaps_and_drops_duplicates(server):
    first = [server.post(ALICE, f"first run post {i}") for i in range(5)]
    ctx1 = collect(server, count=5, cursor=replay_all(server))
    assert ids(ctx1) == [e["uri"] for e in first]
    cursor = ctx1.cursor
    assert cursor["time_us"] == first[-1]["time_us"]
    assert [k for k, _t in cursor["recent"]] == [f"{ALICE}/{e['commit']['rkey']}" for e in first]

    second = [server.post(BOB, f"while we were down {i}") for i in range(4)]
    # Another Jetstream instance stamped one event a little *before* our cursor: a time-only
    # resume would lose it; the overlap finds it.
    late = server.post(BOB, "stamped early by another instance", time_us=cursor["time_us"] - 1000)
    ctx2 = collect(server, count=5, cursor=cursor)
    overlap_us = 5_000_000
    assert server.connections[-1].cursor == cursor["time_us"] - overlap_us
    # The replay sent the first run's posts again; none came out twice.
    assert set(server.connections[-1].events) >= {e["time_us"] for e in first}
    assert ids(ctx2) == [late["uri"], *[e["uri"] for e in second]]
    assert ctx2.cursor["time_us"] == second[-1]["time_us"]


def test_connection_killed_mid_stream_reconnects_without_gap_or_duplicate(server):
    events = [server.post(ALICE, f"post {i}") for i in range(12)]
    server.close_after(4)  # the first connection drops after four frames
    ctx = collect(server, count=12, cursor=replay_all(server))
    assert ids(ctx) == [e["uri"] for e in events]
    assert len(server.connections) >= 2
    assert server.connections[0].outcome == "closed"
    assert any("closed" in e for e in ctx.errors)
    # The second connection resumed from the overlap, not from the beginning of time.
    assert server.connections[1].cursor == events[3]["time_us"] - 5_000_000


def test_server_kill_while_live(server):
    ctx = RecordingContext(config={"url": server.url})
    thread = start(ctx)
    assert server.wait_for_connections(1)
    before = [server.post(ALICE, f"before {i}") for i in range(3)]
    assert wait_for(lambda: len(ctx.mentions) >= 3)
    server.kill()
    after = [server.post(BOB, f"after {i}") for i in range(3)]  # posted while we reconnect
    assert wait_for(lambda: len(ctx.mentions) >= 6)
    finish(ctx, thread)
    assert ids(ctx) == [e["uri"] for e in before + after]


def test_garbage_frames_are_rejected_and_good_ones_emitted(server):
    good = [server.post(ALICE, "good one")]
    for frame in (
        "this is not json",
        b"\x28\xb5\x2f\xfd binary zstd",
        "[1, 2, 3]",
        '{"kind": "commit"}',
        '{"did": "did:plc:x", "time_us": "soon", "kind": "commit"}',
        '{"did": 42, "time_us": 1, "kind": "commit"}',
        '{"did": "did:plc:x", "time_us": 5, "kind": "commit", "commit": "nope"}',
        '{"did": "did:plc:x", "time_us": 5, "kind": "commit", "commit": {"operation": "create",'
        ' "collection": "app.bsky.feed.post", "rkey": "3k", "record": {"text": 12}}}',
        '{"did": "did:plc:x", "time_us": 5, "kind": "commit", "commit": {"operation": "create",'
        ' "collection": "app.bsky.feed.post", "rkey": "3k", "record": []}}',
        '{"did": "did:plc:x", "time_us": 5, "kind": "identity", "identity": {"handle": 7}}',
    ):
        server.garbage(frame)
        good.append(server.post(BOB, f"good after garbage {len(good)}"))
    ctx = collect(server, count=len(good), cursor=replay_all(server))
    assert ids(ctx) == [e["uri"] for e in good]
    assert len(ctx.rejected) == 10
    reasons = " | ".join(r for r, _p in ctx.rejected)
    assert "not JSON" in reasons and "binary" in reasons and "time_us" in reasons
    assert "record.text" in reasons


def test_stalled_socket_reconnects_from_cursor(server):
    events = [server.post(ALICE, f"post {i}") for i in range(6)]
    server.stall_after(2)
    ctx = collect(server, count=6, cursor=replay_all(server), stall_seconds=0.3)
    assert ids(ctx) == [e["uri"] for e in events]
    assert server.connections[0].outcome == "stalled"
    assert any("no event" in e for e in ctx.errors)
    assert server.connections[1].cursor == events[1]["time_us"] - 5_000_000


def test_refused_and_unreachable_back_off_and_recover(server):
    server.refuse(3)
    event = server.post(ALICE, "made it")
    ctx = collect(server, count=1, cursor=replay_all(server))
    assert ids(ctx) == [event["uri"]]
    assert len([e for e in ctx.errors if "cannot connect" in e]) == 3
    assert ctx.oks >= 1

    # Nothing listening at all: errors are reported and stop() ends the loop promptly.
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    dead = RecordingContext(config={"url": f"ws://127.0.0.1:{port}/subscribe"})
    thread = start(dead)
    assert wait_for(lambda: len(dead.errors) >= 3)
    dead.stop()
    thread.join(timeout=2)
    assert not thread.is_alive() and not dead.mentions


def test_back_off_grows_with_jitter():
    connector = BlueskyConnector(RecordingContext())
    delays = [connector.backoff(n) for n in range(1, 12)]
    assert 0.5 <= delays[0] <= 1.0
    assert 4.0 <= delays[3] <= 8.0
    assert all(d <= BlueskyConnector.backoff_max for d in delays)
    assert delays[-1] >= BlueskyConnector.backoff_max / 2


def test_keyword_prefilter(server):
    keep = [
        server.post(ALICE, "Loving my Northwind espresso this morning"),
        server.post(BOB, "#NorthwindCoffee subscription box arrived"),
        server.post(BOB, "Кофе от NORTHWIND — огонь"),
    ]
    server.post(ALICE, "Just a normal day, nothing about coffee")
    server.post(BOB, "Blue Bottle opened a new shop")
    ctx = collect(server, count=3, cursor=replay_all(server), keywords=["northwind"])
    assert ids(ctx) == [e["uri"] for e in keep]
    # Skipped posts still move the cursor along (saved with the batch).
    assert ctx.cursor["time_us"] == server.last_time_us


def test_cursor_advances_without_matches(server, monkeypatch):
    monkeypatch.setattr(FastBluesky, "idle_cursor_seconds", 0.05)
    server.post(ALICE, "nothing to see")
    server.post(BOB, "nothing here either")
    ctx = RecordingContext(config={"url": server.url, "keywords": ["northwind"]},
                           initial_cursor=replay_all(server))  # fmt: skip
    thread = start(ctx)
    assert wait_for(lambda: ctx.cursors and ctx.cursors[-1]["time_us"] == server.last_time_us)
    finish(ctx, thread, settle=0)
    assert not ctx.mentions


def test_identity_event_sets_handle(server):
    server.post(ALICE, "before the identity event")
    server.identity(ALICE, "Alice.BSKY.social")
    server.post(ALICE, "after the identity event")
    server.account(ALICE, active=True)
    ctx = collect(server, count=2, cursor=replay_all(server))
    before, after = ctx.mentions
    assert before.author_handle == ALICE
    assert after.author_handle == "alice.bsky.social"
    assert after.author_url == "https://bsky.app/profile/alice.bsky.social"
    assert after.url.startswith(f"https://bsky.app/profile/{ALICE}/post/")  # post URLs keep the DID
    assert not ctx.rejected


def test_handle_cache_is_bounded(monkeypatch):
    monkeypatch.setattr(BlueskyConnector, "handles_max", 3)
    connector = BlueskyConnector(RecordingContext())
    for i in range(5):
        connector.learn_identity({"did": f"did:plc:{i}", "identity": {"handle": f"u{i}.test"}})
    assert list(connector.handles) == ["did:plc:2", "did:plc:3", "did:plc:4"]
    connector.learn_identity({"did": "did:plc:4", "identity": {"handle": "handle.invalid"}})
    assert "did:plc:4" not in connector.handles


def test_updates_deletes_and_other_collections_are_ignored(server):
    original = server.post(ALICE, "original")
    rkey = original["commit"]["rkey"]
    server.commit(ALICE, "update", rkey, text="edited text")
    server.commit(ALICE, "delete", rkey)
    server.commit(ALICE, "create", "3klike", collection="app.bsky.feed.like")
    server.post(BOB, "")  # image-only post: no text
    last = server.post(BOB, "the last one")
    ctx = collect(server, count=2, cursor=replay_all(server))
    assert ids(ctx) == [original["uri"], last["uri"]]
    assert not ctx.rejected


def test_wanted_dids_are_sent_and_honoured(server):
    server.post(ALICE, "from alice")
    wanted = server.post(BOB, "from bob")
    ctx = collect(server, count=1, cursor=replay_all(server), wanted_dids=[BOB])
    assert ids(ctx) == [wanted["uri"]]
    assert server.connections[0].wanted_dids == [BOB]


def test_batches_are_emitted_with_the_last_time_us(server):
    events = [server.post(ALICE, f"bulk {i}") for i in range(1200)]
    ctx = collect(server, count=1200, cursor=replay_all(server), settle=0.05)
    assert ids(ctx) == [e["uri"] for e in events]
    assert len(ctx.cursors) >= 3  # 500 per batch at most
    assert ctx.cursors[-1]["time_us"] == events[-1]["time_us"]
    # The remembered overlap stays bounded by time, not by the whole history.
    assert len(ctx.cursors[-1]["recent"]) <= 1200
