"""Listening insight: barometer, share of voice, competitor watch and platform focus, computed
from rollups built by the real pipeline; exact numbers, and clear 4xx answers to bad input."""

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest
from django.db import transaction
from django.utils import timezone

from apiary.accounts.models import Role
from apiary.customers.models import Customer, SocialIdentity
from apiary.listening.consumer import PipelineState, process_mentions
from apiary.listening.models import ListeningQuery, Mention
from apiary.listening.services.queries import query_create, query_update

from .factories import raw_mention

pytestmark = pytest.mark.django_db

BASE = "/api/v1/listening"
T0 = datetime(2026, 3, 2, tzinfo=UTC)  # a Monday
POS = "I love {} coffee, wonderful espresso"
NEG = "{} coffee is awful, terrible service"
NEU = "{} coffee opens a new shop on Monday"


def store(*raws):
    with transaction.atomic():
        return process_mentions(list(raws), state=PipelineState())


def post(template, name, at, *, location="Madrid, España", **changes):
    return raw_mention(
        text=template.format(name),
        created_at=at,
        received_at=at + timedelta(seconds=5),
        author_location=location,
        **changes,
    )


def day(n, hour=12):
    return T0 + timedelta(days=n, hours=hour)


def iso(t):
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.fixture
def queries(db):
    return SimpleNamespace(
        brand=query_create(name="Northwind", kind="brand", text="northwind"),
        harbor=query_create(name="Blue Harbor", kind="competitor", text='"blue harbor"'),
        aurora=query_create(name="Aurora", kind="competitor", text="aurora"),
        topic=query_create(name="Espresso", kind="topic", text="espresso"),
    )


@pytest.fixture
def client(api, make_user):
    return api(make_user(Role.ANALYST))


def get(client, path, **params):
    return client.get(f"{BASE}{path}", data=params)


# --- Sentiment barometer -------------------------------------------------------------------


def test_the_pipeline_classifies_the_test_texts_as_intended(queries):
    # given / when
    store(post(POS, "Northwind", day(0)), post(NEG, "Northwind", day(0)))
    store(post(NEU, "Northwind", day(0)))
    # then: every number below rests on these
    assert sorted(Mention.objects.values_list("sentiment", "language", "country")) == [
        ("negative", "en", "ES"),
        ("neutral", "en", "ES"),
        ("positive", "en", "ES"),
    ]


def test_barometer_by_day_counts_sentiment_and_fills_empty_days(client, queries):
    # given
    store(
        post(POS, "Northwind", day(0, 9)),
        post(POS, "Northwind", day(0, 9)),
        post(NEG, "Northwind", day(0, 10)),
        post(NEU, "Blue Harbor", day(1)),
        post(NEU, "Northwind", day(2)),
    )
    # when
    res = get(client, "/barometer", query_id=queries.brand.pk, start="2026-03-02", end="2026-03-05")
    everything = get(client, "/barometer", start="2026-03-02", end="2026-03-05")
    # then
    assert res.status_code == 200, res.json()
    body = res.json()
    assert body["query"] == {"id": queries.brand.pk, "name": "Northwind", "kind": "brand"}
    assert (body["start"], body["end"], body["interval"]) == (
        "2026-03-02T00:00:00Z",
        "2026-03-05T00:00:00Z",
        "day",
    )
    buckets = body["buckets"]
    assert [b["start"] for b in buckets] == [
        "2026-03-02T00:00:00Z",
        "2026-03-03T00:00:00Z",
        "2026-03-04T00:00:00Z",
    ]
    assert [(b["volume"], b["positive"], b["neutral"], b["negative"]) for b in buckets] == [
        (3, 2, 0, 1),
        (0, 0, 0, 0),
        (1, 0, 1, 0),
    ]
    assert buckets[0]["net_sentiment"] == pytest.approx(1 / 3)
    assert buckets[1]["net_sentiment"] is None
    assert buckets[2]["net_sentiment"] == 0.0
    assert body["totals"] == {
        "volume": 4,
        "positive": 2,
        "neutral": 1,
        "negative": 1,
        "net_sentiment": 0.25,
    }
    assert body["spikes"] == [] and body["baseline"] is None  # 3 buckets: too few for one
    assert [b["volume"] for b in everything.json()["buckets"]] == [3, 1, 1]
    assert everything.json()["query"] is None


