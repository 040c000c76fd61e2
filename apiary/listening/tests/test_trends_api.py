"""Trending API and page: the numbers of ``trends``, 4xx for bad input, the page and its CSV."""

from datetime import UTC, timedelta

import pytest
from django.db import transaction
from django.utils import timezone

from apiary.accounts.models import Role
from apiary.listening import trends
from apiary.listening.consumer import PipelineState, process_mentions
from apiary.listening.services.queries import query_create

from .factories import raw_mention

pytestmark = pytest.mark.django_db

BASE = "/api/v1/listening"


def _midnight(days: int):
    base = timezone.now().astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return base + timedelta(days=days)


def iso(t):
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.fixture
def data(db):
    q = query_create(name="Northwind", kind="brand", text="northwind")
    raws = []
    for d in range(-10, -2):
        t = _midnight(d) + timedelta(hours=10)
        raws += [raw_mention(text="Northwind coffee every morning", created_at=t) for _ in range(2)]
    t = _midnight(-2) + timedelta(hours=10)
    raws += [
        raw_mention(text="Northwind =cmd| outage #NorthwindDown @ops.example", created_at=t)
        for _ in range(6)
    ]
    raws += [raw_mention(text="Northwind coffee every morning", created_at=t) for _ in range(2)]
    with transaction.atomic():
        process_mentions(raws, state=PipelineState())
    trends.terms_rollup_run(settle_seconds=0)
    trends.topics_cluster(query_id=q.pk, days=7)
    return q


@pytest.fixture
def client(api, make_user):
    return api(make_user(Role.ANALYST))


def window():
    return {"start": iso(_midnight(-2)), "end": iso(_midnight(-1))}


def test_trending_lists_rising_terms_for_a_query(client, data):
    res = client.get(f"{BASE}/trending", data={"query_id": data.pk, **window()})
    assert res.status_code == 200, res.content
    body = res.json()
    keys = [t["key"] for t in body["terms"]]
    assert set(keys[:4]) == {"#northwinddown", "outag", "cmd", "@ops.example"}  # 6 each, new
    assert "coffe" not in keys and "morn" not in keys  # used as much as usual
    assert keys[4] == "northwind"  # 8 against 2 a day: rising, less than the new ones
    tag = next(t for t in body["terms"] if t["key"] == "#northwinddown")
    assert tag["count"] == 6 and tag["kind"] == "hashtag" and tag["term"] == "#northwinddown"
    assert body["baseline_days"] == 14 and body["start"].startswith(iso(_midnight(-2))[:10])
    hashtags = client.get(f"{BASE}/trending", data={"kind": "hashtag", **window()}).json()
    assert [t["kind"] for t in hashtags["terms"]] == ["hashtag"]


@pytest.mark.parametrize(
    ("params", "status", "code"),
    [
        ({"color": "red"}, 422, "unknown_filter"),
        ({"kind": "emoji"}, 422, None),
        ({"limit": 0}, 422, None),
        ({"limit": 5000}, 422, None),
        ({"baseline_days": 0}, 422, None),
        ({"start": "yesterday"}, 422, None),
        ({"start": "2026-03-05", "end": "2026-03-01"}, 422, "invalid_range"),
        ({"start": "1990-01-01"}, 422, "out_of_range"),
        ({"query_id": 999999}, 404, "not_found"),
        ({"query_id": -1}, 422, None),
        ({"query_id": "1' OR 1=1"}, 422, None),
    ],
)
def test_trending_and_topics_reject_bad_input(client, data, params, status, code):
    for path in ("/trending", "/topics"):
        if path == "/topics" and set(params) & {"kind", "baseline_days"}:
            continue
        res = client.get(f"{BASE}{path}", data=params)
        assert res.status_code == status, (path, params, res.content)
        assert res.json()["detail"]
        if code:
            assert res.json()["code"] == code


def test_topics_answer_the_stored_clusters(client, data):
    res = client.get(f"{BASE}/topics", data={"query_id": data.pk})
    assert res.status_code == 200, res.content
    topics = res.json()["topics"]
    assert topics and sum(t["size"] for t in topics) <= 22
    first = topics[0]
    assert set(first["sentiment"]) == {"positive", "neutral", "negative"}
    assert first["label"] and first["representative_mention_ids"]
    assert client.get(f"{BASE}/topics", data={"limit": 51}).status_code == 422


def test_anonymous_is_refused(api, data):
    assert api().get(f"{BASE}/trending").status_code == 401


def test_page_renders_terms_topics_and_links(client, data, make_user):
    from django.test import Client

    web = Client()
    web.force_login(make_user(Role.ANALYST))
    res = web.get("/listening/trending/", {"query_id": data.pk, "days": 7})
    assert res.status_code == 200
    html = res.content.decode()
    assert "#northwinddown" in html and "/listening/?q=%23northwinddown" in html
    assert 'id="topics"' in html and "<polyline" in html
    assert Client().get("/listening/trending/").status_code == 302  # login first


def test_page_csv_and_bad_parameters(client, data, make_user):
    from django.test import Client

    web = Client()
    web.force_login(make_user(Role.ANALYST))
    res = web.get("/listening/trending/", {"query_id": data.pk, "days": 7, "format": "csv"})
    assert res.status_code == 200 and res["Content-Type"].startswith("text/csv")
    lines = res.content.decode("utf-8-sig").splitlines()
    assert lines[0] == "term,kind,count,baseline_per_day,expected,score,sample_mention_id"
    assert any(line.startswith("#northwinddown,hashtag,6,") for line in lines)
    assert any(line.startswith("'@ops.example,handle,6,") for line in lines)  # no formula
    for bad in ({"days": 3}, {"days": "x"}, {"kind": "emoji"}, {"nope": 1}, {"format": "xls"}):
        res = web.get("/listening/trending/", bad)
        assert res.status_code == 400, bad
        assert 'id="trending-error"' in res.content.decode()
    assert web.get("/listening/trending/", {"query_id": 987654}).status_code == 404
