"""GET /api/v1/mentions (search), tags, relevance feedback and saved searches over HTTP:
filters, cursors, per-user saved searches and a clear 4xx for every kind of bad input."""

from datetime import UTC, datetime, timedelta
from urllib.parse import quote

import pytest
from django.db import transaction

from apiary.accounts.models import Role
from apiary.listening.consumer import PipelineState, process_mentions
from apiary.listening.models import Mention, MentionIrrelevant, SavedSearch
from apiary.listening.services.queries import query_create

from .factories import raw_mention

pytestmark = pytest.mark.django_db
URL = "/api/v1/mentions"
T0 = datetime(2026, 11, 23, 9, tzinfo=UTC)


def store(*raws):
    with transaction.atomic():
        process_mentions(list(raws), state=PipelineState())


@pytest.fixture
def corpus(db):
    """Mentions through the real pipeline (language, sentiment, place, query matches)."""
    brand = query_create(name="Northwind", kind="brand", text="northwind")
    rival = query_create(name="Aurora", kind="competitor", text="aurora")
    store(
        raw_mention(
            external_id="es-1",
            text="El café de Northwind en Madrid es malísimo, pésimo servicio",
            created_at=T0,
            author_location="Madrid, España",
            author_followers=2_000,
        ),
        raw_mention(
            external_id="ru-1",
            text="Northwind — отличный кофе, люблю их эспрессо",
            created_at=T0 + timedelta(hours=1),
            author_location="Москва",
            author_followers=40,
        ),
        raw_mention(
            external_id="en-1",
            text="Aurora coffee is wonderful, best cold brew in Barcelona",
            created_at=T0 + timedelta(hours=2),
            author_location="Barcelona, Spain",
            author_followers=None,
        ),
    )
    by = {m.external_id.split("/")[-1]: m for m in Mention.objects.all()}
    return brand, rival, by


def external_ids(response):
    assert response.status_code == 200, response.json()
    return [i["external_id"] for i in response.json()["items"]]


def test_search_combines_filters(api, make_user, corpus):
    brand, _rival, _by = corpus
    analyst = api(make_user(Role.ANALYST))
    assert external_ids(analyst.get(URL)) == ["en-1", "ru-1", "es-1"]
    assert external_ids(analyst.get(f"{URL}?q=cafe")) == ["es-1"]
    assert external_ids(analyst.get(f"{URL}?q={quote('кофе')}")) == ["ru-1"]
    assert external_ids(analyst.get(f"{URL}?query_id={brand.pk}")) == ["ru-1", "es-1"]
    assert external_ids(analyst.get(f"{URL}?kind=competitor")) == ["en-1"]
    assert external_ids(analyst.get(f"{URL}?country=ES")) == ["en-1", "es-1"]
    assert external_ids(analyst.get(f"{URL}?country=ES&sentiment=negative")) == ["es-1"]
    assert external_ids(analyst.get(f"{URL}?language=ru&language=es")) == ["ru-1", "es-1"]
    assert external_ids(analyst.get(f"{URL}?min_followers=100")) == ["es-1"]
    assert external_ids(analyst.get(f"{URL}?sort=reach")) == ["es-1", "ru-1", "en-1"]
    # Madrid → Barcelona is ~505 km; Moscow is far away
    assert external_ids(analyst.get(f"{URL}?near=40.4168,-3.7038&radius_km=50")) == ["es-1"]
    assert external_ids(analyst.get(f"{URL}?near=40.4168,-3.7038&radius_km=600")) == [
        "en-1",
        "es-1",
    ]
    assert external_ids(analyst.get(f"{URL}?bbox=50,30,60,40")) == ["ru-1"]
    assert external_ids(analyst.get(f"{URL}?since=2026-11-23T10:00:00Z")) == ["en-1", "ru-1"]
    assert external_ids(analyst.get(f"{URL}?q=coffee&sort=relevance")) == ["en-1"]


def test_pages_follow_next_cursor_with_a_bounded_count(api, make_user, corpus):
    analyst = api(make_user(Role.ANALYST))
    first = analyst.get(f"{URL}?limit=2").json()
    second = analyst.get(f"{URL}?limit=2&cursor={first['next_cursor']}").json()
    assert [i["external_id"] for i in first["items"]] == ["en-1", "ru-1"]
    assert [i["external_id"] for i in second["items"]] == ["es-1"]
    assert first["count"] == 3 and first["count_capped"] is False
    assert second["next_cursor"] is None and first["limit"] == 2 and first["sort"] == "time"