def test_barometer_by_hour_widens_the_window_to_whole_hours(client, queries):
    # given
    store(
        post(POS, "Northwind", day(0, 9) + timedelta(minutes=10)),
        post(NEG, "Northwind", day(0, 9) + timedelta(minutes=50)),
        post(NEG, "Northwind", day(0, 11)),
    )
    # when
    res = get(
        client,
        "/barometer",
        query_id=queries.brand.pk,
        interval="hour",
        start="2026-03-02T08:30:00",
        end="2026-03-02T10:15:00+00:00",
    )
    # then
    body = res.json()
    assert (body["start"], body["end"]) == ("2026-03-02T08:00:00Z", "2026-03-02T11:00:00Z")
    assert [(b["start"][11:16], b["volume"], b["negative"]) for b in body["buckets"]] == [
        ("08:00", 0, 0),
        ("09:00", 2, 1),
        ("10:00", 0, 0),
    ]


def test_barometer_by_week_starts_on_monday_and_counts_only_the_window(client, queries):
    # given: Monday 2 March, Wednesday 4 March, Tuesday 10 March
    store(
        post(NEG, "Northwind", day(0)),
        post(POS, "Northwind", day(2)),
        post(POS, "Northwind", day(8)),
    )
    # when: from Wednesday
    res = get(
        client,
        "/barometer",
        query_id=queries.brand.pk,
        interval="week",
        start="2026-03-04",
        end="2026-03-12",
    )
    # then
    buckets = res.json()["buckets"]
    assert [(b["start"], b["volume"], b["positive"]) for b in buckets] == [
        ("2026-03-02T00:00:00Z", 1, 1),
        ("2026-03-09T00:00:00Z", 1, 1),
    ]


def test_barometer_filters_by_country_platform_and_language(client, queries):
    # given
    store(
        post(POS, "Northwind", day(0), location="Москва", platform="vk"),
        post(NEG, "Northwind", day(0), location="Москва", platform="telegram"),
        post(POS, "Northwind", day(0), location="Sevilla", platform="vk"),
    )
    common = {"query_id": queries.brand.pk, "start": "2026-03-02", "end": "2026-03-03"}
    # when
    ru = get(client, "/barometer", country="ru", **common).json()
    vk = get(client, "/barometer", platform="vk", **common).json()
    es_lang = get(client, "/barometer", language="es", **common).json()
    # then
    assert (ru["totals"]["volume"], ru["totals"]["negative"]) == (2, 1)
    assert ru["filters"] == {"platform": None, "country": "RU", "language": None}
    assert (vk["totals"]["volume"], vk["totals"]["positive"]) == (2, 2)
    assert es_lang["totals"]["volume"] == 0


def _negative_burst(name, *, days=10, burst_day=6, burst=8, small_day=3, small=3):
    """One negative post a day, ``burst`` on ``burst_day`` and ``small`` on ``small_day``."""
    raws = []
    for d in range(days):
        n = burst if d == burst_day else small if d == small_day else 1
        for i in range(n):
            raws.append(post(NEG, name, day(d) + timedelta(minutes=i), author_followers=10 * i))
    return raws


