"""The demo replay source: the pure generator and the real-time connector (no database)."""

from __future__ import annotations

import statistics
import threading
import time
from collections import Counter
from datetime import timedelta

import pytest

from apiary.listening.connectors import CONNECTORS, ConnectorError, RecordingContext
from apiary.listening.connectors.replay import (
    COMPETITORS,
    EPOCH,
    ReplayConnector,
    Schedule,
    generate_mentions,
)
from apiary.listening.raw import PLATFORMS, raw_mention_validate

SEED = 7


@pytest.fixture(scope="module")
def hundred_k():
    return list(generate_mentions(SEED, 0, 100_000))


def labels(mention) -> dict:
    return mention.raw["replay"]


def as_item(m) -> dict:
    """The public item shape of a generated mention (to run it through the validator)."""
    return {
        "platform": m.platform,
        "external_id": m.external_id,
        "text": m.text,
        "created_at": m.created_at.isoformat(),
        "language": m.language_hint,
        "author": {
            "handle": m.author_handle,
            "name": m.author_name,
            "url": m.author_url,
            "followers": m.author_followers,
            "location": m.author_location,
        },
        "url": m.url,
        "parent_external_id": m.parent_external_id,
        "lat": m.lat,
        "lon": m.lon,
        "raw": m.raw,
    }


def test_registered_and_config_validation():
    assert CONNECTORS["replay"] is ReplayConnector
    clean = ReplayConnector.validate_config({})
    assert clean["rate_per_minute"] == 30.0 and clean["brand"] == "Northwind Coffee Roasters"
    assert clean["competitors"] == list(COMPETITORS) and len(COMPETITORS) == 3
    assert (clean["spike_every_minutes"], clean["spike_minutes"], clean["spike_multiplier"]) == (
        20.0,
        3.0,
        8.0,
    )
    for bad in (
        {"rate_per_minute": 0},
        {"rate_per_minute": "fast"},
        {"seed": "x"},
        {"competitors": []},
        {"competitors": "Blue"},
        {"spike_minutes": 30},
        {"brand": ""},
    ):
        with pytest.raises(ConnectorError):
            ReplayConnector.validate_config(bad)
    ctx = RecordingContext(config={"rate_per_minute": -1})
    ReplayConnector(ctx).run()
    assert ctx.errors and not ctx.mentions


def test_deterministic_for_a_seed():
    first = list(generate_mentions(SEED, 0, 3000))
    again = list(generate_mentions(SEED, 0, 3000))
    assert first == again
    other = list(generate_mentions(SEED + 1, 0, 3000))
    assert [m.text for m in other] != [m.text for m in first]
    assert first[0].created_at == EPOCH


def test_any_start_gives_the_same_mentions():
    whole = list(generate_mentions(SEED, 0, 5000))
    # Starting mid-block and crossing block boundaries.
    assert list(generate_mentions(SEED, 2500, 1200)) == whole[2500:3700]
    assert list(generate_mentions(SEED, 1023, 2)) == whole[1023:1025]
    stream = generate_mentions(SEED, 4990)  # endless
    assert [next(stream) for _ in range(10)] == whole[4990:5000]


def test_ids_unique_and_stable_over_100k(hundred_k):
    keys = [m.key for m in hundred_k]
    assert len(set(keys)) == len(keys) == 100_000
    assert {m.external_id for m in hundred_k} == {f"replay-{SEED}-{i}" for i in range(100_000)}
    assert [labels(m)["index"] for m in hundred_k] == list(range(100_000))


def test_mentions_pass_the_validator(hundred_k):
    for m in hundred_k[::97]:
        checked = raw_mention_validate(as_item(m), received_at=m.created_at)
        assert checked.text == m.text and checked.key == m.key
        assert checked.author_handle == m.author_handle
    assert {m.platform for m in hundred_k} <= PLATFORMS


