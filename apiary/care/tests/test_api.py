"""The care API: every endpoint, the 409s, idempotent replies, and clear 4xx for bad input."""

from __future__ import annotations

import pytest

from apiary.accounts.models import Role
from apiary.care.models import Conversation, Message

pytestmark = pytest.mark.django_db

SUPPORT = "@northwind my order never arrived, awful service, I need help with a refund"


@pytest.fixture
def conversation(brand, support_rule, store, raw):
    store(raw(text=SUPPORT, author_followers=3_000))
    return Conversation.objects.get()


def test_list_detail_and_filters(api, agent, conversation):
    client = api(agent)
    r = client.get("/api/v1/conversations?view=unassigned&sentiment=negative,neutral&limit=10")
    assert r.status_code == 200, r.content
    body = r.json()
    assert [c["id"] for c in body["items"]] == [conversation.pk]
    item = body["items"][0]
    assert item["sla"]["state"] in ("running", "warning") and item["priority_factors"]
    r = client.get(f"/api/v1/conversations/{conversation.pk}")
    assert r.status_code == 200
    assert [m["direction"] for m in r.json()["messages"]] == ["inbound"]
    assert client.get("/api/v1/conversations/counts").json()["unassigned"] == 1


@pytest.mark.parametrize(
    "query,status,code",
    [
        ("limit=101", 422, "validation_error"),
        ("view=everything", 422, "validation_error"),
        ("sentiment=furious", 422, "validation_error"),
        ("colour=blue", 422, "unknown_filter"),
        ("cursor=nonsense", 422, "validation_error"),
        ("assignee=bob", 422, "validation_error"),
    ],
)
def test_list_bad_input(api, agent, conversation, query, status, code):
    r = api(agent).get(f"/api/v1/conversations?{query}")
    assert r.status_code == status, r.content
    assert r.json()["code"] == code and r.json()["detail"]


def test_open_from_mention(api, agent, brand, store, raw):
    [m] = store(raw(text="Northwind is fine"))
    client = api(agent)
    r = client.post("/api/v1/conversations", {"mention_id": m.pk})
    assert r.status_code == 201, r.content
    again = client.post("/api/v1/conversations", {"mention_id": m.pk})
    assert again.status_code == 200 and again.json()["id"] == r.json()["id"]
    assert client.post("/api/v1/conversations", {"mention_id": 10**9}).status_code == 404
    assert client.post("/api/v1/conversations", {"mention": m.pk}).status_code == 422


def test_reply_idempotent_and_conflicts(api, agent, agent2, conversation):
    a, b = api(agent), api(agent2)
    url = f"/api/v1/conversations/{conversation.pk}/replies"
    body = {"text": "Sorry! DM us your order number", "version": 1, "client_token": "tok-1"}
    first = a.post(url, body)
    assert first.status_code == 201, first.content
    assert first.json()["delivery"] in ("queued", "sending", "sent", "failed")
    repeat = a.post(url, body)
    assert repeat.status_code == 200 and repeat.json()["id"] == first.json()["id"]
    # a colleague who loaded version 1 is told who replied
    stale = b.post(url, {"text": "Hello!", "version": 1, "client_token": "tok-2"})
    assert stale.status_code == 409
    assert stale.json()["code"] == "conversation_changed"
    assert "Lucía Fernández: replied" in stale.json()["detail"]
    assert stale.json()["changes"][0]["actor_id"] == agent.pk
    assert Message.objects.filter(direction="outbound").count() == 1
    # resolved, then a reply: 409 conversation_closed
    current = a.get(f"/api/v1/conversations/{conversation.pk}").json()["version"]
    r = a.post(f"/api/v1/conversations/{conversation.pk}/status",
               {"status": "resolved", "version": current})  # fmt: skip
    assert r.status_code == 200 and r.json()["status"] == "resolved"
    closed = b.post(url, {"text": "Hi", "version": r.json()["version"], "client_token": "t3"})
    assert closed.status_code == 409 and closed.json()["code"] == "conversation_closed"
    assert "Reopen" in closed.json()["detail"]


@pytest.mark.parametrize(
    "body,field",
    [
        ({"text": "", "version": 1}, "text"),
        ({"text": "hi"}, "version"),
        ({"text": "hi", "version": 0}, "version"),
        ({"text": "hi", "version": 1, "client_token": "no spaces"}, "client_token"),
        ({"text": "hi", "version": 1, "extra": 1}, "extra"),
    ],
)
def test_reply_bad_input(api, agent, conversation, body, field):
    r = api(agent).post(f"/api/v1/conversations/{conversation.pk}/replies", body)
    assert r.status_code == 422, r.content
    assert any(e["field"] == field for e in r.json()["errors"])