BAD = [
    ("since=31-12-2026", "since"),
    ("until=tomorrow", "until"),
    ("since=2026-11-24&until=2026-11-20", "until"),
    ("near=40,-3&radius_km=0", "radius_km"),
    ("near=40,-3&radius_km=-1", "radius_km"),
    ("near=40,-3&radius_km=20000.5", "radius_km"),
    ("near=95,-3&radius_km=5", "near"),
    ("near=40,-190&radius_km=5", "near"),
    ("near=40,-3", "radius_km"),
    ("bbox=10,10,5,20", "bbox"),
    ("bbox=10,10,20,200", "bbox"),
    ("colour=red", "colour"),
    ("offset=50", "offset"),
    ("limit=1000", "limit"),
    ("limit=0", "limit"),
    ("q=%22unclosed", "q"),
    ("q=-only", "q"),
    ("q=%F0%9F%98%80%F0%9F%98%A1", "q"),  # emoji only
    ("q=" + "x" * 501, "q"),
    ("sort=relevance", "sort"),
    ("sentiment=angry", "sentiment"),
    ("platform=myspace", "platform"),
    ("country=Spain", "country"),
    ("query_id=abc", "query_id"),
    ("customer_id=99999999999999999999999", "customer_id"),
    ("cursor=not-a-cursor", "cursor"),
    ("segment=no-such-segment", "segment"),
]


@pytest.mark.parametrize(("query", "field"), BAD)
def test_bad_input_is_a_422_naming_the_parameter(api, make_user, query, field):
    response = api(make_user(Role.ANALYST)).get(f"{URL}?{query}")
    assert response.status_code == 422, response.content
    body = response.json()
    assert body["errors"][0]["field"] == field
    assert field in body["detail"] and body["code"] in (
        "validation_error",
        "unknown_filter",
        "invalid_query",
    )


@pytest.mark.parametrize(
    "text",
    ['"', "*", "'", "NEAR", "a NEAR/2 b", "x AND (y OR", "'; DROP TABLE x; --", "אבג", "☕ café"],
)
def test_special_characters_never_fail(api, make_user, corpus, text):
    response = api(make_user(Role.ANALYST)).get(f"{URL}?q={quote(text)}")
    assert response.status_code in (200, 422)
    if response.status_code == 422:
        assert response.json()["errors"][0]["field"] == "q"
    if text == "☕ café":
        assert external_ids(response) == ["es-1"]


def test_detail_has_matched_queries_tags_thread_and_similar(api, make_user, corpus):
    _brand, _rival, by = corpus
    store(
        raw_mention(
            external_id="es-2",
            text="Respuesta: el café de Northwind en Madrid, malísimo también",
            created_at=T0 + timedelta(hours=3),
            parent_external_id=by["es-1"].external_id,
        )
    )
    analyst = api(make_user(Role.ANALYST))
    es1 = by["es-1"]
    # when
    tagged = analyst.post(f"{URL}/{es1.pk}/tags", {"tag": "Urgent"})
    detail = analyst.get(f"{URL}/{es1.pk}").json()
    # then
    assert tagged.status_code == 201 and tagged.json()["tags"] == ["urgent"]
    assert detail["tags"] == ["urgent"]
    assert [q["name"] for q in detail["matched_queries"]] == ["Northwind"]
    assert detail["thread"]["parent"] is None
    assert [r["text"][:10] for r in detail["thread"]["replies"]] == ["Respuesta:"]
    assert [s["language"] for s in detail["similar"]] == ["es"]
    reply = Mention.objects.get(text__startswith="Respuesta")
    assert analyst.get(f"{URL}/{reply.pk}").json()["thread"]["parent"]["id"] == es1.pk
    assert analyst.get(f"{URL}/999999").status_code == 404


