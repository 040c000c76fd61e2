"""Care services: assignment (manual with version check, round-robin by skills, online state
and capacity, auto-assign), status, replies (idempotent, stale version, closed), notes with
@mentions, presence, linking an author to a customer, the first response."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from apiary.care import selectors, services
from apiary.care.models import (
    AgentProfile,
    Conversation,
    ConversationLog,
    InboxEvent,
    Message,
    Status,
)

pytestmark = pytest.mark.django_db

SUPPORT = "@northwind my order never arrived, I need help with a refund"


@pytest.fixture
def conversation(brand, support_rule, store, raw):
    store(raw(text=SUPPORT))
    return Conversation.objects.get()


def online(user, languages=(), max_open=25):
    services.agent_profile_update(user=user, languages=list(languages), max_open=max_open)
    services.agent_online_set(user=user, online=True)


# --- Assignment -------------------------------------------------------------------------------


def test_manual_assign_bumps_version_and_logs(conversation, agent, manager):
    c = services.conversation_assign(
        conversation_id=conversation.pk, assignee_id=agent.pk, actor=manager, version=1
    )
    assert c.assignee_id == agent.pk and c.version == 2
    log = ConversationLog.objects.get(conversation=c, action="assigned")
    assert log.actor_id == manager.pk and log.data["version"] == 2


def test_stale_version_names_who_changed_what(conversation, agent, agent2, manager):
    services.conversation_assign(
        conversation_id=conversation.pk, assignee_id=agent2.pk, actor=manager, version=1
    )
    with pytest.raises(services.ConversationChanged) as exc:
        services.conversation_status_set(
            conversation_id=conversation.pk, status="resolved", actor=agent, version=1
        )
    assert "Grace Okafor: assigned it to Dmitri Volkov" in str(exc.value)
    assert exc.value.current == 2 and exc.value.changes[0]["actor_id"] == manager.pk
    # one's own changes in another tab do not count as someone else's
    services.conversation_status_set(
        conversation_id=conversation.pk, status="pending", actor=manager, version=1
    )


def test_assignee_must_be_an_active_care_user(conversation, manager, make_user):
    from apiary.accounts.models import Role

    analyst = make_user(Role.ANALYST)
    with pytest.raises(ValidationError) as exc:
        services.conversation_assign(
            conversation_id=conversation.pk, assignee_id=analyst.pk, actor=manager
        )
    assert "assignee_id" in exc.value.message_dict


def test_round_robin_online_skilled_least_recent_with_room(conversation, agent, agent2, manager):
    # given Lucía (es) and Dmitri (ru, en) online, and the manager offline
    online(agent, ["es"])
    online(agent2, ["ru", "en"])
    Conversation.objects.filter(pk=conversation.pk).update(language="en")
    # when an English conversation is round-robined
    chosen = services.conversation_assign_round_robin(conversation_id=conversation.pk)
    # then it goes to the agent with English
    assert chosen == agent2
    # an agent seen too long ago is not online any more
    AgentProfile.objects.filter(user=agent2).update(
        last_seen_at=timezone.now() - timedelta(minutes=10)
    )
    Conversation.objects.filter(pk=conversation.pk).update(assignee=None)
    assert services.conversation_assign_round_robin(conversation_id=conversation.pk) is None


def test_round_robin_rotates_and_respects_capacity(brand, support_rule, store, raw, agent, agent2):
    online(agent)
    online(agent2, max_open=1)
    store(*[raw(text=f"{SUPPORT} #{i}") for i in range(4)])
    # auto-assign spread them; Dmitri took one (his maximum), Lucía the rest
    counts = dict(
        Conversation.objects.values_list("assignee_id").annotate(
            n=__import__("django.db.models", fromlist=["Count"]).Count("pk")
        )
    )
    assert counts == {agent.pk: 3, agent2.pk: 1}
    assert (
        InboxEvent.objects.filter(kind="conversation.updated", data__change="assigned").count() == 4
    )


def test_auto_assign_can_be_switched_off(brand, support_rule, store, raw, agent, settings):
    settings.APIARY_CARE_AUTO_ASSIGN = False
    online(agent)
    store(raw(text=SUPPORT))
    assert Conversation.objects.get().assignee_id is None


# --- Status -----------------------------------------------------------------------------------


def test_pending_pauses_and_open_resumes_the_sla(conversation, agent):
    c = services.conversation_status_set(
        conversation_id=conversation.pk, status="pending", actor=agent
    )
    assert c.sla_paused_at is not None
    c = services.conversation_status_set(conversation_id=c.pk, status="open", actor=agent)
    assert c.sla_paused_at is None and c.sla_due_at >= conversation.sla_due_at
    c = services.conversation_status_set(conversation_id=c.pk, status="resolved", actor=agent)
    assert c.resolved_at is not None
    with pytest.raises(ValidationError):
        services.conversation_status_set(conversation_id=c.pk, status="closed", actor=agent)


def test_manual_priority_takes_the_policy_of_that_priority(conversation, agent):
    from apiary.care import sla

    sla.sla_policies_ensure_defaults()
    c = services.conversation_priority_set(
        conversation_id=conversation.pk, priority_level="urgent", actor=agent
    )
    assert c.priority == "urgent" and c.sla_policy.priority == "urgent"
    assert c.sla_due_at == c.created_at + timedelta(minutes=15)
    assert c.priority_factors[-1]["factor"] == "manual"


# --- Replies ----------------------------------------------------------------------------------


def test_reply_is_queued_bumps_version_and_claims(conversation, agent):
    m = services.reply_create(
        conversation_id=conversation.pk, user=agent, text=" Sorry! ", version=1, client_token="a-1"
    )
    conversation.refresh_from_db()
    assert m.direction == "outbound" and m.delivery == "queued" and m.text == "Sorry!"
    assert m.next_attempt_at is not None  # the sweeper finds it even if the enqueue is lost
    assert conversation.version == 2 and conversation.assignee_id == agent.pk
    assert InboxEvent.objects.filter(kind="message.created", data__direction="outbound").exists()


def test_same_client_token_twice_is_one_reply(conversation, agent):
    a = services.reply_create(
        conversation_id=conversation.pk, user=agent, text="Hi", version=1, client_token="tok"
    )
    b = services.reply_create(
        conversation_id=conversation.pk, user=agent, text="Hi", version=1, client_token="tok"
    )
    assert a.pk == b.pk
    assert Message.objects.filter(direction="outbound").count() == 1


def test_two_agents_cannot_both_reply_to_the_same_version(conversation, agent, agent2):
    services.reply_create(
        conversation_id=conversation.pk, user=agent, text="Hi", version=1, client_token="x1"
    )
    with pytest.raises(services.ConversationChanged) as exc:
        services.reply_create(
            conversation_id=conversation.pk, user=agent2, text="Hello", version=1, client_token="x2"
        )
    assert "Lucía Fernández: replied" in str(exc.value)
    assert Message.objects.filter(direction="outbound").count() == 1


def test_reply_to_a_conversation_someone_just_resolved(conversation, agent, agent2):
    services.conversation_status_set(
        conversation_id=conversation.pk, status="resolved", actor=agent
    )
    with pytest.raises(services.ConversationClosed) as exc:
        services.reply_create(
            conversation_id=conversation.pk, user=agent2, text="Hi", version=2, client_token="c1"
        )
    assert "Lucía Fernández resolved this conversation" in str(exc.value)
    assert "Reopen" in str(exc.value)
    assert not Message.objects.filter(direction="outbound").exists()


@pytest.mark.parametrize(
    "kwargs,field",
    [
        ({"text": "   "}, "text"),
        ({"text": "x" * 5001}, "text"),
        ({"client_token": "bad token!"}, "client_token"),
        ({"canned_response_id": 99999}, "canned_response_id"),
        ({"version": "1"}, "version"),
    ],
)
def test_bad_reply_input(conversation, agent, kwargs, field):
    args = {"text": "Hi", "version": 1, "client_token": "ok-1", **kwargs}
    with pytest.raises(ValidationError) as exc:
        services.reply_create(conversation_id=conversation.pk, user=agent, **args)
    assert field in exc.value.message_dict


def test_token_of_another_reply_is_refused(conversation, agent, agent2):
    services.reply_create(
        conversation_id=conversation.pk, user=agent, text="Hi", version=1, client_token="mine"
    )
    with pytest.raises(ValidationError) as exc:
        services.reply_create(
            conversation_id=conversation.pk, user=agent2, text="Hi", version=2, client_token="mine"
        )
    assert "client_token" in exc.value.message_dict


def test_first_response_recorded_once_never_before_opening(conversation):
    early = conversation.created_at - timedelta(hours=1)  # a clock that went back
    assert services.first_response_record(conversation_id=conversation.pk, at=early) is True
    assert (
        services.first_response_record(conversation_id=conversation.pk, at=timezone.now()) is False
    )
    conversation.refresh_from_db()
    assert conversation.first_response_at == conversation.created_at


# --- Notes, presence --------------------------------------------------------------------------


def test_note_mentions_colleagues_by_local_part_and_name(conversation, agent, agent2, manager):
    note = services.note_add(
        conversation_id=conversation.pk,
        user=agent,
        text="@grace.okafor can we refund? cc @dmitri, and @nobody @lucía",
    )
    assert note.direction == "note" and note.delivery == ""
    assert sorted(note.mentioned_user_ids) == sorted([manager.pk, agent2.pk])
    conversation.refresh_from_db()
    assert conversation.version == 1  # a note never makes someone's reply stale
    [event] = selectors.events_after(after_id=0, user=manager, limit=500)[-1:]
    assert event["kind"] == "message.created" and event["mentions_me"] is True


def test_presence_viewing_typing_and_leaving(conversation, agent, agent2):
    services.presence_touch(conversation_id=conversation.pk, user=agent, state="viewing")
    services.presence_touch(conversation_id=conversation.pk, user=agent, state="viewing")
    services.presence_touch(conversation_id=conversation.pk, user=agent, state="typing")
    others = selectors.presence_for(conversation_id=conversation.pk, exclude_user_id=agent2.pk)
    assert [(o["user_id"], o["state"]) for o in others] == [(agent.pk, "typing")]
    assert selectors.presence_for(conversation_id=conversation.pk, exclude_user_id=agent.pk) == []
    # an announcement per change, not per ping
    assert InboxEvent.objects.filter(kind="presence", conversation=conversation).count() == 2
    services.presence_leave(conversation_id=conversation.pk, user=agent)
    assert selectors.presence_for(conversation_id=conversation.pk, exclude_user_id=agent2.pk) == []
    with pytest.raises(ValidationError):
        services.presence_touch(conversation_id=conversation.pk, user=agent, state="dancing")


# --- Customer link and sidebar ----------------------------------------------------------------


def test_link_author_to_customer_through_identity_rules(conversation, agent):
    from apiary.accounts.models import AuditEntry
    from apiary.customers.models import ConsentRecord, Customer, SocialIdentity

    customer = Customer.objects.create(name="Ana", email="ana@example.com")
    c = services.author_link_customer(
        conversation_id=conversation.pk,
        customer_id=customer.pk,
        user=agent,
        consent_note="Customer agreed in DM to link this account",
    )
    assert c.customer_id == customer.pk
    identity = SocialIdentity.objects.get(customer=customer)
    assert identity.handle == conversation.author_handle
    assert ConsentRecord.objects.get(identity=identity).touchpoint == "support_form"
    assert AuditEntry.objects.filter(action="care.customer_link").exists()
    side = selectors.customer_sidebar(conversation=c, user=agent)
    assert side["customer"] == customer and side["identities"] == [identity]
    assert side["community"]["available"] in (True, False) and "community" in side
    # without a consent note it is refused
    other = Customer.objects.create(name="Bo", email="bo@example.com")
    with pytest.raises(ValidationError):
        services.author_link_customer(
            conversation_id=c.pk, customer_id=other.pk, user=agent, consent_note=" "
        )


def test_sla_report_counts_and_medians(conversation, agent):
    now = timezone.now()
    services.first_response_record(
        conversation_id=conversation.pk, at=conversation.created_at + timedelta(minutes=4)
    )
    services.conversation_status_set(
        conversation_id=conversation.pk, status="resolved", actor=agent
    )
    report = selectors.sla_report(
        since=now - timedelta(days=1), until=now + timedelta(hours=1), group_by="platform"
    )
    assert report["overall"]["total"] == 1 and report["overall"]["met"] == 1
    assert report["overall"]["sla_met_pct"] == 100.0
    assert report["overall"]["median_first_response_seconds"] == 240.0
    assert report["groups"][0]["key"] == "bluesky"
    with pytest.raises(ValidationError):
        selectors.sla_report(since=now, until=now - timedelta(days=1))
    with pytest.raises(ValidationError):
        selectors.sla_report(since=now - timedelta(days=1), until=now, group_by="moon")


def test_inbox_views_filters_and_keyset_pages(brand, support_rule, store, raw, agent):
    store(*[raw(text=f"{SUPPORT} #{i}") for i in range(7)])
    first = Conversation.objects.order_by("pk").first()
    services.conversation_assign(conversation_id=first.pk, assignee_id=agent.pk, actor=agent)
    mine = selectors.inbox_list(user=agent, view="mine")
    assert [c.pk for c in mine["items"]] == [first.pk]
    seen, cursor = [], None
    while True:
        page = selectors.inbox_list(user=agent, view="all", cursor=cursor, limit=3)
        seen += [c.pk for c in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert len(seen) == len(set(seen)) == 7
    un = selectors.inbox_list(user=agent, view="unassigned", filters={"sla": "running,warning"})
    assert len(un["items"]) == 6
    with pytest.raises(ValidationError) as exc:
        selectors.inbox_list(user=agent, filters={"sentiment": "furious"})
    assert "sentiment" in exc.value.message_dict
    with pytest.raises(ValidationError):
        selectors.inbox_list(user=agent, cursor="garbage")
    assert selectors.inbox_counts(user=agent)["all"] == 7
    resolved = selectors.inbox_list(user=agent, filters={"status": "resolved"})
    assert resolved["items"] == [] and Status.RESOLVED == "resolved"


def test_timeline_export_and_erasure_of_a_customers_conversations(conversation, agent, admin_user):
    from apiary.customers import timeline
    from apiary.customers.models import Customer
    from apiary.customers.services.privacy import customer_erase, customer_export

    customer = Customer.objects.create(name="Ana", email="ana@example.com")
    services.author_link_customer(
        conversation_id=conversation.pk, customer_id=customer.pk, user=agent, consent_note="ok"
    )
    services.note_add(conversation_id=conversation.pk, user=agent, text="internal: VIP")
    events = timeline.customer_timeline(customer_ids=[customer.pk], kinds=["conversation"])
    assert [e.ref for e in events] == [f"conversation:{conversation.pk}"]
    exported = customer_export(customer=customer, actor=admin_user)["extra"]["care_conversations"]
    assert exported[0]["messages"][0]["text"] == conversation.messages.first().text
    assert all("VIP" not in m["text"] for m in exported[0]["messages"])
    customer_erase(customer=customer, actor=admin_user)
    conversation.refresh_from_db()
    assert conversation.customer_id is None and conversation.author_handle == ""
    assert set(conversation.messages.values_list("text", flat=True)) == {"[erased]"}
