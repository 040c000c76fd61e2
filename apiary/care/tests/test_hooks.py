"""The after_store hook: rules open conversations, replies join their thread's conversation,
resolved ones reopen, and a batch handed over twice makes nothing twice."""

from __future__ import annotations

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from apiary.care import hooks, rules, services
from apiary.care.models import Conversation, ConversationLog, InboxEvent, Message, Status
from apiary.listening.consumer import PipelineState, store_enriched
from apiary.listening.pipeline import enrich

pytestmark = pytest.mark.django_db

SUPPORT_EN = "@northwind my order never arrived, I need help with a refund"


def test_support_mention_opens_a_conversation(brand, support_rule, store, raw):
    # given a support rule and a brand mention asking for help
    # when it is stored
    [m] = store(raw(text=SUPPORT_EN, author_followers=5_000))
    # then one open conversation holds it, with a reason, priority factors and an SLA deadline
    c = Conversation.objects.get()
    assert c.status == Status.OPEN
    assert c.opened_reason == "Support"
    assert c.thread_key == m.external_id
    assert c.intent == "support"
    assert c.priority_score == sum(f["points"] for f in c.priority_factors)
    assert {f["factor"] for f in c.priority_factors} >= {"influence", "intent"}
    assert c.sla_due_at is not None and c.sla_due_at > c.created_at
    assert list(c.messages.values_list("mention_id", "direction")) == [(m.pk, "inbound")]
    kinds = list(InboxEvent.objects.values_list("kind", flat=True))
    assert "conversation.created" in kinds and "message.created" in kinds
    assert ConversationLog.objects.filter(conversation=c, action="opened").exists()


def test_nothing_matches_nothing_opens(brand, support_rule, store, raw):
    store(raw(text="Northwind espresso is lovely this morning"))
    assert Conversation.objects.count() == 0


def test_reply_joins_and_reopens_a_resolved_conversation(brand, support_rule, store, raw, agent):
    # given a conversation that an agent resolved
    [root] = store(raw(text=SUPPORT_EN))
    c = Conversation.objects.get()
    services.conversation_status_set(conversation_id=c.pk, status="resolved", actor=agent)
    # when the customer writes again in the same thread, with text no rule matches
    [reply] = store(raw(text="hello again", parent_external_id=root.external_id))
    # and a reply to that reply (two levels down)
    [deeper] = store(raw(text="anyone?", parent_external_id=reply.external_id))
    # then both joined the same conversation, which is open again
    c.refresh_from_db()
    assert Conversation.objects.count() == 1
    assert c.status == Status.OPEN and c.resolved_at is None
    assert set(c.messages.values_list("mention_id", flat=True)) == {root.pk, reply.pk, deeper.pk}
    assert ConversationLog.objects.filter(conversation=c, action="reopened").exists()


def test_reply_to_our_sent_reply_joins(brand, support_rule, store, raw, agent):
    store(raw(text=SUPPORT_EN))
    c = Conversation.objects.get()
    m = services.reply_create(
        conversation_id=c.pk, user=agent, text="Sorry! DM us", version=c.version, client_token="t1"
    )
    Message.objects.filter(pk=m.pk).update(delivery="sent", external_id="at://brand/post/1")
    [follow] = store(raw(text="thanks", parent_external_id="at://brand/post/1"))
    assert Message.objects.get(mention_id=follow.pk).conversation_id == c.pk


def test_reply_and_parent_in_one_batch_share_a_conversation(brand, support_rule, store, raw):
    parent = raw(text=SUPPORT_EN)
    child = raw(text="same problem here", parent_external_id=parent.external_id)
    store(parent, child)
    c = Conversation.objects.get()
    assert c.messages.count() == 2


def test_hook_run_twice_on_the_same_batch_makes_no_duplicates(brand, support_rule, raw):
    # given one stored batch
    state = PipelineState()
    batch = [raw(text=SUPPORT_EN), raw(text=SUPPORT_EN + " please")]
    enriched = enrich(batch, book=state.book(), identities=state.identities())
    with transaction.atomic():
        result = store_enriched(enriched)
    # when the hook is handed the same batch again (a retried delivery)
    with transaction.atomic():
        hooks.open_conversations_after_store(enriched, result)
    # then nothing was made twice
    assert Conversation.objects.count() == 2
    assert Message.objects.count() == 2
    assert InboxEvent.objects.filter(kind="conversation.created").count() == 2


def test_pending_conversation_resumes_when_the_customer_answers(
    brand, support_rule, store, raw, agent
):
    [root] = store(raw(text=SUPPORT_EN))
    c = Conversation.objects.get()
    services.conversation_status_set(conversation_id=c.pk, status="pending", actor=agent)
    c.refresh_from_db()
    assert c.sla_paused_at is not None
    store(raw(text="here is my order number", parent_external_id=root.external_id))
    c.refresh_from_db()
    assert c.status == Status.OPEN and c.sla_paused_at is None


def test_a_batch_costs_a_few_queries_not_one_per_mention(brand, support_rule, raw):
    state = PipelineState()
    batch = [raw(text=f"{SUPPORT_EN} #{i}") for i in range(40)]
    enriched = enrich(batch, book=state.book(), identities=state.identities())
    with transaction.atomic():
        from apiary.listening.services.store import mentions_store

        result = mentions_store(enriched)
        rules.rule_book()  # warm, as in a running consumer
        with CaptureQueriesContext(connection) as ctx:
            hooks.open_conversations_after_store(enriched, result)
    assert Conversation.objects.count() == 40
    assert len(ctx.captured_queries) <= 20


def test_manual_open_is_idempotent_and_joins_the_thread(brand, store, raw, agent):
    # given no rules at all: nothing opens by itself
    [root] = store(raw(text="Northwind is fine"))
    [reply] = store(raw(text="is it?", parent_external_id=root.external_id))
    assert Conversation.objects.count() == 0
    # when an agent opens the reply, then the root
    c1 = services.conversation_open_from_mention(mention_id=reply.pk, user=agent)
    c2 = services.conversation_open_from_mention(mention_id=root.pk, user=agent)
    c3 = services.conversation_open_from_mention(mention_id=reply.pk, user=agent)
    # then it is one conversation keyed by the thread's root
    assert c1.pk == c2.pk == c3.pk
    assert c1.thread_key == root.external_id
    assert c1.opened_reason == "manual" and c1.opened_by_id == agent.pk
    assert Message.objects.filter(conversation=c1).count() == 2


def test_mention_action_hidden_until_the_inbox_pages_exist(brand, store, raw):
    [m] = store(raw(text="Northwind"))
    url = hooks._open_url(m)
    from django.urls import NoReverseMatch, reverse

    try:
        expected = reverse("care:open", args=[m.pk])
    except NoReverseMatch:
        expected = None
    assert url == expected
