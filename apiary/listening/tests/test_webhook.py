"""POST /api/v1/mentions: per-source tokens, per-item results, nothing good lost."""

import json

import pytest
from django.test import Client

from apiary.accounts.models import Role
from apiary.listening.models import Mention, OutboxEntry, Source
from apiary.listening.services.sources import source_create, source_status_set

from .factories import drain

pytestmark = pytest.mark.django_db
URL = "/api/v1/mentions"


@pytest.fixture
def hook(db):
    source, token = source_create(name="Shop reviews", kind="webhook")
    return source, token


def send(token, payload=None, raw=None):
    body = raw if raw is not None else json.dumps(payload)
    return Client().post(
        URL, data=body, content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {token}"
    )


def item(n, **changes):
    data = {
        "platform": "trustpilot",
        "external_id": f"rev-{n}",
        "text": f"Review number {n}: great beans",
        "created_at": "2026-01-10T10:00:00Z",
        "author": {"handle": f"buyer{n}", "followers": 3, "location": "Sevilla"},
    }
    data.update(changes)
    return data


def test_accepted_items_are_stored_after_the_consumer_runs(hook):
    # given
    source, token = hook
    # when
    response = send(token, {"mentions": [item(1), item(2)]})
    drained = drain()
    # then
    assert response.status_code == 200
    assert response.json()["accepted"] == 2
    assert drained == 2
    assert set(Mention.objects.values_list("external_id", flat=True)) == {"rev-1", "rev-2"}
    assert Mention.objects.filter(source=source, country="ES").count() == 2
    assert OutboxEntry.objects.count() == 0


def test_one_bad_item_never_drops_the_good_ones(hook):
    # given
    _source, token = hook
    batch = [item(1), item(2, text=""), item(3, created_at="1970-01-01T00:00:00Z"), item(4)]
    # when
    response = send(token, batch)
    drain()
    # then
    assert response.status_code == 207
    body = response.json()
    assert [r["status"] for r in body["results"]] == [
        "accepted",
        "rejected",
        "rejected",
        "accepted",
    ]
    assert "text: must not be empty" in body["results"][1]["reasons"]
    assert Mention.objects.count() == 2
    source = Source.objects.get()
    assert source.rejected_count == 2
    assert "rejected" in source.last_error


def test_duplicates_in_batch_and_across_batches(hook):
    # given
    _source, token = hook
    send(token, [item(1)])
    # when (queued, not yet stored)
    queued = send(token, [item(1), item(2), item(2)]).json()
    drain()
    stored = send(token, [item(1)]).json()
    # then
    assert [r["status"] for r in queued["results"]] == ["duplicate", "accepted", "duplicate"]
    assert stored["results"][0]["status"] == "duplicate"
    assert Mention.objects.count() == 2


def test_invalid_utf8_inside_one_item_rejects_that_item_only(hook):
    # given
    _source, token = hook
    good = json.dumps(item(1)).encode()
    bad = json.dumps(item(2)).encode().replace(b"great", b"gr\xffeat")
    # when
    response = send(token, raw=b"[" + good + b"," + bad + b"]")
    # then
    statuses = [r["status"] for r in response.json()["results"]]
    assert statuses == ["accepted", "rejected"]
    assert "not valid UTF-8" in response.json()["results"][1]["reasons"][0]


@pytest.mark.parametrize(
    ("raw", "status", "code"),
    [
        (b"{not json", 400, "malformed_body"),
        (b'"a string"', 400, "malformed_body"),
        (b"[]", 400, "empty_batch"),
        (b'{"mentions": [], "extra": 1}', 400, "malformed_body"),
    ],
)
def test_malformed_bodies_get_clear_4xx(hook, raw, status, code):
    _source, token = hook
    response = send(token, raw=raw)
    assert response.status_code == status
    assert response.json()["code"] == code


def test_too_many_items(hook):
    _source, token = hook
    response = send(token, [item(n) for n in range(1001)])
    assert response.status_code == 413
    assert response.json()["code"] == "batch_too_large"


def test_bad_or_missing_token_and_paused_source(hook):
    # given
    source, token = hook
    # then
    assert send("src_wrong", [item(1)]).status_code == 401
    assert Client().post(URL, data="[]", content_type="application/json").status_code == 401
    source_status_set(source=source, status="paused")
    response = send(token, [item(1)])
    assert response.status_code == 409
    assert response.json()["code"] == "source_paused"