def test_a_planted_negative_burst_is_a_spike_and_a_smaller_bump_is_not(client, queries):
    # given
    store(*_negative_burst("Northwind"), post(POS, "Northwind", day(6)))
    # when
    res = get(client, "/barometer", query_id=queries.brand.pk, start="2026-03-02", end="2026-03-12")
    # then
    body = res.json()
    assert [b["negative"] for b in body["buckets"]] == [1, 1, 1, 3, 1, 1, 8, 1, 1, 1]
    assert body["baseline"] == {"median": 1.0, "mad": 0.0, "threshold": 4.0}
    assert body["spikes"] == [
        {
            "start": "2026-03-08T00:00:00Z",
            "end": "2026-03-09T00:00:00Z",
            "negative": 8,
            "volume": 9,
            "score": 7.0,
        }
    ]
    assert body["spike_rule"]["k"] == 3.0 and body["spike_rule"]["min_negative"] == 5


def test_barometer_compares_two_periods(client, queries):
    # given: last week 1 positive and 1 neutral; this week 2 positive and 2 negative
    store(
        post(POS, "Northwind", day(1)),
        post(NEU, "Northwind", day(3)),
        post(POS, "Northwind", day(7)),
        post(POS, "Northwind", day(8)),
        post(NEG, "Northwind", day(9)),
        post(NEG, "Northwind", day(10)),
    )
    # when
    res = get(
        client,
        "/barometer",
        query_id=queries.brand.pk,
        start="2026-03-09",
        end="2026-03-16",
        compare_start="2026-03-02",
        compare_end="2026-03-09",
    )
    # then
    body = res.json()
    assert body["totals"]["volume"] == 4 and body["totals"]["net_sentiment"] == 0.0
    compare = body["compare"]
    assert (compare["start"], compare["end"]) == ("2026-03-02T00:00:00Z", "2026-03-09T00:00:00Z")
    assert compare["totals"] == {
        "volume": 2,
        "positive": 1,
        "neutral": 1,
        "negative": 0,
        "net_sentiment": 0.5,
    }
    assert compare["delta"] == {
        "volume": 2,
        "positive": 1,
        "neutral": -1,
        "negative": 2,
        "net_sentiment": -0.5,
    }
    assert compare["volume_change"] == 1.0


# --- Share of voice ------------------------------------------------------------------------


@pytest.fixture
def voices(queries):
    store(
        *[
            post(POS, "Northwind", day(0), platform="bluesky", author_followers=100)
            for _ in range(4)
        ],
        *[
            post(NEG, "Northwind", day(0), platform="x", location="Москва", author_followers=50)
            for _ in range(2)
        ],
        post(POS, "Blue Harbor", day(0), platform="bluesky", author_followers=1000),
        *[
            post(NEU, "Blue Harbor", day(0), platform="x", location="Москва", author_followers=0)
            for _ in range(2)
        ],
        post(NEG, "Aurora", day(1), platform="mastodon", location="London", author_followers=500),
    )
    return queries


def _shares(body):
    return {q["name"]: (q["value"], q["share"]) for q in body["queries"]}


def test_share_of_voice_by_volume_positive_and_reach(client, voices):
    # given
    window = {"start": "2026-03-02", "end": "2026-03-04"}
    # when
    volume = get(client, "/share-of-voice", **window).json()
    positive = get(client, "/share-of-voice", by="positive", **window).json()
    reach = get(client, "/share-of-voice", by="reach", **window).json()
    # then: brand first, topics left out
    assert [q["name"] for q in volume["queries"]] == ["Northwind", "Aurora", "Blue Harbor"]
    assert volume["total"] == 10
    assert _shares(volume) == {
        "Northwind": (6, 0.6),
        "Aurora": (1, 0.1),
        "Blue Harbor": (3, 0.3),
    }
    assert _shares(positive) == {
        "Northwind": (4, 0.8),
        "Aurora": (0, 0.0),
        "Blue Harbor": (1, 0.2),
    }
    assert _shares(reach) == {
        "Northwind": (500, 0.25),
        "Aurora": (500, 0.25),
        "Blue Harbor": (1000, 0.5),
    }
    for body in (volume, positive, reach):
        assert sum(q["share"] for q in body["queries"]) == pytest.approx(1.0)


