"""Mention search (``search.py``, ``search_text.py``): every filter, full text on the real
index (FTS5 or PostgreSQL GIN, whichever backend runs), place, sorting and keyset pages."""

import itertools
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection, transaction
from django.http import QueryDict

from apiary.customers.models import Customer, Segment
from apiary.listening import search, search_text
from apiary.listening.consumer import PipelineState, process_mentions
from apiary.listening.models import ListeningQuery, Mention, MentionMatch
from apiary.listening.services.search import mention_mark_irrelevant, mention_tag_add

from .factories import raw_mention

T0 = datetime(2026, 11, 2, 12, tzinfo=UTC)
_seq = itertools.count(1)

# Known places (lat, lon) for radius and box checks.
MADRID = (40.4168, -3.7038)
TOLEDO = (39.8628, -4.0273)  # ~67 km from Madrid
BARCELONA = (41.3874, 2.1686)  # ~505 km from Madrid
MOSCOW = (55.7558, 37.6173)
SUVA = (-18.1416, 178.4419)  # Fiji, east of the antimeridian's west side
APIA = (-13.8333, -171.7500)  # Samoa, just across it


def mk(text="Northwind coffee", **fields) -> Mention:
    n = next(_seq)
    at = fields.pop("created_at", T0 + timedelta(minutes=n))
    data = {
        "platform": "bluesky",
        "external_id": f"m-{n}",
        "text": text,
        "created_at": at,
        "received_at": at,
        "stored_at": at,
        "language": "en",
        "sentiment": "neutral",
        "intent": "none",
        "author_followers": 10,
    }
    data.update(fields)
    return Mention.objects.create(**data)


def find(**params) -> list[Mention]:
    return list(search.search_queryset(search.params_validate(params)))


def ids(**params) -> list[int]:
    return [m.pk for m in find(**params)]


# --- Query text (no database) -----------------------------------------------------------------


def test_parser_reads_words_phrases_prefixes_and_exclusions():
    parsed = search_text.parse_query('Café "cold brew" espres* -refund')
    assert [t.tokens for t in parsed.include] == [("cafe",), ("cold", "brew"), ("espres",)]
    assert parsed.include[2].prefix and not parsed.include[0].prefix
    assert [t.tokens for t in parsed.exclude] == [("refund",)]
    assert parsed.fts5() == '("cafe" AND "cold brew" AND "espres" *) NOT "refund"'
    assert parsed.tsquery() == "'cafe' & ('cold' <-> 'brew') & 'espres':* & !'refund'"


@pytest.mark.parametrize(
    "text",
    [
        "NEAR(a b)",
        "a AND OR NOT b",
        "x' OR '1'='1",
        "(((",
        "*",
        "a*b*",
        "^x:y {z}",
        "שלום עולם",
        "مرحبا",
        "😀 кофе 😡",
        "-",
        "--x y",
        "\\ ; DROP TABLE x",
    ],
)
def test_special_characters_become_plain_terms(text):
    try:
        parsed = search_text.parse_query(text)
    except search_text.QuerySyntaxError:
        return  # nothing searchable: a clear message, checked in the API tests
    # Only letters and digits reach the MATCH / tsquery strings, inside quotes.
    for term in parsed.include + parsed.exclude:
        assert all(tok.isalnum() for tok in term.tokens)


def test_parser_refuses_what_cannot_mean_anything():
    for text, message in [
        ('"open', "not closed"),
        ("-refund", "not only exclusions"),
        ("☕ 😀", "no letters or digits"),
        ("x" * 501, "At most 500"),
        (" ".join(f"w{i}" for i in range(17)), "At most 16"),
    ]:
        with pytest.raises(search_text.QuerySyntaxError, match=message):
            search_text.parse_query(text)


def test_fold_table_is_the_migrations_copy():
    import importlib

    migration = importlib.import_module("apiary.listening.migrations.0002_search")
    assert migration.FOLD_FROM == search_text.FOLD_FROM
    assert migration.FOLD_TO == search_text.FOLD_TO


