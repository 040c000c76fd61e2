"""Trending terms and topics: term extraction per language, rollups counted once per stored
mention, rising scores on a controlled dataset, and multilingual clusters with labels."""

from datetime import UTC, datetime, timedelta

import pytest
from django.db import transaction
from django.utils import timezone

from apiary.listening import trends
from apiary.listening.consumer import PipelineState, process_mentions
from apiary.listening.models import TermRollup, TopicCluster, TrendWatermark
from apiary.listening.services.queries import query_create

from .factories import raw_mention


def terms(text, lang=""):
    return {(t.term, t.kind, t.display) for t in trends.extract_terms(text, lang)}


def keys(text, lang=""):
    return [t.term for t in trends.extract_terms(text, lang)]


# --- Extraction ------------------------------------------------------------------------------


def test_english_hashtags_handles_urls_and_stopwords():
    found = terms(
        "The delivery was late AGAIN and deliveries are never on time! #Espresso "
        "@alice@mastodon.social @northwind.bsky.social https://example.com/track?id=12",
        "en",
    )
    assert ("#espresso", "hashtag", "#espresso") in found
    assert ("@alice@mastodon.social", "handle", "@alice@mastodon.social") in found
    assert ("@northwind.bsky.social", "handle", "@northwind.bsky.social") in found
    words = {k for k, kind, _d in found if kind == "word"}
    # delivery / deliveries share the Snowball stem; stop words and URL parts are gone.
    assert words == {"deliveri", "late"}
    assert ("deliveri", "word", "delivery") in found
    # A handle's parts are not words, a hashtag's text is not a word either.
    assert "mastodon" not in words and "espresso" not in words


def test_russian_cyrillic_stems_and_yo():
    found = keys("Доставка опять опоздала, доставки нет. Заказ не пришёл #КофеЛисица", "ru")
    assert "#кофелисица" in found
    assert found.count("доставк") == 1  # доставка / доставки: one term, counted once
    assert "заказ" in found
    assert "пришел" in found or "пришл" in found  # ё folded to е
    assert not {"опять", "не", "нет"} & set(found)


def test_spanish_accents_fold_but_display_keeps_them():
    found = terms("¡La entrega de mi pedido llegó tarde! Qué desastre, #CaféAurora", "es")
    assert ("#cafeaurora", "hashtag", "#caféaurora") in found
    by_key = {k: d for k, _kind, d in found}
    assert by_key["entreg"] == "entrega"
    assert any(d == "llegó" for d in by_key.values())
    assert not {"la", "de", "mi", "que"} & set(by_key)


def test_numbers_short_words_and_long_texts_are_bounded():
    assert keys("ok 12 345 a be ##") == []
    many = " ".join(f"word{chr(97 + i % 26)}{chr(97 + i // 26)}" for i in range(200))
    assert len(trends.extract_terms(many, "en")) == trends.MAX_TERMS_PER_MENTION


# --- Rollups -------------------------------------------------------------------------------


def store(*raws):
    with transaction.atomic():
        return process_mentions(list(raws), state=PipelineState())


def at(day_offset: int, hour: int = 12) -> datetime:
    base = timezone.now().astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return base + timedelta(days=day_offset, hours=hour)


def post(text, when, **kw):
    return raw_mention(text=text, created_at=when, received_at=when + timedelta(seconds=2), **kw)


def count_of(key, qid=0):
    return sum(TermRollup.objects.filter(query_id=qid, term=key).values_list("count", flat=True))


@pytest.mark.django_db
def test_rollups_count_each_stored_mention_once_and_per_query():
    q = query_create(name="Espresso", kind="topic", text="espresso")
    first = [post("Great espresso, great shop #coffee", at(-1)) for _ in range(3)]
    other = post("The shop was closed", at(-1, 15))
    store(*first, other)
    trends.trends_refresh(days=1)
    assert count_of("shop") == 4
    assert count_of("espresso") == 3
    assert count_of("#coffee") == 3
    assert count_of("shop", q.pk) == 3 and count_of("closed", q.pk) == 0
    # Re-delivery of the same mentions stores nothing and counts nothing.
    again = store(*first, other)
    assert again.inserted == 0
    trends.trends_refresh(days=1)
    assert count_of("shop") == 4
    row = TermRollup.objects.get(query_id=0, term="shop")
    assert row.day == at(-1).date() and row.kind == "word" and row.sample_mention_id


@pytest.mark.django_db
def test_recent_rows_wait_for_the_settle_delay_and_the_watermark_holds():
    store(post("Fresh roast today", at(0, 0)))
    assert trends.terms_rollup_once(settle_seconds=3600) == 0
    assert count_of("roast") == 0
    mark = TrendWatermark.objects.get(name=trends.WATERMARK)
    assert mark.last_mention_id == 0
    assert trends.terms_rollup_once(settle_seconds=0) == 1
    assert count_of("roast") == 1
    assert trends.terms_rollup_once(settle_seconds=0) == 0


