"""Delivery bookkeeping: where a reply can go, settings, agent retry, enqueueing, the sweeper."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone

from apiary.accounts.models import Role
from apiary.care import replies, services
from apiary.care.models import Delivery, InboxEvent, Message
from apiary.listening.fakes.bluesky_pds import FakeBlueskyPDS
from apiary.listening.fakes.webhook_receiver import FakeWebhookReceiver
from apiary.listening.services.sources import source_update

from .test_replies_support import (  # noqa: F401 (fixtures)
    _fresh_sessions,
    later,
    make_conversation,
    make_source,
    queue_reply,
)

PASSWORD = "abcd-efgh-ijkl-mnop"


@pytest.fixture
def agent(make_user):
    return make_user(Role.CARE_AGENT, email="agent@example.com", display_name="Ana")


@pytest.fixture
def pds():
    with FakeBlueskyPDS() as server:
        server.account("northwind.bsky.social", PASSWORD)
        yield server


def bluesky_conversation(pds):
    source = make_source(
        "bluesky",
        {
            "url": "ws://127.0.0.1:1/subscribe",
            "reply_pds_url": pds.url,
            "reply_identifier": "northwind.bsky.social",
            "reply_secret": PASSWORD,
        },
    )
    post = pds.post("did:plc:customer", "help please")
    return make_conversation(source=source, external_id=post["uri"])


# --- can_reply ---------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["rss", "replay", "file"])
def test_sources_without_a_way_back_say_so_before_the_agent_types(db, kind):
    conversation = make_conversation(
        source=make_source(kind), external_id=f"{kind}-1", platform="web"
    )

    ok, reason = replies.can_reply(conversation)

    assert ok is False
    assert reason.startswith("Replies are not possible on this source")


def test_a_reply_on_such_a_source_fails_with_that_reason(db, agent):
    conversation = make_conversation(source=make_source("rss"), external_id="rss-2", platform="web")
    message = queue_reply(conversation, agent)

    outcome = replies.deliver(message_id=message.pk)

    assert outcome.state == "failed"
    message.refresh_from_db()
    assert message.delivery_error == "Replies are not possible on this source."


def test_missing_credentials_and_deleted_sources_are_explained(db):
    bare = make_conversation(source=make_source("bluesky"), external_id="at://did:plc:x/a/b")
    assert replies.can_reply(bare) == (
        False,
        "This Bluesky source has no reply account: add its handle and an app password in the "
        "source's reply settings.",
    )
    hook = make_conversation(source=make_source("webhook"), external_id="w-1", platform="web")
    assert "no reply URL" in replies.can_reply(hook)[1]
    gone = make_source("webhook", {"reply_url": "http://x.example/", "reply_secret": "s" * 20})
    gone.deleted_at = timezone.now()
    gone.save()
    dead = make_conversation(source=gone, external_id="w-2", platform="web")
    assert "was deleted" in replies.can_reply(dead)[1]
    orphan = make_conversation(source=None, external_id="o-1", platform="web")
    assert "no source" in replies.can_reply(orphan)[1]


def test_a_configured_source_can_reply(db, pds):
    assert replies.can_reply(bluesky_conversation(pds)) == (True, "")


def test_the_reply_goes_to_the_latest_customer_message(db, pds, agent):
    from .test_replies_support import add_inbound

    conversation = bluesky_conversation(pds)
    follow_up = pds.post("did:plc:customer", "still waiting…")
    add_inbound(conversation, external_id=follow_up["uri"])

    replies.deliver(message_id=queue_reply(conversation, agent).pk)

    assert pds.posted[0]["value"]["reply"]["parent"]["uri"] == follow_up["uri"]


# --- settings ----------------------------------------------------------------------------


def test_reply_settings_are_validated_and_secrets_kept_when_masked(db, admin_user):
    source = make_source("bluesky", {"url": "wss://jet.example/subscribe"})
    with pytest.raises(ValidationError) as error:
        replies.reply_settings_set(source=source, settings={"reply_identifier": "a b"})
    assert "reply_identifier" in error.value.message_dict
    with pytest.raises(ValidationError):
        replies.reply_settings_set(source=source, settings={"reply_nonsense": 1})

    replies.reply_settings_set(
        source=source,
        settings={"reply_identifier": "@Brand.bsky.social", "reply_secret": "pw-1234"},
        actor=admin_user,
    )
    replies.reply_settings_set(
        source=source,
        settings={"reply_identifier": "brand.bsky.social", "reply_secret": "***"},
        actor=admin_user,
    )

    source.refresh_from_db()
    assert source.config["reply_identifier"] == "brand.bsky.social"
    assert source.config["reply_secret"] == "pw-1234"
    assert source.config["reply_pds_url"] == "https://bsky.social"
    assert source.config["url"] == "wss://jet.example/subscribe"


def test_a_webhook_source_gets_a_generated_secret_once(db):
    source = make_source("webhook", {"default_platform": "trustpilot"})

    _source, secret = replies.reply_settings_set(
        source=source, settings={"reply_url": "https://helpdesk.example/in"}
    )
    _source, again = replies.reply_settings_set(
        source=source, settings={"reply_url": "https://helpdesk.example/v2"}
    )

    source.refresh_from_db()
    assert secret and secret.startswith("whsec_")
    assert again is None and source.config["reply_secret"] == secret
    assert source.config["reply_url"] == "https://helpdesk.example/v2"


def test_settings_on_a_source_without_replies_are_refused(db):
    with pytest.raises(ValidationError):
        replies.reply_settings_set(source=make_source("rss"), settings={})


def test_editing_the_listening_config_keeps_the_reply_settings(db, admin_user):
    source = make_source("webhook", {"default_platform": "trustpilot"})
    replies.reply_settings_set(source=source, settings={"reply_url": "https://h.example/in"})

    source_update(source=source, config={"default_platform": "web"}, actor=admin_user)

    source.refresh_from_db()
    assert source.config["default_platform"] == "web"
    assert source.config["reply_url"] == "https://h.example/in"


def test_text_limits_are_checked_per_platform(db, pds):
    conversation = bluesky_conversation(pds)
    assert replies.reply_text_check(conversation=conversation, text="fine") is None
    assert "Bluesky allows 300" in replies.reply_text_check(
        conversation=conversation, text="x" * 301
    )
    assert replies.reply_text_check(conversation=conversation, text="  ") == "The reply is empty."


# --- agent retry -------------------------------------------------------------------------


def test_the_author_retries_a_failed_reply_and_it_goes_out(db, pds, agent, settings):
    settings.TASKS = {"default": {"BACKEND": "django_tasks.backends.immediate.ImmediateBackend"}}
    conversation = bluesky_conversation(pds)
    message = queue_reply(conversation, agent)
    pds.fault("500", on="any", times=100)
    replies.deliver(message_id=message.pk)
    Message.objects.filter(pk=message.pk).update(delivery=Delivery.FAILED, delivery_error="gave up")
    pds._faults.clear()

    from django.test import TestCase

    with TestCase.captureOnCommitCallbacks(execute=True):
        queued = replies.delivery_retry(message_id=message.pk, user=agent)
    assert queued.delivery == Delivery.QUEUED and queued.delivery_error == ""

    retried = Message.objects.get(pk=message.pk)
    assert retried.delivery == Delivery.SENT
    assert retried.delivery_attempts == 1
    assert len(pds.posted) == 1
    retry_event = InboxEvent.objects.filter(kind="message.delivery", user=agent).order_by("pk")
    assert retry_event.filter(data__retried_by=agent.pk).exists()


def test_only_the_author_or_a_manager_may_retry(db, pds, agent, make_user):
    conversation = bluesky_conversation(pds)
    message = queue_reply(conversation, agent)
    Message.objects.filter(pk=message.pk).update(delivery=Delivery.FAILED, delivery_error="x")
    colleague = make_user(Role.CARE_AGENT, email="colleague@example.com")
    manager = make_user(Role.CARE_MANAGER, email="lead@example.com")
    member = make_user(Role.MEMBER, email="m@example.com")

    with pytest.raises(PermissionDenied):
        replies.delivery_retry(message_id=message.pk, user=colleague)
    with pytest.raises(PermissionDenied):
        replies.delivery_retry(message_id=message.pk, user=member)
    assert replies.delivery_retry(message_id=message.pk, user=manager).delivery == Delivery.QUEUED


def test_a_reply_that_has_not_failed_cannot_be_retried(db, pds, agent):
    message = queue_reply(bluesky_conversation(pds), agent)

    with pytest.raises(ValidationError) as error:
        replies.delivery_retry(message_id=message.pk, user=agent)

    assert "Only a failed reply can be retried" in str(error.value)


# --- enqueueing and the sweeper --------------------------------------------------------


def test_a_reply_created_by_the_inbox_is_delivered_after_commit(db, pds, agent, settings):
    # given: the real write path (care services) and a task backend that runs at once
    settings.TASKS = {"default": {"BACKEND": "django_tasks.backends.immediate.ImmediateBackend"}}
    conversation = bluesky_conversation(pds)
    from django.test import TestCase

    # when
    with TestCase.captureOnCommitCallbacks(execute=True):
        message = services.reply_create(
            conversation_id=conversation.pk,
            user=agent,
            text="On it!",
            version=conversation.version,
            client_token="c0ffee-1",
        )

    # then
    message.refresh_from_db()
    assert message.delivery == Delivery.SENT
    assert pds.posted[0]["value"]["text"] == "On it!"


def test_the_sweeper_delivers_a_reply_whose_task_was_lost(db, pds, agent):
    message = queue_reply(bluesky_conversation(pds), agent)  # no task was ever enqueued

    assert replies.delivery_retry_due() == 1

    message.refresh_from_db()
    assert message.delivery == Delivery.SENT


def test_a_clock_that_jumped_back_does_not_strand_a_retry(db, pds, agent):
    message = queue_reply(bluesky_conversation(pds), agent)
    Message.objects.filter(pk=message.pk).update(
        next_attempt_at=timezone.now() + timedelta(days=3)  # scheduled before the clock jump
    )

    assert replies.delivery_retry_due() == 1
    message.refresh_from_db()
    assert message.delivery == Delivery.SENT


def test_an_unexpected_error_is_retried_not_stuck(db, pds, agent, monkeypatch):
    from apiary.care.outbound import bluesky

    message = queue_reply(bluesky_conversation(pds), agent)

    def broken(**kwargs):
        raise KeyError("surprise")

    monkeypatch.setattr(bluesky, "send", broken)
    outcome = replies.deliver(message_id=message.pk)

    assert outcome.state == "retry"
    message.refresh_from_db()
    assert message.delivery == Delivery.QUEUED
    assert "Unexpected error" in message.delivery_error


def test_delivery_events_never_carry_the_text(db, pds, agent):
    message = queue_reply(bluesky_conversation(pds), agent, "secret order details 12345")
    replies.deliver(message_id=message.pk)

    for event in InboxEvent.objects.filter(kind="message.delivery"):
        assert "12345" not in str(event.data)
        assert event.data["message_id"] == message.pk


def test_a_webhook_reply_end_to_end_through_the_sweeper(db, agent):
    with FakeWebhookReceiver(secret="s" * 24) as receiver:
        source = make_source("webhook", {"default_platform": "trustpilot"})
        replies.reply_settings_set(
            source=source, settings={"reply_url": receiver.url, "reply_secret": "s" * 24}
        )
        conversation = make_conversation(source=source, external_id="r-9", platform="web")
        queue_reply(conversation, agent)

        assert replies.delivery_retry_due(now=later(1)) == 1
        assert receiver.accepted[0].signature_ok