def test_a_user_api_token_is_not_a_source_token(hook, make_user, token_for):
    user_token = token_for(make_user(Role.ADMIN))
    assert send(user_token, [item(1)]).status_code == 401


def test_sources_and_queries_api_permissions(api, make_user):
    # given
    admin = api(make_user(Role.ADMIN))
    analyst = api(make_user(Role.ANALYST))
    member = api(make_user(Role.MEMBER))
    # when
    created = admin.post(
        "/api/v1/listening/sources",
        {"name": "Coffee feed", "kind": "rss", "config": {"url": "https://example.com/feed"}},
    )
    bad = admin.post(
        "/api/v1/listening/sources", {"name": "x", "kind": "rss", "config": {"url": "ftp://x"}}
    )
    # then
    assert created.status_code == 201, created.content
    assert bad.status_code == 422
    assert analyst.get("/api/v1/listening/sources").status_code == 200
    assert member.get("/api/v1/listening/sources").status_code == 403
    assert (
        analyst.post("/api/v1/listening/sources", {"name": "n", "kind": "webhook"}).status_code
        == 403
    )
    source_id = created.json()["id"]
    assert admin.post(f"/api/v1/listening/sources/{source_id}/pause").json()["status"] == "paused"
    assert admin.delete(f"/api/v1/listening/sources/{source_id}").status_code == 204
    assert admin.get(f"/api/v1/listening/sources/{source_id}").status_code == 404


def test_webhook_source_token_is_shown_once(api, make_user):
    admin = api(make_user(Role.ADMIN))
    created = admin.post("/api/v1/listening/sources", {"name": "Hook", "kind": "webhook"}).json()
    assert created["token"].startswith("src_")
    listed = admin.get("/api/v1/listening/sources").json()
    assert "token" not in listed[0]
    assert send(created["token"], [item(9)]).status_code == 200


def test_query_api_reports_syntax_error_position(api, make_user):
    admin = api(make_user(Role.ADMIN))
    response = admin.post(
        "/api/v1/listening/queries", {"name": "Broken", "kind": "brand", "text": "(northwind OR"}
    )
    assert response.status_code == 422
    assert "position" in json.dumps(response.json())
    ok = admin.post(
        "/api/v1/listening/queries", {"name": "Brand", "kind": "brand", "text": "northwind"}
    )
    assert ok.status_code == 201


def test_mentions_list_and_filters(api, make_user, hook):
    # given
    _source, token = hook
    send(token, [item(1, text="Terrible, my order never arrived"), item(2)])
    drain()
    analyst = api(make_user(Role.ANALYST))
    # when
    negative = analyst.get("/api/v1/mentions?sentiment=negative").json()
    bad_filter = analyst.get("/api/v1/mentions?sentiment=angry")
    unknown = analyst.get("/api/v1/mentions?colour=red")
    # then
    assert negative["count"] == 1 and negative["items"][0]["external_id"] == "rev-1"
    assert bad_filter.status_code == 422
    assert unknown.status_code == 422
    detail = analyst.get(f"/api/v1/mentions/{negative['items'][0]['id']}").json()
    assert detail["intent"] == "support"


def test_classify_api(api, make_user):
    analyst = api(make_user(Role.ANALYST))
    out = analyst.post(
        "/api/v1/listening/classify", {"texts": ["¿Dónde comprar café Northwind?", "Люблю!"]}
    ).json()
    assert [o["language"] for o in out] == ["es", "ru"]
    assert out[0]["intent"] == "purchase"
    assert analyst.post("/api/v1/listening/classify", {"texts": []}).status_code == 422


def test_broker_down_answers_503_and_accepts_nothing(hook, settings, monkeypatch):
    # given: the stream points at a NATS server that is not there (publish gives up after
    # 0.5 s instead of 3; the wait itself is not under test)
    from apiary.listening import stream as streams

    monkeypatch.setattr("apiary.listening.stream.nats.CONNECT_WAIT", 0.5)

    _source, token = hook
    settings.APIARY_STREAM_URL = "nats://127.0.0.1:1?stream=APIARY_DOWN&subject=apiary.down"
    try:
        # when
        response = send(token, [item(1)])
    finally:
        streams.close_all()
    # then
    assert response.status_code == 503
    assert response.json()["code"] == "stream_unavailable"
    assert Mention.objects.count() == 0 and OutboxEntry.objects.count() == 0