def test_share_of_voice_over_time_and_by_platform_and_country(client, voices):
    # given
    ids = [voices.brand.pk, voices.aurora.pk, voices.harbor.pk]
    # when
    body = get(client, "/share-of-voice", start="2026-03-02", end="2026-03-04").json()
    # then
    assert [(b["start"], b["total"]) for b in body["over_time"]] == [
        ("2026-03-02T00:00:00Z", 9),
        ("2026-03-03T00:00:00Z", 1),
    ]
    assert [v["query_id"] for v in body["over_time"][0]["values"]] == ids
    assert [v["value"] for v in body["over_time"][0]["values"]] == [6, 0, 3]
    assert [v["share"] for v in body["over_time"][1]["values"]] == [0.0, 1.0, 0.0]
    assert [(p["platform"], p["total"]) for p in body["by_platform"]] == [
        ("bluesky", 5),
        ("x", 4),
        ("mastodon", 1),
    ]
    assert [v["value"] for v in body["by_platform"][1]["values"]] == [2, 0, 2]
    assert [(c["country"], c["total"]) for c in body["by_country"]] == [
        ("ES", 5),
        ("RU", 4),
        ("GB", 1),
    ]
    for row in body["over_time"] + body["by_platform"] + body["by_country"]:
        assert sum(v["share"] for v in row["values"]) == pytest.approx(1.0)


def test_share_of_voice_filters_and_leaves_out_inactive_queries(client, voices):
    # given
    query_update(query=voices.aurora, active=False)
    # when
    on_x = get(client, "/share-of-voice", start="2026-03-02", end="2026-03-04", platform="x")
    # then
    assert _shares(on_x.json()) == {"Northwind": (2, 0.5), "Blue Harbor": (2, 0.5)}
    empty = get(client, "/share-of-voice", start="2026-04-01", end="2026-04-02").json()
    assert empty["total"] == 0 and all(q["share"] is None for q in empty["queries"])


# --- Competitor watch ----------------------------------------------------------------------


def test_competitor_watch_numbers_top_posts_and_negative_moments(client, queries):
    # given
    store(
        *_negative_burst("Blue Harbor"),
        post(POS, "Blue Harbor", day(1), author_followers=5000, author_handle="star"),
        post(NEU, "Blue Harbor", day(2), author_followers=None, author_handle="nobody"),
        post(POS, "Blue Harbor", day(4), platform="x", author_followers=300, author_handle="mid"),
        post(POS, "Northwind", day(1), author_followers=90000),
    )
    # when
    res = get(
        client,
        f"/competitors/{queries.harbor.pk}",
        start="2026-03-02",
        end="2026-03-12",
        top=3,
    )
    # then
    assert res.status_code == 200, res.json()
    body = res.json()
    assert body["query"]["name"] == "Blue Harbor"
    assert body["totals"]["volume"] == 22 and body["totals"]["negative"] == 19
    assert body["totals"]["positive"] == 2 and body["totals"]["neutral"] == 1
    assert body["sentiment_mix"]["negative"] == pytest.approx(19 / 22)
    assert (body["by_platform"][0]["platform"], body["by_platform"][0]["volume"]) == ("bluesky", 21)
    assert (body["by_platform"][1]["platform"], body["by_platform"][1]["volume"]) == ("x", 1)
    assert [p["author_handle"] for p in body["top_posts"][:2]] == ["star", "mid"]
    assert [p["author_followers"] for p in body["top_posts"]] == [5000, 300, 70]
    moments = body["negative_moments"]
    assert [(m["start"], m["negative"], m["score"]) for m in moments] == [
        ("2026-03-08T00:00:00Z", 8, 7.0)
    ]
    assert [p["author_followers"] for p in moments[0]["posts"]] == [70, 60, 50]
    assert all(p["sentiment"] == "negative" for p in moments[0]["posts"])


