"""The inbox pages: who may see them, the list and its filters, one conversation with its
thread, composer and sidebar, and the actions on it (reply, stale version, note, status,
assign, presence, link to a customer, open from a mention)."""

from __future__ import annotations

import re

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from apiary.accounts.models import Role
from apiary.care import canned, services
from apiary.care.models import AgentPresence, Conversation, Message, Status
from apiary.customers.services.customers import customer_create

pytestmark = pytest.mark.django_db

SUPPORT_EN = "@northwind my order never arrived, I need help with a refund"
SUPPORT_ES = "@northwind mi pedido no ha llegado, necesito ayuda por favor"


def client_for(user) -> Client:
    c = Client()
    c.force_login(user)
    return c


@pytest.fixture
def conv(brand, support_rule, store, raw):
    store(raw(text=SUPPORT_EN, author_handle="olga.bsky.social", author_name="Olga"))
    return Conversation.objects.get()


# --- permissions --------------------------------------------------------------------------------


@pytest.mark.parametrize("role", [Role.MEMBER, Role.ANALYST, Role.COMMUNITY_MANAGER])
def test_people_without_the_inbox_permission_get_403(make_user, conv, role):
    c = client_for(make_user(role))
    for url in (
        reverse("care:inbox"),
        reverse("care:rows"),
        reverse("care:conversation", args=[conv.pk]),
        reverse("care:stream"),
        reverse("care:events"),
    ):
        assert c.get(url).status_code == 403, url
    assert c.post(reverse("care:reply", args=[conv.pk]), {"text": "x"}).status_code == 403
    assert c.post(reverse("care:open", args=[1])).status_code == 403


def test_anonymous_visitors_are_sent_to_log_in(conv):
    response = Client().get(reverse("care:inbox"))
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_agents_cannot_open_the_manager_pages(agent):
    c = client_for(agent)
    for name in (
        "care:reports",
        "care:settings_sla",
        "care:settings_rules",
        "care:settings_canned",
        "care:settings_agents",
    ):
        assert c.get(reverse(name)).status_code == 403, name


def test_a_missing_conversation_is_404(agent):
    c = client_for(agent)
    assert c.get(reverse("care:conversation", args=[999999])).status_code == 404
    assert c.get(reverse("care:thread", args=[999999])).status_code == 404
    assert c.post(reverse("care:reply", args=[999999]), {"text": "hi"}).status_code == 404
    assert c.post(reverse("care:open", args=[999999])).status_code == 404


# --- the inbox list -----------------------------------------------------------------------------


def test_inbox_lists_the_conversation_with_priority_explanation_and_sla(agent, conv):
    response = client_for(agent).get(reverse("care:inbox"))
    assert response.status_code == 200
    html = response.content.decode()
    row = re.search(rf'<li class="conv-row[^"]*" id="conv-{conv.pk}".*?</li>', html, re.S)
    assert row, "the conversation is listed"
    row = row.group(0)
    assert "Olga" in row and "my order never arrived" in row
    # the priority badge explains itself on hover: every factor with its points
    title = re.search(r'class="prio prio-\w+" title="([^"]+)"', row).group(1)
    assert f"Priority {conv.priority_score}/100" in title
    assert "intent +" in title
    # the SLA countdown carries the deadline for the page's clock
    assert f'data-sla-due="{conv.sla_due_at.isoformat()}"' in row
    assert "is-unread" in row  # the agent never opened it
    # the page listens to the live feed
    assert 'data-care-stream="/care/stream/"' in html


def test_inbox_filters_narrow_the_list(agent, brand, support_rule, store, raw):
    store(raw(text=SUPPORT_EN, author_handle="en.user"))
    store(raw(text=SUPPORT_ES, author_handle="es.user"))
    c = client_for(agent)
    es = c.get(reverse("care:inbox"), {"language": "es"}).content.decode()
    assert "es.user" in es and "en.user" not in es
    none = c.get(reverse("care:inbox"), {"status": "resolved"}).content.decode()
    assert "No conversation matches these filters." in none
    mine = c.get(reverse("care:inbox"), {"view": "mine"}).content.decode()
    assert "en.user" not in mine and "es.user" not in mine


def test_a_bad_filter_is_a_422_with_the_reason(agent, conv):
    response = client_for(agent).get(reverse("care:inbox"), {"sentiment": "furious"})
    assert response.status_code == 422
    assert "Unknown value" in response.content.decode()


def test_inbox_query_count_does_not_grow_with_rows(agent, brand, support_rule, store, raw):
    c = client_for(agent)
    store(raw(text=SUPPORT_EN, author_handle="a1"))
    with CaptureQueriesContext(connection) as one:
        assert c.get(reverse("care:rows")).status_code == 200
    store(*[raw(text=SUPPORT_EN, author_handle=f"b{i}") for i in range(8)])
    with CaptureQueriesContext(connection) as nine:
        response = c.get(reverse("care:rows"))
    assert response.content.decode().count('class="conv-row') == 9
    assert len(nine) == len(one)