def test_tags_add_remove_and_filter(api, make_user, corpus):
    _brand, _rival, by = corpus
    analyst = api(make_user(Role.ANALYST))
    es1 = by["es-1"].pk
    assert analyst.post(f"{URL}/{es1}/tags", {"tag": "lead"}).status_code == 201
    assert analyst.post(f"{URL}/{es1}/tags", {"tag": "lead"}).json()["tags"] == ["lead"]
    assert external_ids(analyst.get(f"{URL}?tag=lead")) == ["es-1"]
    bad = analyst.post(f"{URL}/{es1}/tags", {"tag": "<script>"})
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "tag"
    assert analyst.post(f"{URL}/{es1}/tags", {"tag": "x", "colour": 1}).status_code == 422
    removed = analyst.delete(f"{URL}/{es1}/tags?tag=lead")
    assert removed.status_code == 200 and removed.json()["tags"] == []
    assert analyst.delete(f"{URL}/{es1}/tags?tag=lead").status_code == 404
    assert external_ids(analyst.get(f"{URL}?tag=lead")) == []


def test_marking_irrelevant_removes_it_from_that_query(api, make_user, corpus):
    brand, rival, by = corpus
    analyst = api(make_user(Role.ANALYST))
    es1 = by["es-1"].pk
    # when
    marked = analyst.post(f"{URL}/{es1}/irrelevant", {"query_id": brand.pk})
    # then
    assert marked.status_code == 201 and marked.json()["query_id"] == brand.pk
    assert external_ids(analyst.get(f"{URL}?query_id={brand.pk}")) == ["ru-1"]
    assert external_ids(analyst.get(f"{URL}?kind=brand")) == ["ru-1"]
    assert MentionIrrelevant.objects.filter(query=brand).count() == 1
    # again: idempotent
    assert analyst.post(f"{URL}/{es1}/irrelevant", {"query_id": brand.pk}).status_code == 201
    assert MentionIrrelevant.objects.count() == 1
    # a query that did not match it, or none at all
    other = analyst.post(f"{URL}/{es1}/irrelevant", {"query_id": rival.pk})
    assert other.status_code == 422 and "not matched" in other.json()["detail"]
    assert analyst.post(f"{URL}/{es1}/irrelevant", {"query_id": 99999}).status_code == 404
    assert analyst.post(f"{URL}/{es1}/irrelevant", {}).status_code == 422
    # undo
    assert analyst.delete(f"{URL}/{es1}/irrelevant?query_id={brand.pk}").status_code == 204
    assert external_ids(analyst.get(f"{URL}?query_id={brand.pk}")) == ["ru-1", "es-1"]


def test_saved_searches_belong_to_their_owner(api, make_user, corpus):
    ana, bob = make_user(Role.ANALYST), make_user(Role.ANALYST)
    a, b = api(ana), api(bob)
    path = "/api/v1/listening/saved-searches"
    # when
    created = a.post(
        path, {"name": "Spain, angry", "params": {"country": "es", "sentiment": ["negative"]}}
    )
    a.post(path, {"name": "Spain, angry", "params": {"country": ["ES"], "q": "café"}})
    # then: the same name overwrites; params are stored normalised
    assert created.status_code == 201
    mine = a.get(path).json()
    assert [s["name"] for s in mine] == ["Spain, angry"]
    assert mine[0]["params"] == {"country": ["ES"], "q": "café"}
    assert mine[0]["query_string"] == "q=caf%C3%A9&country=ES"
    assert b.get(path).json() == []
    assert b.delete(f"{path}/{mine[0]['id']}").status_code == 404
    # and applying it gives the search's results
    assert external_ids(a.get(f"{URL}?{mine[0]['query_string']}")) == ["es-1"]
    # bad params are refused with the parameter's name
    bad = a.post(path, {"name": "Bad", "params": {"radius_km": 0, "near": "1,1"}})
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "params.radius_km"
    assert a.post(path, {"name": "Bad", "params": {"cursor": "x"}}).status_code == 422
    assert a.post(path, {"name": " ", "params": {}}).status_code == 422
    # delete
    assert a.delete(f"{path}/{mine[0]['id']}").status_code == 204
    assert SavedSearch.objects.count() == 0


def test_search_needs_listening_permission(api, make_user):
    assert api(make_user(Role.MEMBER)).get(URL).status_code == 403
    assert api().get(URL).status_code == 401
    assert api(make_user(Role.MEMBER)).get("/api/v1/listening/saved-searches").status_code == 403