@pytest.mark.django_db
def test_rising_terms_order_against_the_baseline():
    mentions = []
    for d in range(-15, -1):  # 14 baseline days
        mentions += [post(f"Morning coffee routine {i}", at(d, 8)) for i in range(5)]
        mentions += [post(f"Weekend sale starts {i}", at(d, 9)) for i in range(2 if d % 2 else 0)]
    window = at(-1, 0)
    mentions += [post("Morning coffee routine", window + timedelta(hours=2)) for _ in range(5)]
    mentions += [post("Barista strike downtown", window + timedelta(hours=3)) for _ in range(10)]
    mentions += [post("Weekend sale starts", window + timedelta(hours=4)) for _ in range(8)]
    mentions += [post("Stray word umbrella", window + timedelta(hours=5)) for _ in range(2)]
    store(*mentions)
    trends.terms_rollup_run(settle_seconds=0)

    found = trends.trending_terms(
        query_id=None, start=window, end=window + timedelta(days=1), baseline_days=14
    )
    order = [t["key"] for t in found]
    assert order.index("strike") < order.index("sale")
    assert "morn" not in order and "coffe" not in order  # as usual: not rising
    assert "umbrella" not in order  # below the minimum count
    strike = next(t for t in found if t["key"] == "strike")
    assert strike["count"] == 10 and strike["baseline_per_day"] == 0 and strike["kind"] == "word"
    assert strike["score"] == pytest.approx(trends.rising_score(10, 0), abs=1e-3)
    sale = next(t for t in found if t["key"] == "sale")
    assert sale["baseline_per_day"] == pytest.approx(1.0)  # 7 days × 2 / 14
    assert sale["sample_mention_id"] is not None
    only_tags = trends.trending_terms(
        query_id=None, start=window, end=window + timedelta(days=1), kind="hashtag"
    )
    assert only_tags == []


# --- Clusters ------------------------------------------------------------------------------

DELIVERY = [
    ("My delivery is late again, the order never arrived", "en"),
    ("Delivery was late, still waiting for my order", "en"),
    ("Mi pedido llega tarde, la entrega nunca llegó", "es"),
    ("La entrega de mi pedido va con retraso otra vez", "es"),
    ("Доставка опоздала, заказ так и не пришёл", "ru"),
    ("Заказ опять задерживается, доставка ужасная", "ru"),
]
ESPRESSO = [
    ("This espresso is amazing, best espresso ever", "en"),
    ("Loving the espresso at the new bar, so smooth", "en"),
    ("Este espresso es increíble, el mejor café", "es"),
    ("Эспрессо просто отличный, лучший кофе", "ru"),
    ("Great espresso this morning", "en"),
]


def test_clusters_group_similar_texts_across_languages_with_labels():
    texts = [t for t, _l in DELIVERY + ESPRESSO]
    langs = [lang for _t, lang in DELIVERY + ESPRESSO]
    clusters = trends.cluster_texts(texts, langs)
    groups = [set(c["members"]) for c in clusters]
    assert set(range(len(DELIVERY))) in groups
    assert set(range(len(DELIVERY), len(texts))) in groups
    by_first = {min(c["members"]): c for c in clusters}
    assert "espresso" in by_first[len(DELIVERY)]["label"]
    delivery_label = by_first[0]["label"]
    assert any(w in delivery_label for w in ("delivery", "доставка", "entrega", "pedido"))


@pytest.mark.django_db
def test_topics_are_stored_with_sentiment_and_read_back_and_new_is_flagged():
    store(*(post(t, at(-20, 10)) for t in ["Morning coffee routine"] * 3))
    store(*(post(text, at(-2, 10)) for text, _l in DELIVERY + ESPRESSO))
    trends.terms_rollup_run(settle_seconds=0)
    end = timezone.now()
    made = trends.topics_cluster(query_id=0, end=end, days=7)
    assert len(made) == 2
    assert TopicCluster.objects.filter(query_id=0).count() == 2
    read = trends.topic_clusters(query_id=None, start=end - timedelta(days=7), end=end)
    assert [c["size"] for c in read] == sorted((c["size"] for c in read), reverse=True)
    delivery = next(c for c in read if c["size"] == len(DELIVERY))
    assert sum(delivery["sentiment"].values()) == len(DELIVERY)
    assert delivery["sentiment"]["negative"] >= 3
    assert len(delivery["representative_mention_ids"]) == trends.REPRESENTATIVES
    # Baseline history exists and holds none of these words: both topics are new.
    assert all(c["is_new"] for c in read)
    # A second run the same day replaces the first.
    trends.topics_cluster(query_id=0, end=end, days=7)
    assert TopicCluster.objects.filter(query_id=0).count() == 2
    assert (
        trends.topic_clusters(
            query_id=0, start=end - timedelta(days=60), end=end - timedelta(days=30)
        )
        == []
    )


def test_encoder_loads_without_network(monkeypatch):
    import socket

    def refuse(*args, **kwargs):
        raise AssertionError("the encoder tried to use the network")

    monkeypatch.setattr(socket, "socket", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(trends, "_model", None)
    vectors = trends.embed(["hola", "привет", "hello"])
    assert vectors.shape == (3, 512)