def test_params_read_repeated_and_comma_separated_lists():
    params, paging = search.params_from_query(
        QueryDict("sentiment=negative&sentiment=neutral,positive&limit=5&country=es")
    )
    assert params.sentiment == ["negative", "neutral", "positive"]
    assert params.country == ["ES"] and paging.limit == 5


@pytest.mark.parametrize(
    ("query", "field", "message"),
    [
        ("since=yesterday", "since", "ISO 8601"),
        ("until=2026-02-30", "until", "ISO 8601"),
        ("since=2026-11-05&until=2026-11-01", "until", "later than since"),
        ("near=40.4,-3.7&radius_km=0", "radius_km", "more than 0"),
        ("near=40.4,-3.7&radius_km=-5", "radius_km", "more than 0"),
        ("near=40.4,-3.7&radius_km=20001", "radius_km", "at most 20000"),
        ("near=40.4,-3.7&radius_km=nan", "radius_km", "more than 0"),
        ("near=91,0&radius_km=10", "near", "Latitude"),
        ("near=0,181&radius_km=10", "near", "Longitude"),
        ("near=abc&radius_km=10", "near", "latitude,longitude"),
        ("near=40,-3", "radius_km", "together"),
        ("radius_km=5", "near", "together"),
        ("bbox=50,0,40,10", "bbox", "south edge"),
        ("bbox=1,2,3", "bbox", "south,west,north,east"),
        ("bbox=-91,0,10,10", "bbox", "Latitude"),
        ("colour=red", "colour", "Unknown filter"),
        ("limit=101", "limit", "between 1 and 100"),
        ("limit=0", "limit", "between 1 and 100"),
        ("limit=ten", "limit", "whole number"),
        ("sort=relevance", "sort", "needs a search text"),
        ("sort=loudest", "sort", "one of"),
        ('q="unclosed', "q", "not closed"),
        ("sentiment=angry", "sentiment", "one of"),
        ("country=XX", "country", "Unknown country"),
        ("region=Madrid!", "region", "ES.29"),
        ("query_id=0", "query_id", "at least 1"),
        ("q=a&q=b", "q", "once"),
        ("min_followers=-1", "min_followers", "at least 0"),
    ],
)
def test_bad_parameters_name_the_field(query, field, message):
    with pytest.raises(search.SearchParamsError) as caught:
        search.params_from_query(QueryDict(query))
    assert caught.value.errors[0]["field"] == field
    assert message in caught.value.errors[0]["message"]


# --- Full text on the real index ----------------------------------------------------------


@pytest.mark.django_db
def test_full_text_in_three_languages_with_accents_prefix_phrase_and_exclusion():
    # given
    es = mk("¡El CAFÉ de Sevilla está riquísimo! Niño feliz", language="es")
    ru = mk("Отличный кофе в Москве, доставка быстрая", language="ru")
    en = mk("Cold brew at Northwind: the delivery was late", language="en")
    en2 = mk("Cold coffee, brew it again? northwind.com/refund", language="en")
    # then: accents fold both ways, case is ignored
    assert ids(q="cafe") == [es.pk]
    assert ids(q="café") == [es.pk]
    assert ids(q="RIQUISIMO nino") == [es.pk]
    # Cyrillic words, prefix of a Cyrillic word
    assert ids(q="кофе") == [ru.pk]
    assert ids(q="достав*") == [ru.pk]
    assert ids(q="Москве") == [ru.pk]
    # phrase vs words
    assert ids(q='"cold brew"') == [en.pk]
    assert set(ids(q="cold brew")) == {en.pk, en2.pk}
    # exclusion
    assert ids(q="cold -refund") == [en.pk]
    # punctuation splits words the same way on both backends ("northwind.com" → two words)
    assert set(ids(q="northwind")) == {en.pk, en2.pk}
    assert ids(q="northwind.com") == [en2.pk]
    # prefix
    assert set(ids(q="deliv*")) == {en.pk}
    assert ids(q="zzzz") == []