def test_language_platform_and_author_mix(hundred_k):
    langs = Counter(labels(m)["lang"] for m in hundred_k)
    assert set(langs) == {"en", "es", "ru"}
    assert all(n / len(hundred_k) > 0.15 for n in langs.values())
    assert {m.platform for m in hundred_k} == {
        "bluesky", "mastodon", "x", "instagram", "vk", "telegram", "trustpilot", "news",
    }  # fmt: skip
    assert {m.language_hint for m in hundred_k} == {"", "en", "es", "ru"}
    authors = {m.author_url: m for m in hundred_k}
    located = sum(1 for m in authors.values() if m.author_location) / len(authors)
    with_coordinates = sum(1 for m in authors.values() if m.lat is not None) / len(authors)
    assert 0.22 < located < 0.38
    assert 0.01 < with_coordinates < 0.06
    locations = {m.author_location for m in authors.values()}
    assert {"Madrid, España", "Москва", "Sevilla", "London"} <= locations
    followers = [m.author_followers for m in authors.values()]
    assert max(followers) > 100 * statistics.median(followers)  # heavy-tailed
    per_author = Counter(m.author_url for m in hundred_k)
    assert per_author.most_common(1)[0][1] > 20 * statistics.median(per_author.values())
    # Some authors look like demo customers' identities ("first.last", no digits).
    assert any(
        m.platform == "bluesky" and not any(ch.isdigit() for ch in m.author_handle)
        for m in authors.values()
    )


def test_baseline_sentiment_and_intents(hundred_k):
    baseline = [m for m in hundred_k if labels(m)["phase"] == "baseline"]
    mix = Counter(labels(m)["sentiment"] for m in baseline)
    total = len(baseline)
    assert 0.40 < mix["positive"] / total < 0.50
    assert 0.30 < mix["neutral"] / total < 0.40
    assert 0.15 < mix["negative"] / total < 0.25
    for lang in ("en", "es", "ru"):
        of_lang = [m for m in baseline if labels(m)["lang"] == lang]
        intents = Counter(labels(m)["intent"] for m in of_lang)
        assert intents["purchase"] / len(of_lang) > 0.05
        assert intents["support"] / len(of_lang) > 0.04
    texts = " ".join(m.text for m in baseline).casefold()
    for cue in ("where can i buy", "где купить", "¿dónde comprar", "hasn't arrived",
                "не пришёл", "no llega"):  # fmt: skip
        assert cue in texts
    topics = Counter(labels(m)["topic"] for m in baseline)
    assert topics["brand"] > topics["competitor"] > topics["noise"] > 0
    brand_words = ("northwind", "@northwindcoffee", "#northwindcoffee")
    brand_posts = [m for m in baseline if labels(m)["topic"] == "brand"]
    assert all(any(w in m.text.casefold() for w in brand_words) for m in brand_posts)


def test_spike_window_is_faster_and_negative(hundred_k):
    phases = Counter(labels(m)["phase"] for m in hundred_k)
    assert phases["spike"] and phases["story"]
    by_phase = {
        p: Counter(labels(m)["sentiment"] for m in hundred_k if labels(m)["phase"] == p)
        for p in ("baseline", "spike")
    }
    negative = {p: c["negative"] / sum(c.values()) for p, c in by_phase.items()}
    assert negative["spike"] > 0.8 > 0.3 > negative["baseline"]
    # The first cycle's spike: one city, all three languages, rate × 8.
    schedule = Schedule(30.0)
    first_cycle = [m for m in hundred_k if m.created_at < EPOCH + timedelta(minutes=20)]
    spike = [m for m in first_cycle if labels(m)["kind"].startswith(("spike", "news_spike"))]
    assert {labels(m)["lang"] for m in spike} == {"en", "es", "ru"}
    cities = Counter(
        word for m in spike for word in ("Madrid", "Moscú", "Londres", "Sevilla") if word in m.text
    )
    assert len(cities) == 1
    spike_start = EPOCH + timedelta(minutes=schedule.spike_at)
    in_window = [m for m in first_cycle if labels(m)["phase"] == "spike"]
    assert min(m.created_at for m in in_window) >= spike_start
    per_minute_spike = len(in_window) / schedule.spike_minutes
    before = [m for m in first_cycle if m.created_at < spike_start]
    per_minute_base = len(before) / schedule.spike_at
    assert per_minute_spike == pytest.approx(8 * per_minute_base, rel=0.05)


