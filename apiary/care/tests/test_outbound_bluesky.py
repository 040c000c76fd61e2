"""Replies to Bluesky through the fake PDS (real XRPC over HTTP on 127.0.0.1)."""

from __future__ import annotations

import threading
import time

import pytest

from apiary.accounts.models import Role
from apiary.care import replies
from apiary.care.models import Conversation, Delivery, InboxEvent, Message
from apiary.care.outbound.bluesky import graphemes, record_key
from apiary.listening.connectors import RecordingContext
from apiary.listening.connectors.bluesky import BlueskyConnector
from apiary.listening.fakes.bluesky_pds import FakeBlueskyPDS
from apiary.listening.fakes.jetstream import FakeJetstream

from .test_replies_support import (  # noqa: F401 (fixtures)
    _fresh_sessions,
    fast_timeouts,
    later,
    make_conversation,
    make_source,
    queue_reply,
)

CUSTOMER = "did:plc:customeralice"
PASSWORD = "abcd-efgh-ijkl-mnop"


@pytest.fixture
def pds():
    with FakeBlueskyPDS() as server:
        server.account("northwind.bsky.social", PASSWORD)
        yield server


@pytest.fixture
def agent(make_user):
    return make_user(Role.CARE_AGENT, email="agent@example.com", display_name="Ana")


def bluesky_source(pds, **extra):
    config = {
        "url": "ws://127.0.0.1:1/subscribe",
        "reply_pds_url": pds.url,
        "reply_identifier": "northwind.bsky.social",
        "reply_secret": PASSWORD,
        **extra,
    }
    return make_source("bluesky", config)


def conversation_on(pds, source, text="Where is my order?", reply_to=None):
    post = pds.post(CUSTOMER, text, reply_to=reply_to)
    return make_conversation(source=source, external_id=post["uri"], platform="bluesky"), post


def test_a_reply_reaches_the_pds_with_root_and_parent_refs(db, pds, agent):
    # given: a customer's post answering another post of the same thread
    source = bluesky_source(pds)
    root = pds.post("did:plc:someoneelse", "Northwind launched a new blend")
    conversation, post = conversation_on(pds, source, "Mine never arrived", reply_to=root["uri"])
    message = queue_reply(conversation, agent, "Sorry Alice — we're checking your order now 📦")

    # when
    outcome = replies.deliver(message_id=message.pk)

    # then: one post, replying to the customer's post in the thread that started at the root
    assert outcome.state == "sent"
    assert len(pds.posted) == 1
    made = pds.posted[0]
    record = made["value"]
    assert record["reply"]["parent"] == {"uri": post["uri"], "cid": post["cid"]}
    assert record["reply"]["root"] == {"uri": root["uri"], "cid": root["cid"]}
    assert record["text"] == "Sorry Alice — we're checking your order now 📦"
    assert record["langs"] == ["en"]
    assert made["uri"].endswith("/" + record_key(message))
    message.refresh_from_db()
    assert message.delivery == Delivery.SENT
    assert message.external_id == made["uri"]
    assert message.external_url == (
        f"https://bsky.app/profile/{made['repo']}/post/{record_key(message)}"
    )
    assert message.sent_at is not None and message.delivery_attempts == 1
    conversation.refresh_from_db()
    assert conversation.first_response_at == message.sent_at
    states = [
        e.data["delivery"]
        for e in InboxEvent.objects.filter(kind="message.delivery").order_by("pk")
    ]
    assert states == ["sending", "sent"]


def test_a_mention_read_from_jetstream_is_answered_in_its_thread(db, agent):
    # given: the customer's post reaches us through the Jetstream connector
    with FakeJetstream() as jet, FakeBlueskyPDS(jetstream=jet) as pds:
        pds.account("northwind.bsky.social", PASSWORD)
        ctx = RecordingContext(config={"url": jet.url}, stop_after=1)
        thread = threading.Thread(target=BlueskyConnector(ctx).run, daemon=True)
        thread.start()
        assert jet.wait_for_connections(1)
        post = pds.post(CUSTOMER, "@northwind my grinder is broken", langs=["en"])
        thread.join(5)
        assert len(ctx.mentions) == 1
        raw = ctx.mentions[0]
        source = bluesky_source(pds)
        conversation = make_conversation(
            source=source, external_id=raw.external_id, platform=raw.platform
        )
        message = queue_reply(conversation, agent, "Sorry to hear that! DM us your order?")

        # when
        outcome = replies.deliver(message_id=message.pk)

        # then
        assert outcome.state == "sent"
        assert raw.external_id == post["uri"]
        assert pds.posted[0]["value"]["reply"]["parent"]["cid"] == post["cid"]


def test_an_expired_access_token_is_refreshed_not_a_new_session(db, pds, agent):
    # given: one reply sent, then every access token expires
    source = bluesky_source(pds)
    conversation, _post = conversation_on(pds, source)
    first = queue_reply(conversation, agent, "First answer")
    assert replies.deliver(message_id=first.pk).state == "sent"
    pds.expire_tokens()
    second = queue_reply(conversation, agent, "Second answer")

    # when
    outcome = replies.deliver(message_id=second.pk)

    # then: refreshed once; the session was not recreated
    assert outcome.state == "sent"
    assert pds.sessions_created == 1
    assert pds.refreshes == 1
    assert [p["value"]["text"] for p in pds.posted] == ["First answer", "Second answer"]
    assert [r.error for r in pds.calls("getRecord")].count("ExpiredToken") == 1