@pytest.mark.django_db
def test_operators_and_special_characters_are_plain_words():
    # given
    near = mk("We met NEAR the old harbour, and OR not")
    mk("Nothing to see")
    # then: no FTS5 / tsquery syntax error, the words are just words
    assert ids(q="NEAR harbour") == [near.pk]
    assert ids(q="harbour AND OR") == [near.pk]
    assert ids(q="(harbour") == [near.pk]
    assert ids(q="harbour' OR '1'='1") == []  # every word must be present
    assert ids(q="harbour*") == [near.pk]
    assert ids(q="😀 harbour") == [near.pk]


@pytest.mark.django_db
def test_right_to_left_text_is_searchable():
    he = mk("קפה נורת'ווינד מעולה", language="other")
    ar = mk("قهوة رائعة جدا", language="other")
    assert ids(q="קפה") == [he.pk]
    assert ids(q="قهوة") == [ar.pk]


@pytest.mark.django_db(transaction=True)
def test_the_index_follows_inserts_updates_and_deletes_of_the_pipeline():
    # given: a mention stored by the real pipeline (plain SQL INSERT, not the ORM)
    with transaction.atomic():
        process_mentions(
            [raw_mention(text="Brand new oat latte in Bilbao", external_id="fts-1")],
            state=PipelineState(),
        )
    stored = Mention.objects.get(external_id="fts-1")
    assert ids(q="oat latte") == [stored.pk]
    # when: the text changes
    Mention.objects.filter(pk=stored.pk).update(text="Flat white now")
    # then
    assert ids(q="latte") == []
    assert ids(q="flat white") == [stored.pk]
    # when: it is deleted
    Mention.objects.filter(pk=stored.pk).delete()
    # then
    assert ids(q="flat") == []
    if connection.vendor == "sqlite":
        with connection.cursor() as cur:
            cur.execute(
                "SELECT count(*) FROM listening_mention_fts "
                "WHERE listening_mention_fts MATCH 'flat'"
            )
            assert cur.fetchone()[0] == 0
            cur.execute(
                "SELECT name FROM sqlite_master "
                "WHERE type = 'trigger' AND name LIKE 'listening_mention_fts_%'"
            )
            assert {r[0] for r in cur.fetchall()} == {
                "listening_mention_fts_ai",
                "listening_mention_fts_ad",
                "listening_mention_fts_au",
            }


@pytest.mark.django_db
def test_full_text_looks_at_the_newest_window_of_matches(monkeypatch):
    # given: more matches than the window
    monkeypatch.setattr(search, "FTS_WINDOW", 3)
    made = [mk(f"espresso number {i}") for i in range(5)]
    # when
    page = search.search_page(search.params_validate({"q": "espresso"}))
    # then: the newest three (by id), and the page says the window was full
    assert [m.pk for m in page.items] == [m.pk for m in reversed(made[2:])]
    assert page.text_window_full


# --- Filters ---------------------------------------------------------------------------------


@pytest.mark.django_db
def test_enrichment_filters_and_multiple_values():
    # given
    neg = mk(sentiment="negative", language="es", platform="x", intent="support")
    pos = mk(sentiment="positive", language="ru", platform="vk", intent="purchase")
    neu = mk(sentiment="neutral", language="en", platform="bluesky")
    # then
    assert ids(sentiment=["negative"]) == [neg.pk]
    assert set(ids(sentiment="negative,positive")) == {neg.pk, pos.pk}
    assert ids(language=["ru"]) == [pos.pk]
    assert ids(platform=["bluesky"]) == [neu.pk]
    assert ids(intent=["support"]) == [neg.pk]
    assert set(ids(intent=["purchase", "none"])) == {pos.pk, neu.pk}
    assert ids(sentiment=["negative"], language=["ru"]) == []