def test_keyset_paging_walks_every_conversation_once(agent, brand, support_rule, store, raw):
    from apiary.care import views

    store(*[raw(text=SUPPORT_EN, author_handle=f"p{i}") for i in range(5)])
    c = client_for(agent)
    original = views.PAGE
    views.PAGE = 2
    try:
        seen, url = [], reverse("care:inbox")
        while url:
            html = c.get(url).content.decode()
            seen += re.findall(r'id="conv-(\d+)"', html)
            nxt = re.search(r'href="([^"]+)" id="next-page"', html)
            url = nxt.group(1).replace("&amp;", "&") if nxt else None
    finally:
        views.PAGE = original
    assert sorted(seen) == sorted(
        str(pk) for pk in Conversation.objects.values_list("pk", flat=True)
    )


def test_online_toggle(agent):
    c = client_for(agent)
    c.post(reverse("care:online"), {"online": "1"})
    assert agent.care_profile.online is True
    response = c.post(reverse("care:online"), {"online": "0"}, HTTP_HX_REQUEST="true")
    assert "I&#x27;m away" in response.content.decode() or "I'm away" in response.content.decode()
    agent.care_profile.refresh_from_db()
    assert agent.care_profile.online is False


# --- one conversation ---------------------------------------------------------------------------


def test_conversation_page_shows_thread_composer_and_sidebar(agent, conv):
    canned.canned_ensure_defaults()
    response = client_for(agent).get(reverse("care:conversation", args=[conv.pk]))
    assert response.status_code == 200
    html = response.content.decode()
    assert "my order never arrived" in html
    assert f'name="version" value="{conv.version}"' in html
    assert re.search(r'name="client_token" value="[0-9a-f]{32}"', html)
    assert 'id="canned-picker"' in html
    assert "is not linked to a customer yet" in html
    # opening counts as viewing: the "new" marker goes away
    assert AgentPresence.objects.filter(user=agent, conversation=conv).exists()
    rows = client_for(agent).get(reverse("care:rows")).content.decode()
    assert "is-unread" not in rows


def test_an_alert_link_opens_the_reply_box_prefilled(agent, conv):
    """Alert next actions link with ?canned=<id>&draft=<text>; unknown ids are ignored."""
    import html as html_lib

    canned.canned_ensure_defaults()
    response_obj = canned.canned_for(language=conv.language or None)[0]
    url = reverse("care:conversation", args=[conv.pk])
    page = client_for(agent).get(url, {"canned": response_obj.pk}).content.decode()
    assert f'<option value="{response_obj.pk}" selected' in page
    body = canned.canned_render(response=response_obj, conversation=conv, agent=agent)
    assert html_lib.escape(body.splitlines()[0])[:40] in page
    page = client_for(agent).get(url, {"draft": "Here is 10% off: CODE-42"}).content.decode()
    assert "Here is 10% off: CODE-42</textarea>" in page
    page = client_for(agent).get(url, {"canned": "999999"}).content.decode()
    assert " selected>" not in page.split('id="canned-picker"')[1].split("</select>")[0]


def test_a_reply_is_queued_once_per_client_token(agent, conv):
    c = client_for(agent)
    data = {"text": "Sorry about that, Olga!", "version": conv.version, "client_token": "t" * 32}
    first = c.post(reverse("care:reply", args=[conv.pk]), data, HTTP_HX_REQUEST="true")
    assert first.status_code == 200
    assert "Sorry about that, Olga!" in first.content.decode()  # the thread, out of band
    again = c.post(reverse("care:reply", args=[conv.pk]), data, HTTP_HX_REQUEST="true")
    assert again.status_code == 200
    assert Message.objects.filter(conversation=conv, direction="outbound").count() == 1
    reply = Message.objects.get(conversation=conv, direction="outbound")
    assert reply.delivery in ("queued", "sending", "sent", "failed")


def test_a_stale_version_shows_who_changed_it_instead_of_sending(agent, agent2, conv):
    # given Lucía has the conversation open at version v
    seen = conv.version
    # when Dmitri answers first
    services.reply_create(
        conversation_id=conv.pk, user=agent2, text="On it!", version=seen, client_token="d1"
    )
    # and Lucía presses send on what she typed against version v
    response = client_for(agent).post(
        reverse("care:reply", args=[conv.pk]),
        {"text": "Let me check", "version": seen, "client_token": "l1"},
        HTTP_HX_REQUEST="true",
    )
    # then nothing is sent and she is told who moved first, her text kept
    assert response.status_code == 409
    html = response.content.decode()
    assert "Dmitri Volkov replied" in html and "review before sending" in html
    assert "Let me check</textarea>" in html
    assert not Message.objects.filter(text="Let me check").exists()
    # and the composer now holds the current version: sending again goes through
    fresh = Conversation.objects.get(pk=conv.pk)
    assert f'name="version" value="{fresh.version}"' in html
    again = client_for(agent).post(
        reverse("care:reply", args=[conv.pk]),
        {"text": "Let me check", "version": fresh.version, "client_token": "l2"},
        HTTP_HX_REQUEST="true",
    )
    assert again.status_code == 200
    assert Message.objects.filter(text="Let me check").count() == 1