def test_when_the_refresh_token_expired_too_it_signs_in_again(db, pds, agent):
    source = bluesky_source(pds)
    conversation, _post = conversation_on(pds, source)
    assert replies.deliver(message_id=queue_reply(conversation, agent).pk).state == "sent"
    pds.expire_tokens()
    pds.expire_refresh_tokens()

    outcome = replies.deliver(message_id=queue_reply(conversation, agent, "again").pk)

    assert outcome.state == "sent"
    assert pds.sessions_created == 2
    assert len(pds.posted) == 2


def test_a_wrong_app_password_fails_at_once_with_a_clear_reason(db, pds, agent):
    source = bluesky_source(pds, reply_secret="wrong-pass-word-xxx")
    conversation, _post = conversation_on(pds, source)
    message = queue_reply(conversation, agent)

    outcome = replies.deliver(message_id=message.pk)

    assert outcome.state == "failed"
    message.refresh_from_db()
    assert message.delivery == Delivery.FAILED
    assert "identifier or app password" in message.delivery_error
    assert pds.posted == []


def test_replying_to_a_deleted_post_fails_with_that_reason(db, pds, agent):
    # given: the customer deleted the post after writing it
    source = bluesky_source(pds)
    conversation, post = conversation_on(pds, source)
    pds.delete(post["uri"])
    message = queue_reply(conversation, agent)

    # when
    outcome = replies.deliver(message_id=message.pk)

    # then: failed at the first attempt, not retried, nothing posted
    assert outcome.state == "failed"
    message.refresh_from_db()
    assert message.delivery == Delivery.FAILED
    assert message.delivery_error == "The post you are replying to was deleted."
    assert message.delivery_attempts == 1 and message.next_attempt_at is None
    assert pds.posted == []
    assert replies.delivery_retry_due(now=later(3600)) == 0


def test_rate_limited_reply_waits_for_the_reset_then_goes_out(db, pds, agent):
    # given: the PDS answers 429 with a reset 40 s away
    source = bluesky_source(pds)
    conversation, _post = conversation_on(pds, source)
    message = queue_reply(conversation, agent)
    pds.fault("429", on="createRecord", reset_in=40)

    # when
    first = replies.deliver(message_id=message.pk)

    # then: queued for the reset (longer than the 10 s back-off), not yet posted
    assert first.state == "retry"
    message.refresh_from_db()
    assert message.delivery == Delivery.QUEUED
    wait = (message.next_attempt_at - later(0)).total_seconds()
    assert 35 <= wait <= 41
    assert "rate limiting" in message.delivery_error
    assert replies.delivery_retry_due(now=later(5)) == 0  # not due yet
    assert pds.posted == []

    # when the reset has passed
    assert replies.delivery_retry_due(now=later(45)) == 1

    # then
    message.refresh_from_db()
    assert message.delivery == Delivery.SENT and message.delivery_attempts == 2
    assert message.delivery_error == ""
    assert len(pds.posted) == 1


def test_a_server_error_is_retried_and_then_sent(db, pds, agent):
    source = bluesky_source(pds)
    conversation, _post = conversation_on(pds, source)
    message = queue_reply(conversation, agent)
    pds.fault("500", on="getRecord")

    assert replies.deliver(message_id=message.pk).state == "retry"
    message.refresh_from_db()
    assert "HTTP 500" in message.delivery_error
    assert 9 <= (message.next_attempt_at - later(0)).total_seconds() <= 10.5

    assert replies.delivery_retry_due(now=later(11)) == 1
    message.refresh_from_db()
    assert message.delivery == Delivery.SENT
    assert len(pds.posted) == 1


@pytest.mark.usefixtures("fast_timeouts")
def test_a_timeout_after_the_post_was_made_does_not_post_twice(db, pds, agent):
    # given: the PDS makes the record but answers after the client gave up
    source = bluesky_source(pds)
    conversation, _post = conversation_on(pds, source)
    message = queue_reply(conversation, agent)
    pds.fault("slow", on="createRecord", delay=1.0)

    # when
    first = replies.deliver(message_id=message.pk)

    # then: a retry is scheduled; the retry finds the earlier post by its record key
    assert first.state == "retry"
    assert "did not answer in time" in first.error
    time.sleep(0.7)  # let the slow answer finish
    assert replies.delivery_retry_due(now=later(11)) == 1
    message.refresh_from_db()
    assert message.delivery == Delivery.SENT
    assert len(pds.posted) == 1
    assert message.external_id == pds.posted[0]["uri"]


