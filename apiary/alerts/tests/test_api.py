"""The alerts API: list and filters, detail, acknowledge/resolve, actions, rules CRUD +
preview, webhook endpoints CRUD + test, subscriptions; clear 4xx for every bad request."""

import pytest
from django.utils import timezone

from apiary.accounts.models import Role
from apiary.alerts.services import Signal, alerts_raise

from .conftest import BUY, post, store

pytestmark = pytest.mark.django_db
BASE = "/api/v1/alerts"


@pytest.fixture
def manager(make_user):
    return make_user(Role.CARE_MANAGER, email="mgr@example.com")


@pytest.fixture
def client(api, manager):
    return api(manager)


def _alert(key="k1", kind="crisis_spike", severity="high"):
    (r,) = alerts_raise(
        [
            Signal(
                kind=kind,
                dedup_key=key,
                severity=severity,
                title=f"Alert {key}",
                at=timezone.now(),
                explanation={"observed": 30, "baseline": 5.0, "z_score": 8.0},
            )
        ]
    )
    return r.alert


def test_list_filters_and_pages(client):
    ids = [_alert(f"k{i}", severity="high" if i % 2 else "low").pk for i in range(5)]
    r = client.get(f"{BASE}?limit=2")
    assert r.status_code == 200
    body = r.json()
    assert [a["id"] for a in body["items"]] == ids[::-1][:2]
    r2 = client.get(f"{BASE}?limit=2&cursor={body['next_cursor']}")
    assert [a["id"] for a in r2.json()["items"]] == ids[::-1][2:4]
    high = client.get(f"{BASE}?severity=high").json()["items"]
    assert {a["severity"] for a in high} == {"high"} and len(high) == 2
    assert client.get(f"{BASE}?status=live&kind=crisis_spike").json()["items"]


@pytest.mark.parametrize(
    "query", ["status=nope", "kind=banana", "severity=huge", "cursor=abc", "limit=500"]
)
def test_bad_list_parameters_are_422_with_a_message(client, query):
    r = client.get(f"{BASE}?{query}")
    assert r.status_code == 422
    assert r.json()["detail"] and r.json()["code"] == "validation_error"


def test_detail_shows_evidence_numbers_actions_history(api, client, queries, make_rule, make_user):
    make_rule("lead", {})
    store(post(BUY, timezone.now()))
    from apiary.alerts.models import Alert

    alert = Alert.objects.get()
    full = client.get(f"{BASE}/{alert.pk}").json()
    assert "text" in full["evidence"][0] and full["actions"]
    assert full["numbers"]["intent"] == "purchase" and full["history"][0]["kind"] == "opened"
    assert api(make_user(Role.MEMBER)).get(f"{BASE}/{alert.pk}").status_code == 403
    assert client.get(f"{BASE}/999999").status_code == 404


def test_acknowledge_resolve_and_the_409_after(client):
    alert = _alert()
    r = client.post(f"{BASE}/{alert.pk}/acknowledge")
    assert r.status_code == 200 and r.json()["status"] == "acknowledged"
    r = client.post(f"{BASE}/{alert.pk}/resolve", {"note": "handled"})
    assert r.status_code == 200 and r.json()["status"] == "resolved"
    again = client.post(f"{BASE}/{alert.pk}/resolve", {"note": "again"})
    assert again.status_code == 409 and "already resolved" in again.json()["detail"]
    assert client.post(f"{BASE}/{alert.pk}/acknowledge").status_code == 409
    assert client.post(f"{BASE}/{alert.pk}/resolve", {"nope": 1}).status_code == 422


def test_actions_unknown_and_unavailable(client):
    alert = _alert()
    r = client.post(f"{BASE}/{alert.pk}/actions/fly_to_the_moon", {})
    assert r.status_code == 404 and "escalate_manager" in r.json()["detail"]
    r = client.post(f"{BASE}/{alert.pk}/actions/offer_discount", {})
    assert r.status_code == 409 and r.json()["code"] == "action_unavailable"


def test_events_feed_and_counts(client):
    start = client.get(f"{BASE}/events").json()["last_id"]
    alert = _alert()
    client.post(f"{BASE}/{alert.pk}/acknowledge")
    events = client.get(f"{BASE}/events?after={start}").json()["events"]
    assert [e["kind"] for e in events] == ["opened", "acknowledged"]
    assert events[0]["alert"]["id"] == alert.pk
    counts = client.get(f"{BASE}/counts").json()
    assert counts["acknowledged"] == 1 and counts["live"] == 1