def test_competitor_watch_of_a_brand_works_and_a_topic_is_refused(client, queries):
    # when
    brand = get(client, f"/competitors/{queries.brand.pk}", start="2026-03-02", end="2026-03-03")
    topic = get(client, f"/competitors/{queries.topic.pk}", start="2026-03-02", end="2026-03-03")
    # then
    assert brand.status_code == 200
    assert brand.json()["totals"]["volume"] == 0 and brand.json()["top_posts"] == []
    assert topic.status_code == 422 and topic.json()["code"] == "wrong_query_kind"
    assert "topic" in topic.json()["detail"]


# --- Platform focus ------------------------------------------------------------------------


def _customer(platform, handle):
    customer = Customer.objects.create(email=f"{handle}@example.com", name=handle)
    SocialIdentity.objects.create(customer=customer, platform=platform, handle=handle)
    return customer


def test_platform_focus_ranks_networks_by_customers_and_recommends_two(client, queries):
    # given: four customers on instagram, x and bluesky, one on facebook who later withdraws
    for platform, handle in [
        ("instagram", "ana_ig"),
        ("instagram", "bea_ig"),
        ("x", "carl_x"),
        ("bluesky", "dan.bsky.social"),
        ("facebook", "eve.fb"),
    ]:
        _customer(platform, handle)

    def by(platform, handle, template=POS):
        return post(template, "Northwind", day(0), platform=platform, author_handle=handle)

    store(
        *[by("instagram", "ana_ig") for _ in range(3)],
        raw_mention(
            text="Morning coffee with friends",
            platform="instagram",
            author_handle="ana_ig",
            created_at=day(0),
        ),
        by("instagram", "bea_ig"),
        *[by("x", "carl_x") for _ in range(3)],
        by("bluesky", "dan.bsky.social"),
        *[by("bluesky", f"stranger{i}.bsky.social") for i in range(5)],
        by("x", "someone_else"),
        *[by("facebook", "eve.fb") for _ in range(2)],
    )
    assert Mention.objects.filter(platform="facebook", customer__isnull=False).count() == 2
    SocialIdentity.objects.filter(handle="eve.fb").update(withdrawn_at=timezone.now())
    # when
    res = get(client, "/platform-focus", start="2026-03-02", end="2026-03-03")
    # then
    assert res.status_code == 200, res.json()
    body = res.json()
    assert (body["brand_mentions"], body["customer_mentions"]) == (16, 9)
    rows = [
        (r["rank"], r["platform"], r["customer_mentions"], r["customers"], r["brand_mentions"])
        for r in body["platforms"]
    ]
    assert rows == [
        (1, "instagram", 5, 2, 4),
        (2, "x", 3, 1, 4),
        (3, "bluesky", 1, 1, 6),
        (4, "facebook", 0, 0, 2),
    ]
    assert body["platforms"][0]["customer_share"] == pytest.approx(5 / 9)
    assert body["platforms"][2]["brand_share"] == pytest.approx(6 / 16)
    rec = body["recommendation"]
    assert rec["basis"] == "customers" and rec["platforms"] == ["instagram", "x"]
    assert rec["customer_share"] == pytest.approx(8 / 9)
    assert rec["brand_share"] == pytest.approx(0.5)
    assert rec["text"] == (
        "Focus on instagram and x: 89% of known customers' mentions and 50% of brand mentions."
    )


def test_platform_focus_recommends_a_third_network_below_the_coverage_target(client, queries):
    # given: customers' mentions spread 4 / 3 / 3 over three networks
    for platform, handle, n in [("vk", "ivan", 4), ("telegram", "olga", 3), ("x", "max_x", 3)]:
        _customer(platform, handle)
        store(
            *[
                post(NEU, "Northwind", day(0), platform=platform, author_handle=handle)
                for _ in range(n)
            ]
        )
    # when
    body = get(client, "/platform-focus", start="2026-03-02", end="2026-03-03").json()
    # then: 4/10 + 3/10 = 70% < 80%, so a third network is named
    assert body["recommendation"]["platforms"] == ["vk", "telegram", "x"]
    assert body["recommendation"]["customer_share"] == pytest.approx(1.0)