def test_a_dropped_connection_is_transient(db, pds, agent):
    source = bluesky_source(pds)
    conversation, _post = conversation_on(pds, source)
    message = queue_reply(conversation, agent)
    pds.fault("drop", on="createSession")

    outcome = replies.deliver(message_id=message.pk)

    assert outcome.state == "retry"
    assert "Could not reach Bluesky" in outcome.error


def test_too_long_a_reply_is_refused_not_split(db, pds, agent):
    source = bluesky_source(pds)
    conversation, _post = conversation_on(pds, source)
    text = "Thanks for your patience! " * 12  # 312 characters
    message = queue_reply(conversation, agent, text)

    assert replies.reply_text_check(conversation=conversation, text=text) is not None
    outcome = replies.deliver(message_id=message.pk)

    assert outcome.state == "failed"
    assert "Bluesky allows 300" in outcome.error
    assert pds.posted == []


def test_graphemes_count_what_a_reader_sees():
    assert graphemes("hello") == 5
    assert graphemes("👩‍👩‍👧‍👦") == 1  # a ZWJ family
    assert graphemes("🇪🇸🇷🇺") == 2  # two flags
    assert graphemes("👍🏽") == 1  # a skin tone
    assert graphemes("café") == 4 and graphemes("cafe\u0301") == 4  # combining accent
    assert graphemes("\r\n") == 1


def test_three_hundred_emoji_fit_though_they_are_many_code_points(db, pds, agent):
    source = bluesky_source(pds)
    conversation, _post = conversation_on(pds, source)
    text = "👍🏽" * 300
    assert replies.reply_text_check(conversation=conversation, text=text) is None
    # 300 graphemes but 2,400 bytes: inside both of Bluesky's limits
    assert replies.deliver(message_id=queue_reply(conversation, agent, text).pk).state == "sent"


def test_six_transient_failures_end_in_failed_with_the_last_reason(db, pds, agent):
    # given: the PDS is broken for longer than the whole schedule
    source = bluesky_source(pds)
    conversation, _post = conversation_on(pds, source)
    message = queue_reply(conversation, agent)
    pds.fault("500", on="any", times=100)

    # when: every scheduled attempt runs
    outcomes = [replies.deliver(message_id=message.pk).state]
    delays = []
    for _n in range(5):
        message.refresh_from_db()
        delays.append(round((message.next_attempt_at - message.created_at).total_seconds()))
        replies.delivery_retry_due(now=message.next_attempt_at)
        message.refresh_from_db()
        outcomes.append(message.delivery)

    # then: 10 s, 30 s, 2 min, 10 min, 30 min, then failed — never dropped
    assert outcomes == ["retry", "queued", "queued", "queued", "queued", "failed"]
    assert message.delivery_attempts == replies.MAX_ATTEMPTS
    assert "gave up after 6 attempts" in message.delivery_error
    assert "HTTP 500" in message.delivery_error
    steps = [b - a for a, b in zip([0, *delays], delays, strict=False)]
    assert [abs(s - e) <= 2 for s, e in zip(steps, [10, 30, 120, 600], strict=False)] == [True] * 4


@pytest.mark.django_db(transaction=True)
def test_two_workers_delivering_the_same_reply_post_it_once(pds, agent):
    # given: a slow PDS, so both workers are inside deliver() at the same time
    source = bluesky_source(pds)
    conversation, _post = conversation_on(pds, source)
    message = queue_reply(conversation, agent)
    pds.fault("slow", on="getRecord", delay=0.3)
    barrier = threading.Barrier(2)
    outcomes = []

    def work():
        barrier.wait()
        try:
            outcomes.append(replies.deliver(message_id=message.pk).state)
        finally:
            from django.db import connection

            connection.close()

    threads = [threading.Thread(target=work) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)

    # then
    assert sorted(outcomes) == ["sent", "skipped"]
    assert len(pds.posted) == 1
    assert Message.objects.get(pk=message.pk).delivery_attempts == 1


def test_a_worker_that_died_mid_send_is_picked_up_after_its_lease(db, pds, agent):
    # given: a reply left in "sending" by a worker that vanished
    source = bluesky_source(pds)
    conversation, _post = conversation_on(pds, source)
    message = queue_reply(conversation, agent)
    Message.objects.filter(pk=message.pk).update(
        delivery=Delivery.SENDING, delivery_attempts=1, next_attempt_at=later(replies.LEASE_SECONDS)
    )
    assert replies.delivery_retry_due(now=later(30)) == 0  # the lease still runs

    # when the lease has run out
    assert replies.delivery_retry_due(now=later(replies.LEASE_SECONDS + 1)) == 1

    # then
    message.refresh_from_db()
    assert message.delivery == Delivery.SENT and message.delivery_attempts == 2
    assert len(pds.posted) == 1


def test_first_response_is_recorded_once(db, pds, agent):
    source = bluesky_source(pds)
    conversation, _post = conversation_on(pds, source)
    first = queue_reply(conversation, agent, "one")
    replies.deliver(message_id=first.pk)
    first.refresh_from_db()
    replies.deliver(message_id=queue_reply(conversation, agent, "two").pk)

    conversation = Conversation.objects.get(pk=conversation.pk)
    assert conversation.first_response_at == first.sent_at