@pytest.mark.django_db
def test_date_range_since_inclusive_until_exclusive_and_whole_days():
    a = mk(created_at=datetime(2026, 11, 1, 23, 59, tzinfo=UTC))
    b = mk(created_at=datetime(2026, 11, 2, 0, 0, tzinfo=UTC))
    c = mk(created_at=datetime(2026, 11, 3, 10, 0, tzinfo=UTC))
    assert ids(since="2026-11-02T00:00:00Z") == [c.pk, b.pk]
    assert ids(until="2026-11-02T00:00:00Z") == [a.pk]
    assert ids(since="2026-11-02", until="2026-11-02") == [b.pk]  # the whole of 2 November
    assert ids(since="2026-11-01T23:00:00") == [c.pk, b.pk, a.pk]  # no zone = UTC
    assert ids(created_after="2026-11-03") == [c.pk]  # the old parameter names still work


@pytest.mark.django_db
def test_query_and_kind_filters_and_irrelevant_feedback(make_user):
    # given
    brand = ListeningQuery.objects.create(name="Northwind", kind="brand", text="northwind")
    rival = ListeningQuery.objects.create(name="Aurora", kind="competitor", text="aurora")
    rival2 = ListeningQuery.objects.create(name="Harbor", kind="competitor", text="harbor")
    m1, m2, m3 = mk(), mk(), mk()
    for mention, query in [(m1, brand), (m2, rival), (m3, rival2), (m3, brand)]:
        MentionMatch.objects.create(mention=mention, query=query, created_at=mention.created_at)
    # then
    assert ids(query_id=brand.pk) == [m3.pk, m1.pk]
    assert ids(kind="competitor") == [m3.pk, m2.pk]
    assert ids(kind="topic") == []
    # when: m3 is marked irrelevant to the brand query
    mention_mark_irrelevant(mention=m3, query=brand, actor=make_user())
    # then: it leaves that query's results, and only that query's
    assert ids(query_id=brand.pk) == [m1.pk]
    assert ids(kind="brand") == [m1.pk]
    assert ids(query_id=rival2.pk) == [m3.pk]
    assert ids(kind="competitor") == [m3.pk, m2.pk]


@pytest.mark.django_db
def test_customer_segment_followers_source_and_tag_filters():
    # given
    olga = Customer.objects.create(name="Olga", country="RU")
    pablo = Customer.objects.create(name="Pablo", country="ES")
    Segment.objects.create(name="Spain", slug="spain", filters={"country": ["ES"]})
    m_olga = mk(customer=olga, author_followers=5)
    m_pablo = mk(customer=pablo, author_followers=50_000)
    m_none = mk(author_followers=None)
    mention_tag_add(mention=m_none, tag="Press ")
    # then
    assert ids(customer_id=olga.pk) == [m_olga.pk]
    assert ids(segment="spain") == [m_pablo.pk]
    assert ids(min_followers=1000) == [m_pablo.pk]
    assert set(ids(min_followers=0)) == {m_olga.pk, m_pablo.pk}
    assert ids(tag="press") == [m_none.pk]
    assert ids(tag="other") == []
    with pytest.raises(search.SearchParamsError, match="No segment"):
        find(segment="nope")


@pytest.mark.django_db
def test_country_region_and_city():
    es = mk(country="ES", region="ES.29", city="Madrid")
    ru = mk(country="RU", region="RU.48", city="Moscow")
    mk()
    assert ids(country=["ES"]) == [es.pk]
    assert set(ids(country="es,ru")) == {es.pk, ru.pk}
    assert ids(region="RU.48") == [ru.pk]
    assert ids(city="Madrid") == [es.pk]


@pytest.mark.django_db
def test_radius_around_known_cities():
    # given
    madrid = mk(lat=MADRID[0], lon=MADRID[1])
    toledo = mk(lat=TOLEDO[0], lon=TOLEDO[1])
    barcelona = mk(lat=BARCELONA[0], lon=BARCELONA[1])
    moscow = mk(lat=MOSCOW[0], lon=MOSCOW[1])
    mk()  # no coordinates
    near = f"{MADRID[0]},{MADRID[1]}"
    # then: Toledo is ~67 km away, Barcelona ~505 km, Moscow ~3,440 km
    assert ids(near=near, radius_km=10) == [madrid.pk]
    assert set(ids(near=near, radius_km=60)) == {madrid.pk}
    assert set(ids(near=near, radius_km=70)) == {madrid.pk, toledo.pk}
    assert set(ids(near=near, radius_km=500)) == {madrid.pk, toledo.pk}
    assert set(ids(near=near, radius_km=510)) == {madrid.pk, toledo.pk, barcelona.pk}
    assert set(ids(near=near, radius_km=3500)) == {madrid.pk, toledo.pk, barcelona.pk, moscow.pk}
    assert len(ids(near=near, radius_km=20000)) == 4