def test_platform_focus_counts_a_mention_matching_two_brand_queries_once(client, queries):
    # given
    second = query_create(name="Northwind coffee", kind="brand", text='"northwind coffee"')
    store(post(POS, "Northwind", day(0)), post(POS, "Northwind", day(0), platform="x"))
    # when
    both = get(client, "/platform-focus", start="2026-03-02", end="2026-03-03").json()
    one = get(
        client, "/platform-focus", start="2026-03-02", end="2026-03-03", query_id=second.pk
    ).json()
    # then
    assert both["brand_mentions"] == 2 and one["brand_mentions"] == 2
    assert sorted(both["brand_query_ids"]) == sorted([queries.brand.pk, second.pk])
    assert both["recommendation"]["basis"] == "brand"
    assert both["recommendation"]["platforms"] == ["bluesky", "x"]


# --- Bad input -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path, params, status, code",
    [
        ("/barometer", {"start": "2026-13-45"}, 422, "validation_error"),
        ("/barometer", {"start": "yesterday"}, 422, "validation_error"),
        ("/barometer", {"start": "2026-03-05", "end": "2026-03-01"}, 422, "invalid_range"),
        ("/barometer", {"start": "2026-03-05", "end": "2026-03-05"}, 422, "invalid_range"),
        ("/barometer", {"start": "1990-01-01", "end": "2026-01-01"}, 422, "out_of_range"),
        ("/barometer", {"end": "9999-12-31T23:59:59"}, 422, "out_of_range"),
        ("/barometer", {"end": "0001-01-02T00:00:00"}, 422, "out_of_range"),
        ("/barometer", {"start": "0001-01-01T00:00:00+05:00"}, 422, "out_of_range"),
        ("/barometer", {"end": "9999-12-31T23:00:00-05:00"}, 422, "out_of_range"),
        (
            "/barometer",
            {"interval": "hour", "start": "2024-01-01", "end": "2026-01-01"},
            422,
            "too_many_buckets",
        ),
        ("/barometer", {"interval": "minute"}, 422, "validation_error"),
        ("/barometer", {"query_id": "999999"}, 404, "not_found"),
        ("/barometer", {"query_id": "-1"}, 422, "validation_error"),
        ("/barometer", {"query_id": "abc"}, 422, "validation_error"),
        ("/barometer", {"colour": "red"}, 422, "unknown_filter"),
        ("/barometer", {"country": "Spain"}, 422, "invalid_country"),
        ("/barometer", {"country": "1'"}, 422, "invalid_country"),
        ("/barometer", {"platform": "myspace"}, 422, "validation_error"),
        ("/barometer", {"language": "fr"}, 422, "validation_error"),
        ("/barometer", {"compare_start": "2026-03-01"}, 422, "invalid_range"),
        (
            "/barometer",
            {"compare_start": "2026-03-09", "compare_end": "2026-03-02"},
            422,
            "invalid_range",
        ),
        ("/share-of-voice", {"by": "likes"}, 422, "validation_error"),
        ("/share-of-voice", {"query_id": "1"}, 422, "unknown_filter"),
        (
            "/share-of-voice",
            {"interval": "hour", "start": "2020-01-01", "end": "2026-01-01"},
            422,
            "too_many_buckets",
        ),
        ("/competitors/999999", {}, 404, "not_found"),
        ("/competitors/99999999999999999999999", {}, 404, "not_found"),
        ("/barometer", {"query_id": "99999999999999999999999"}, 404, "not_found"),
        ("/platform-focus", {"query_id": "99999999999999999999999"}, 404, "not_found"),
        ("/competitors/abc", {}, 422, "validation_error"),
        ("/competitors/{brand}", {"top": "500"}, 422, "validation_error"),
        ("/competitors/{brand}", {"sentiment": "negative"}, 422, "unknown_filter"),
        ("/competitors/{topic}", {}, 422, "wrong_query_kind"),
        ("/platform-focus", {"query_id": "{harbor}"}, 422, "wrong_query_kind"),
        ("/platform-focus", {"query_id": "999999"}, 404, "not_found"),
        ("/platform-focus", {"platform": "x"}, 422, "unknown_filter"),
        ("/platform-focus", {"start": "2026-03-02T00:00:00+25:00"}, 422, "validation_error"),
    ],
)
def test_bad_input_is_a_clear_4xx(client, queries, path, params, status, code):
    # given
    ids = {"brand": queries.brand.pk, "topic": queries.topic.pk, "harbor": queries.harbor.pk}
    path = path.format(**ids)
    params = {k: v.format(**ids) for k, v in params.items()}
    # when
    res = get(client, path, **params)
    # then
    assert res.status_code == status, res.json()
    assert res.json()["code"] == code
    assert res.json()["detail"]