def test_competitor_stories_are_bursts_about_one_competitor(hundred_k):
    def share(ms, name):
        return sum(1 for m in ms if labels(m)["competitor"] == name) / len(ms)

    story = [m for m in hundred_k[:1300] if labels(m)["phase"] == "story"]
    named = Counter(labels(m)["competitor"] for m in story if labels(m)["competitor"])
    main, _n = named.most_common(1)[0]
    baseline = [m for m in hundred_k if labels(m)["phase"] == "baseline"]
    assert share(story, main) > 3 * share(baseline, main)


def test_replies_point_to_earlier_mentions_on_the_same_platform(hundred_k):
    by_id = {m.external_id: m for m in hundred_k}
    replies = [m for m in hundred_k if m.parent_external_id]
    assert 0.05 < len(replies) / len(hundred_k) < 0.2
    for m in replies[:2000]:
        parent = by_id[m.parent_external_id]
        assert parent.platform == m.platform
        assert labels(parent)["index"] < labels(m)["index"]


def run_in_thread(ctx: RecordingContext) -> threading.Thread:
    thread = threading.Thread(target=ReplayConnector(ctx).run, daemon=True)
    thread.start()
    return thread


def test_run_respects_the_rate_and_stops():
    config = {"seed": SEED, "rate_per_minute": 60_000, "spike_multiplier": 1}  # 1,000 a second
    ctx = RecordingContext(config=config)
    started = time.monotonic()
    thread = run_in_thread(ctx)
    time.sleep(0.6)
    ctx.stop()
    thread.join(timeout=2)
    elapsed = time.monotonic() - started
    assert not thread.is_alive()
    assert 300 <= len(ctx.mentions) <= 1000 * elapsed + 50
    assert ctx.cursors[-1] == {"index": len(ctx.mentions)}
    newest = max(m.created_at for m in ctx.mentions)
    assert abs((newest - ctx.mentions[0].received_at).total_seconds()) < 2
    assert ctx.mentions[0].created_at.year >= 2026 and ctx.mentions[0].created_at > EPOCH


def test_spike_multiplies_the_emitted_rate():
    # 100 a second; one-minute cycles with the spike (× 10) from 15 s to 45 s.
    config = {
        "seed": SEED, "rate_per_minute": 6000, "spike_every_minutes": 1.0,
        "spike_minutes": 0.5, "spike_multiplier": 10,
    }  # fmt: skip
    ctx = RecordingContext(config=config)
    thread = run_in_thread(ctx)
    time.sleep(0.5)
    ctx.stop()
    thread.join(timeout=2)
    phases = Counter(labels(m)["phase"] for m in ctx.mentions)
    assert phases["baseline"] > 0 and phases["spike"] == 0  # spike starts 15 s in
    fast = RecordingContext(config=config, initial_cursor={"index": 1600})  # 16 s: spike
    thread = run_in_thread(fast)
    time.sleep(0.5)
    fast.stop()
    thread.join(timeout=2)
    assert Counter(labels(m)["phase"] for m in fast.mentions)["spike"] > 3 * len(ctx.mentions)


def test_restart_from_cursor_continues_without_repeats():
    config = {"seed": SEED, "rate_per_minute": 600_000}
    first = RecordingContext(config=config, stop_after=1200)
    run_in_thread(first).join(timeout=3)
    n = first.cursor["index"]
    assert n == len(first.mentions) >= 1200
    second = RecordingContext(config=config, initial_cursor=first.cursor, stop_after=500)
    run_in_thread(second).join(timeout=3)
    ids = [m.external_id for m in first.mentions + second.mentions]
    assert ids == [f"replay-{SEED}-{i}" for i in range(len(ids))]
    expected = list(generate_mentions(SEED, n, len(second.mentions), rate_per_minute=600_000))
    assert [m.text for m in second.mentions] == [m.text for m in expected]
