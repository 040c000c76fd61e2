"""Replies of generic (webhook) sources: a signed POST to the fake receiver over real HTTP."""

from __future__ import annotations

import time

import pytest

from apiary.accounts.models import Role
from apiary.care import replies
from apiary.care.models import Delivery
from apiary.care.outbound import webhook
from apiary.listening.fakes.webhook_receiver import FakeWebhookReceiver

from .test_replies_support import (  # noqa: F401 (fixtures)
    _fresh_sessions,
    fast_timeouts,
    later,
    make_conversation,
    make_source,
    queue_reply,
)

SECRET = "whsec_test_0123456789abcdef"


@pytest.fixture
def receiver():
    with FakeWebhookReceiver(secret=SECRET) as srv:
        yield srv


@pytest.fixture
def agent(make_user):
    return make_user(Role.CARE_AGENT, email="agent@example.com", display_name="Ana")


def webhook_conversation(receiver, **config):
    source = make_source(
        "webhook",
        {"default_platform": "trustpilot", "reply_url": receiver.url, "reply_secret": SECRET}
        | config,
    )
    return make_conversation(
        source=source,
        external_id="review-481",
        platform="trustpilot",
        url="https://reviews.example/481",
    )


def test_a_reply_is_posted_signed_and_the_receivers_id_kept(db, receiver, agent):
    conversation = webhook_conversation(receiver)
    message = queue_reply(conversation, agent, "Thanks for the review — we'll make it right.")

    outcome = replies.deliver(message_id=message.pk)

    assert outcome.state == "sent"
    [delivery] = receiver.accepted
    assert delivery.signature_ok
    body = delivery.json
    assert body["type"] == "care.reply"
    assert body["message"] == {
        "id": message.pk,
        "text": "Thanks for the review — we'll make it right.",
        "language": "en",
    }
    assert body["in_reply_to"] == {
        "platform": "trustpilot",
        "external_id": "review-481",
        "url": "https://reviews.example/481",
    }
    assert body["agent"] == {"name": "Ana"}
    assert delivery.headers["idempotency-key"] == message.client_token == body["id"]
    header = delivery.headers["x-apiary-signature"]
    assert header.startswith(f"t={delivery.headers['x-apiary-timestamp']},v1=")
    message.refresh_from_db()
    assert message.external_id == "wh-1"
    assert message.external_url == "https://helpdesk.example/tickets/1"


def test_the_signature_verifies_only_for_the_exact_body_and_a_fresh_time():
    body = b'{"a":1}'
    now = int(time.time())
    header = webhook.sign(SECRET, now, body)
    assert webhook.verify(SECRET, header, body)
    assert not webhook.verify(SECRET, header, b'{"a":2}')
    assert not webhook.verify("another-secret-123456", header, body)
    assert not webhook.verify(SECRET, webhook.sign(SECRET, now - 3600, body), body)
    assert not webhook.verify(SECRET, "garbage", body)


def test_a_receiver_that_is_down_is_retried_then_the_reply_fails(db, receiver, agent):
    # given: the receiver's port is closed for good
    conversation = webhook_conversation(receiver)
    message = queue_reply(conversation, agent)
    receiver.go_down()

    # when: every attempt of the schedule runs
    states = [replies.deliver(message_id=message.pk).state]
    for _n in range(replies.MAX_ATTEMPTS - 1):
        message.refresh_from_db()
        replies.delivery_retry_due(now=message.next_attempt_at)
        message.refresh_from_db()
        states.append(message.delivery)

    # then: retried, then failed with the reason — not dropped
    assert states == ["retry", "queued", "queued", "queued", "queued", "failed"]
    assert "Could not reach the reply webhook" in message.delivery_error
    assert "gave up after 6 attempts" in message.delivery_error


def test_a_receiver_that_comes_back_gets_the_reply_once(db, receiver, agent):
    conversation = webhook_conversation(receiver)
    message = queue_reply(conversation, agent)
    receiver.fail(503)
    receiver.retry_after = 20

    assert replies.deliver(message_id=message.pk).state == "retry"
    message.refresh_from_db()
    assert 19 <= (message.next_attempt_at - later(0)).total_seconds() <= 21
    assert "HTTP 503" in message.delivery_error

    assert replies.delivery_retry_due(now=later(21)) == 1
    message.refresh_from_db()
    assert message.delivery == Delivery.SENT
    assert len(receiver.accepted) == 1 and len(receiver.deliveries) == 2


def test_a_4xx_is_permanent_with_the_receivers_text(db, receiver, agent):
    conversation = webhook_conversation(receiver)
    message = queue_reply(conversation, agent)
    receiver.fail(410)

    outcome = replies.deliver(message_id=message.pk)

    assert outcome.state == "failed"
    assert "HTTP 410" in outcome.error and "failing on purpose" in outcome.error


def test_a_wrong_secret_is_refused_by_the_receiver_and_fails(db, receiver, agent):
    conversation = webhook_conversation(receiver, reply_secret="not-the-right-secret-0000")
    message = queue_reply(conversation, agent)

    outcome = replies.deliver(message_id=message.pk)

    assert outcome.state == "failed"
    assert "HTTP 401" in outcome.error
    assert receiver.accepted == []


@pytest.mark.usefixtures("fast_timeouts")
def test_a_slow_receiver_is_retried_and_deduplicates_on_the_key(db, receiver, agent):
    conversation = webhook_conversation(receiver)
    message = queue_reply(conversation, agent)
    receiver.delay = 1.0

    assert replies.deliver(message_id=message.pk).state == "retry"
    time.sleep(0.7)
    receiver.delay = 0
    assert replies.delivery_retry_due(now=later(11)) == 1

    message.refresh_from_db()
    assert message.delivery == Delivery.SENT
    assert len(receiver.accepted) == 1 and receiver.duplicates == 1