def test_rules_crud_preview_and_validation(client, api, make_user, queries):
    r = client.post(
        f"{BASE}/rules",
        {"name": "Big leads", "kind": "lead", "conditions": {"min_followers": 100}},
    )
    assert r.status_code == 201, r.content
    rule = r.json()
    assert rule["conditions"] == {"min_followers": 100} and rule["kind_label"] == "Lead"
    bad = client.post(
        f"{BASE}/rules",
        {
            "name": "Nonsense",
            "kind": "custom",
            "conditions": {"min_followers": 9, "max_followers": 1},
        },
    )
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["field"] == "conditions.min_followers"
    dup = client.post(f"{BASE}/rules", {"name": "big leads", "kind": "lead"})
    assert dup.status_code == 422 and "name" in dup.json()["detail"]
    assert (
        client.post(f"{BASE}/rules", {"name": "x", "kind": "lead", "extra": 1}).status_code == 422
    )
    r = client.patch(f"{BASE}/rules/{rule['id']}", {"active": False, "cooldown_minutes": 5})
    assert r.status_code == 200 and r.json()["active"] is False
    assert client.patch(f"{BASE}/rules/{rule['id']}", {"severity": "extreme"}).status_code == 422
    assert client.patch(f"{BASE}/rules/{rule['id']}", {"name": None}).status_code == 422
    p = client.post(f"{BASE}/rules/preview", {"kind": "lead", "conditions": {}, "days": 7})
    assert p.status_code == 200 and p.json()["fires"] == 0 and len(p.json()["by_day"]) >= 7
    assert client.post(f"{BASE}/rules/preview", {"kind": "lead", "days": 90}).status_code == 422
    analyst = api(make_user(Role.ANALYST))
    assert analyst.get(f"{BASE}/rules").status_code == 200
    assert analyst.post(f"{BASE}/rules", {"name": "n", "kind": "lead"}).status_code == 403
    assert client.delete(f"{BASE}/rules/{rule['id']}").status_code == 204
    assert client.get(f"{BASE}/rules/{rule['id']}").status_code == 404


def test_webhooks_crud_and_test(client, api, make_user):
    r = client.post(f"{BASE}/webhooks", {"name": "Chat", "url": "http://127.0.0.1:9/x"})
    assert r.status_code == 201
    ep = r.json()
    assert ep["secret"].startswith("whsec_") and ep["failing"] is False
    assert client.post(f"{BASE}/webhooks", {"name": "Bad", "url": "ftp://x"}).status_code == 422
    bad_kind = client.post(f"{BASE}/webhooks", {"name": "B", "url": "http://a.b/", "kinds": ["x"]})
    assert bad_kind.status_code == 422
    t = client.post(f"{BASE}/webhooks/{ep['id']}/test")
    assert t.status_code == 200 and t.json()["ok"] is False and t.json()["message"]
    r = client.patch(f"{BASE}/webhooks/{ep['id']}", {"rotate_secret": True, "min_severity": "high"})
    assert r.status_code == 200 and r.json()["secret"] != ep["secret"]
    listed = client.get(f"{BASE}/webhooks").json()
    assert listed[0]["deliveries_7_days"] == {"sent": 0, "failed": 0, "pending": 0}
    assert "secret" not in listed[0]
    agent = api(make_user(Role.CARE_AGENT))
    assert agent.get(f"{BASE}/webhooks").status_code == 403
    assert client.delete(f"{BASE}/webhooks/{ep['id']}").status_code == 204
    assert client.post(f"{BASE}/webhooks/{ep['id']}/test").status_code == 404


def test_subscription(client):
    assert client.get(f"{BASE}/subscription").json()["email"] is False
    r = client._send("put", f"{BASE}/subscription", {"email": True, "min_severity": "medium"})
    assert r.status_code == 200 and r.json()["email"] is True
    bad = client._send("put", f"{BASE}/subscription", {"email": True, "min_severity": "loud"})
    assert bad.status_code == 422


def test_anonymous_is_401(api):
    assert api().get(BASE).status_code == 401


def test_mention_text_is_left_out_for_readers_without_listening(queries, make_rule, manager):
    from unittest import mock

    from apiary.alerts import selectors
    from apiary.alerts.models import Alert

    make_rule("lead", {})
    store(post(BUY, timezone.now()))
    alert = Alert.objects.get()

    def perms(user, perm):
        return perm != "listening.view"

    with mock.patch.object(selectors, "user_has_permission", perms):
        detail = selectors.alert_detail(alert=alert, user=manager)
    assert detail["evidence"] and "text" not in detail["evidence"][0]
    assert detail["can_read_mentions"] is False