def test_too_many_buckets_says_how_many_and_what_to_do(client, queries):
    # when
    res = get(client, "/barometer", interval="hour", start="2024-01-01", end="2026-01-01")
    # then
    assert res.json()["detail"] == (
        "This range holds 17,544 hour buckets; at most 5,000 are allowed. "
        "Choose a shorter range or a longer interval."
    )


@pytest.mark.parametrize(
    "path", ["/barometer", "/share-of-voice", "/competitors/1", "/platform-focus"]
)
def test_insight_needs_the_listening_view_permission(api, member, path):
    # when
    anonymous = api().get(f"{BASE}{path}")
    denied = api(member).get(f"{BASE}{path}")
    # then
    assert anonymous.status_code == 401
    assert denied.status_code == 403 and denied.json()["code"] == "permission_denied"


def test_defaults_are_the_last_30_days_by_day(client, queries):
    # given
    store(post(POS, "Northwind", timezone.now() - timedelta(days=2)))
    # when
    body = get(client, "/barometer", query_id=queries.brand.pk).json()
    # then
    start = datetime.fromisoformat(body["start"])
    end = datetime.fromisoformat(body["end"])
    assert end - start == timedelta(days=30)
    assert len(body["buckets"]) in (30, 31)
    assert body["totals"]["volume"] == 1


# --- The demo ------------------------------------------------------------------------------


def test_demo_brand_barometer_matches_the_stored_mentions_day_by_day(demo, client):
    # given: the session's demo
    from django.db.models import Count
    from django.db.models.functions import TruncDay

    from apiary.demo.steps.listening import MARKER_NAME
    from apiary.listening.models import MentionMatch

    brand = ListeningQuery.objects.get(name=MARKER_NAME)
    # when
    body = get(client, "/barometer", query_id=brand.pk, interval="day").json()
    sov = get(client, "/share-of-voice").json()
    focus = get(client, "/platform-focus").json()
    watch = get(client, f"/competitors/{sov['queries'][1]['query_id']}").json()
    # then: the rollup-based series equals a count of the match rows, day by day
    start = datetime.fromisoformat(body["start"])
    per_day = dict(
        MentionMatch.objects.filter(query=brand, created_at__gte=start)
        .annotate(d=TruncDay("created_at", tzinfo=UTC))
        .values("d")
        .annotate(n=Count("pk"))
        .values_list("d", "n")
    )
    assert len(body["buckets"]) in (30, 31)
    assert {
        datetime.fromisoformat(b["start"]): b["volume"] for b in body["buckets"] if b["volume"]
    } == per_day
    assert body["spikes"]  # the demo plants negative stories
    assert sov["total"] > 0 and sum(q["share"] for q in sov["queries"]) == pytest.approx(1.0)
    assert watch["totals"]["volume"] > 0 and watch["top_posts"]
    assert 2 <= len(focus["recommendation"]["platforms"]) <= 3
    busy = [b for b in body["buckets"] if b["volume"] > 0]
    assert len(busy) in (30, 31)