@pytest.mark.django_db
def test_radius_and_box_across_the_antimeridian_and_near_a_pole():
    suva = mk(lat=SUVA[0], lon=SUVA[1])
    apia = mk(lat=APIA[0], lon=APIA[1])  # ~1,150 km from Suva, on the other side of 180°
    pole = mk(lat=89.9, lon=10.0)
    other_side = mk(lat=89.9, lon=-170.0)  # ~22 km from the first, across the pole
    assert set(ids(near=f"{SUVA[0]},{SUVA[1]}", radius_km=1200)) == {suva.pk, apia.pk}
    assert set(ids(near=f"{SUVA[0]},{SUVA[1]}", radius_km=1000)) == {suva.pk}
    assert set(ids(near="89.9,10", radius_km=30)) == {pole.pk, other_side.pk}
    # a box whose west edge is east of its east edge wraps around 180°
    assert set(ids(bbox="-20,175,-10,-170")) == {suva.pk, apia.pk}
    assert set(ids(bbox="-20,-170,-10,175")) == set()
    assert set(ids(bbox="-20,170,-10,179")) == {suva.pk}


@pytest.mark.django_db
def test_box_in_europe():
    madrid = mk(lat=MADRID[0], lon=MADRID[1])
    mk(lat=MOSCOW[0], lon=MOSCOW[1])
    assert ids(bbox="36.0,-9.5,43.8,3.3") == [madrid.pk]


# --- Sorting and pages -----------------------------------------------------------------------


@pytest.mark.django_db
def test_sort_by_time_reach_and_relevance():
    # given
    old_big = mk("espresso tonic today", created_at=T0, author_followers=90_000)
    new_small = mk("espresso espresso espresso tonic", created_at=T0 + timedelta(hours=2))
    unknown = mk(
        "an espresso, somewhere in a long text about many other things",
        created_at=T0 + timedelta(hours=1),
        author_followers=None,
    )
    # then
    assert ids() == [new_small.pk, unknown.pk, old_big.pk]
    assert ids(sort="reach") == [old_big.pk, new_small.pk, unknown.pk]  # unknown reach last
    ranked = search.relevance_ranked(search.params_validate({"q": "espresso", "sort": "relevance"}))
    assert ranked[0].pk == new_small.pk and ranked[-1].pk == unknown.pk
    assert ranked[0].rank >= ranked[1].rank >= ranked[2].rank