def test_a_reply_to_a_resolved_conversation_says_who_closed_it(agent, agent2, conv):
    services.conversation_status_set(conversation_id=conv.pk, status="resolved", actor=agent2)
    fresh = Conversation.objects.get(pk=conv.pk)
    response = client_for(agent).post(
        reverse("care:reply", args=[conv.pk]),
        {"text": "Hello?", "version": fresh.version, "client_token": "x1"},
    )
    assert response.status_code == 409
    assert "Dmitri Volkov resolved this conversation" in response.content.decode()


def test_an_empty_reply_is_a_422_with_the_reason(agent, conv):
    response = client_for(agent).post(
        reverse("care:reply", args=[conv.pk]),
        {"text": "   ", "version": conv.version, "client_token": "e1"},
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 422
    assert "Write something first." in response.content.decode()


def test_a_note_with_a_mention_is_internal_and_highlighted(agent, agent2, conv):
    c = client_for(agent)
    response = c.post(
        reverse("care:reply", args=[conv.pk]),
        {"mode": "note", "text": "@dmitri can you check the courier?"},
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 200
    note = Message.objects.get(conversation=conv, direction="note")
    assert note.mentioned_user_ids == [agent2.pk]
    assert '<span class="mention-at">@dmitri</span>' in response.content.decode()
    # the page offers colleagues for autocomplete
    page = c.get(reverse("care:conversation", args=[conv.pk])).content.decode()
    assert '"handle": "dmitri"' in page


def test_status_buttons_and_assignment(agent, manager, agent2, conv):
    c = client_for(agent)
    c.post(reverse("care:status", args=[conv.pk]), {"status": "pending", "version": conv.version})
    conv.refresh_from_db()
    assert conv.status == Status.PENDING and conv.sla_paused_at is not None
    c.post(reverse("care:status", args=[conv.pk]), {"status": "resolved", "version": conv.version})
    conv.refresh_from_db()
    assert conv.status == Status.RESOLVED
    c.post(reverse("care:status", args=[conv.pk]), {"status": "open", "version": conv.version})
    conv.refresh_from_db()
    assert conv.status == Status.OPEN
    c.post(reverse("care:assign", args=[conv.pk]), {"assignee": "me", "version": conv.version})
    conv.refresh_from_db()
    assert conv.assignee_id == agent.pk
    # an agent may not hand it to a colleague; a manager may
    response = c.post(
        reverse("care:assign", args=[conv.pk]),
        {"assignee": str(agent2.pk), "version": conv.version},
        follow=True,
    )
    conv.refresh_from_db()
    assert conv.assignee_id == agent.pk
    assert "Only a care manager can assign" in response.content.decode()
    client_for(manager).post(
        reverse("care:assign", args=[conv.pk]),
        {"assignee": str(agent2.pk), "version": conv.version},
    )
    conv.refresh_from_db()
    assert conv.assignee_id == agent2.pk


def test_a_stale_status_change_is_refused_with_a_message(agent, agent2, conv):
    seen = conv.version
    services.conversation_assign(conversation_id=conv.pk, assignee_id=agent2.pk, actor=agent2)
    response = client_for(agent).post(
        reverse("care:status", args=[conv.pk]), {"status": "resolved", "version": seen}, follow=True
    )
    conv.refresh_from_db()
    assert conv.status == Status.OPEN
    assert "review before sending" in response.content.decode()


def test_presence_heartbeat_shows_the_other_agent(agent, agent2, conv):
    client_for(agent2).post(reverse("care:presence", args=[conv.pk]), {"state": "typing"})
    response = client_for(agent).post(
        reverse("care:presence", args=[conv.pk]), {"state": "viewing"}
    )
    assert response.status_code == 200
    assert "Dmitri Volkov is typing a reply" in response.content.decode()
    bad = client_for(agent).post(reverse("care:presence", args=[conv.pk]), {"state": "dancing"})
    assert bad.status_code == 422


def test_link_an_unknown_author_to_a_customer(agent, conv):
    customer = customer_create(name="Olga Petrova", email="olga@example.com", actor=None)
    c = client_for(agent)
    found = c.get(reverse("care:customer_search", args=[conv.pk]), {"q": "olga"})
    assert "Olga Petrova" in found.content.decode()
    missing_note = c.post(
        reverse("care:link_customer", args=[conv.pk]), {"customer_id": customer.pk}, follow=True
    )
    conv.refresh_from_db()
    assert conv.customer_id is None
    assert missing_note.status_code == 200
    c.post(
        reverse("care:link_customer", args=[conv.pk]),
        {"customer_id": customer.pk, "consent_note": "Confirmed by e-mail, ticket 4411"},
    )
    conv.refresh_from_db()
    assert conv.customer_id == customer.pk
    page = c.get(reverse("care:conversation", args=[conv.pk])).content.decode()
    assert f'href="/customers/{customer.pk}/" id="customer-link"' in page


def test_open_from_mention_redirects_to_the_conversation(agent, brand, store, raw):
    [m] = store(raw(text="Northwind beans are fine I guess"))
    response = client_for(agent).post(reverse("care:open", args=[m.pk]))
    conv = Conversation.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("care:conversation", args=[conv.pk])