def test_assign_status_notes_presence(api, agent, agent2, manager, conversation):
    a, m = api(agent), api(manager)
    base = f"/api/v1/conversations/{conversation.pk}"
    # an agent cannot assign a colleague; a manager can
    assert a.post(f"{base}/assign", {"assignee_id": agent2.pk}).status_code == 403
    r = m.post(f"{base}/assign", {"assignee_id": agent2.pk, "version": 1})
    assert r.status_code == 200 and r.json()["assignee_id"] == agent2.pk
    stale = a.post(f"{base}/status", {"status": "pending", "version": 1})
    assert stale.status_code == 409 and "Grace Okafor" in stale.json()["detail"]
    assert a.post(f"{base}/status", {"status": "closed"}).status_code == 422
    # round robin with nobody online
    rr = m.post(f"{base}/assign", {"assignee_id": "round_robin"})
    assert rr.status_code == 409 and rr.json()["code"] == "no_agent_available"
    # notes
    r = a.post(f"{base}/notes", {"text": "@grace.okafor please check"})
    assert r.status_code == 201 and r.json()["mentioned_user_ids"] == [manager.pk]
    # presence
    r = a.post(f"{base}/presence", {"state": "typing"})
    assert r.status_code == 200 and r.json()["others"] == []
    r = m.post(f"{base}/presence", {"state": "viewing"})
    assert r.json()["others"][0]["state"] == "typing"
    assert a.post(f"{base}/presence", {"state": "sleeping"}).status_code == 422
    # priority
    r = a.post(f"{base}/priority", {"priority": "urgent"})
    assert r.status_code == 200 and r.json()["priority"] == "urgent"
    # live feed
    feed = a.get("/api/v1/care/events?after=0").json()
    assert {"conversation.created", "message.created", "presence"} <= {
        e["kind"] for e in feed["items"]
    }
    assert a.get("/api/v1/care/events").json()["items"] == []


def test_missing_conversation_and_permissions(api, conversation, make_user, agent):
    analyst = make_user(Role.ANALYST)
    assert api(agent).get("/api/v1/conversations/999999").status_code == 404
    assert api(analyst).get("/api/v1/conversations").status_code == 403
    assert api(analyst).get(f"/api/v1/conversations/{conversation.pk}").status_code == 403
    assert api().get("/api/v1/conversations").status_code == 401
    assert api(agent).get("/api/v1/care/sla-report").status_code == 403


def test_customer_link_and_sidebar(api, agent, conversation):
    from apiary.customers.models import Customer

    customer = Customer.objects.create(name="Ana", email="ana@example.com")
    client = api(agent)
    base = f"/api/v1/conversations/{conversation.pk}"
    assert client.post(f"{base}/customer", {"customer_id": customer.pk}).status_code == 422
    r = client.post(
        f"{base}/customer", {"customer_id": customer.pk, "consent_note": "agreed by DM"}
    )
    assert r.status_code == 200, r.content
    assert r.json()["customer_id"] == customer.pk
    side = client.get(f"{base}/sidebar").json()
    assert side["customer"]["id"] == customer.pk
    assert side["identities"][0]["handle"] == conversation.author_handle
    assert "available" in side["community"]
    assert (
        client.post(f"{base}/customer", {"customer_id": 10**9, "consent_note": "x"}).status_code
        == 404
    )


def test_settings_crud_and_report(api, manager, agent, conversation):
    m = api(manager)
    # policies
    r = m.post("/api/v1/care/sla-policies", {"name": "Urgent", "priority": "urgent",
                                             "first_response_minutes": 15})  # fmt: skip
    assert r.status_code == 201, r.content
    pid = r.json()["id"]
    hours = {"1": [["18:00", "09:00"]]}
    bad = m.post("/api/v1/care/sla-policies", {"name": "Office", "business_hours": hours})
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "business_hours"
    assert (
        m.patch(f"/api/v1/care/sla-policies/{pid}", {"first_response_minutes": 10}).json()[
            "first_response_minutes"
        ]
        == 10
    )
    assert api(agent).post("/api/v1/care/sla-policies", {"name": "x"}).status_code == 403
    assert m.delete(f"/api/v1/care/sla-policies/{pid}").status_code == 204
    # rules: a contradictory rule is a clear 422
    r = m.post("/api/v1/care/rules", {"name": "Never", "conditions": {"sentiments": []}})
    assert r.status_code == 422
    assert r.json()["errors"][0]["field"] == "conditions.sentiments"
    assert "never match" in r.json()["detail"]
    r = m.post("/api/v1/care/rules", {"name": "Q", "conditions": {"is_question": True}})
    assert r.status_code == 201
    rid = r.json()["id"]
    assert m.patch(f"/api/v1/care/rules/{rid}", {"active": False}).json()["active"] is False
    assert m.patch(f"/api/v1/care/rules/{rid}", {"conditions": None}).status_code == 422
    assert m.delete(f"/api/v1/care/rules/{rid}").status_code == 204
    assert m.delete(f"/api/v1/care/rules/{rid}").status_code == 404
    # agents
    r = api(agent).patch(f"/api/v1/care/agents/{agent.pk}", {"languages": ["es"], "online": True})
    assert r.status_code == 200 and r.json()["online"] is True
    assert (
        api(agent).patch(f"/api/v1/care/agents/{manager.pk}", {"online": True}).status_code == 403
    )
    assert (
        api(agent).patch(f"/api/v1/care/agents/{agent.pk}", {"languages": ["spanish!"]}).status_code
        == 422
    )
    assert len(m.get("/api/v1/care/agents").json()) == 2
    # report
    r = m.get("/api/v1/care/sla-report?group_by=platform")
    assert r.status_code == 200 and r.json()["overall"]["total"] == 1
    assert m.get("/api/v1/care/sla-report?group_by=moon").status_code == 422
    r = m.get("/api/v1/care/sla-report?since=2026-01-01T00:00:00&until=2025-01-01T00:00:00")
    assert r.status_code == 422