@pytest.mark.django_db
@pytest.mark.parametrize("sort", ["time", "reach", "relevance"])
def test_cursor_pages_walk_every_match_once(sort):
    # given: ties on the sort key (same time, same followers) so the id tie-break matters
    for i in range(11):
        mk(
            "latte art",
            created_at=T0 + timedelta(minutes=i // 3),
            author_followers=[None, 5, 7][i % 3],
        )
    params = search.params_validate({"q": "latte", "sort": sort})
    expected = [m.pk for m in search.search_page(params, limit=100).items]
    # when
    seen, cursor = [], None
    for _ in range(10):
        page = search.search_page(params, cursor=cursor, limit=4)
        seen += [m.pk for m in page.items]
        cursor = page.next_cursor
        if cursor is None:
            break
    # then
    assert seen == expected and len(seen) == 11


@pytest.mark.django_db
def test_counts_stop_at_the_cap(monkeypatch):
    monkeypatch.setattr(search, "COUNT_CAP", 3)
    for _ in range(5):
        mk()
    page = search.search_page(search.params_validate({}), limit=2)
    assert page.count == 3 and page.count_capped and page.count_label == "3+"
    exact = search.search_page(search.params_validate({"sentiment": ["neutral"]}), limit=10)
    assert len(exact.items) == 5 and exact.next_cursor is None


@pytest.mark.django_db
def test_a_cursor_for_another_sort_or_a_forged_one_is_refused():
    mk()
    mk()
    page = search.search_page(search.params_validate({}), limit=1)
    with pytest.raises(search.SearchParamsError, match="another sort"):
        search.search_page(search.params_validate({"sort": "reach"}), cursor=page.next_cursor)
    for bad in ["nonsense", "eyJzIjoidGltZSJ9", "x" * 300]:
        with pytest.raises(search.SearchParamsError, match="not valid"):
            search.search_page(search.params_validate({}), cursor=bad)


@pytest.mark.django_db
def test_live_rows_after_an_id_keep_the_filters():
    first = mk(sentiment="negative")
    newer_neg = mk(sentiment="negative")
    mk(sentiment="positive")
    params = search.params_validate({"sentiment": ["negative"]})
    assert [m.pk for m in search.search_queryset(params, after_id=first.pk)] == [newer_neg.pk]


@pytest.mark.django_db
@pytest.mark.parametrize("sort", ["time", "reach"])
def test_sparse_matches_beyond_the_probe_are_still_found_in_order(monkeypatch, sort):
    # given: the probe looks at the newest 4 mentions only; the matches are older than that
    monkeypatch.setattr(search, "PROBE_ROWS", 4)
    brand = ListeningQuery.objects.create(name="Brand", kind="brand", text="brand")
    old = [
        mk(sentiment="negative", created_at=T0 + timedelta(minutes=i), author_followers=100 + i)
        for i in range(3)
    ]
    for m in old:
        MentionMatch.objects.create(mention=m, query=brand, created_at=m.created_at)
    newer = [
        mk(created_at=T0 + timedelta(hours=1, minutes=i), author_followers=5) for i in range(8)
    ]
    expected = list(reversed([m.pk for m in old]))  # newest first; by reach the same here
    for data in ({"sentiment": ["negative"]}, {"query_id": brand.pk}, {"min_followers": 100}):
        params = search.params_validate({**data, "sort": sort})
        # when: one page, and page by page
        whole = search.search_page(params)
        seen, cursor = [], None
        while True:
            page = search.search_page(params, cursor=cursor, limit=1)
            seen += [m.pk for m in page.items]
            cursor = page.next_cursor
            if cursor is None:
                break
        # then
        assert [m.pk for m in whole.items] == expected, data
        assert whole.count == 3 and not whole.count_capped
        assert seen == expected
    # dense matches are answered by the probe alone, the count is then a lower bound
    dense = search.search_page(search.params_validate({"sentiment": ["neutral"], "sort": sort}))
    assert {m.pk for m in dense.items} == {m.pk for m in newer}
    first = search.search_page(search.params_validate({"sort": sort}), limit=2)
    assert first.count_capped and first.count >= 2


@pytest.mark.django_db
def test_live_rows_move_past_what_they_looked_at(monkeypatch):
    # given
    monkeypatch.setattr(search, "LIVE_SCAN", 3)
    start = mk(sentiment="negative")
    others = [mk(sentiment="positive") for _ in range(2)]
    neg = mk(sentiment="negative")
    params = search.params_validate({"sentiment": ["negative"]})
    # when
    rows, newest = search.live_rows(params, after=start.pk, limit=50)
    nothing, same = search.live_rows(params, after=newest, limit=50)
    # then: the match, and the cursor past every new row (matching or not)
    assert [m.pk for m in rows] == [neg.pk] and newest == neg.pk
    assert nothing == [] and same == newest
    quiet, moved = search.live_rows(
        search.params_validate({"sentiment": ["neutral"]}), after=start.pk, limit=50
    )
    assert quiet == [] and moved == neg.pk > others[-1].pk
