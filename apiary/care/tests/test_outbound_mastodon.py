"""Replies to Mastodon through the fake instance (POST /api/v1/statuses over real HTTP)."""

from __future__ import annotations

import time

import pytest

from apiary.accounts.models import Role
from apiary.care import replies
from apiary.care.models import Delivery
from apiary.listening.fakes.mastodon import FakeMastodon

from .test_replies_support import (  # noqa: F401 (fixtures)
    _fresh_sessions,
    fast_timeouts,
    later,
    make_conversation,
    make_source,
    queue_reply,
)


@pytest.fixture
def server():
    with FakeMastodon(heartbeat_seconds=0.1) as srv:
        yield srv


@pytest.fixture
def agent(make_user):
    return make_user(Role.CARE_AGENT, email="agent@example.com", display_name="Ana")


def mastodon_source(server, **extra):
    config = {
        "base_url": server.base_url,
        "timeline": "hashtag",
        "hashtag": "coffee",
        "access_token": "",
        "stall_seconds": 60,
        "reply_token": server.post_token,
        **extra,
    }
    return make_source("mastodon", config)


def conversation_for(server, source, status, *, keep_raw=True):
    return make_conversation(
        source=source,
        external_id=status["uri"],
        platform="mastodon",
        raw=status if keep_raw else {},
        language=status.get("language") or "en",
    )


def test_a_reply_goes_to_the_status_with_an_idempotency_key(db, server, agent):
    # given: a remote user's toot, read from our instance (its local id is in the raw status)
    toot = server.toot("My #coffee order is late", acct="lucia@masto.es.example", language="es")
    conversation = conversation_for(server, mastodon_source(server), toot)
    message = queue_reply(conversation, agent, "¡Lo sentimos! Lo revisamos ahora.")

    # when
    outcome = replies.deliver(message_id=message.pk)

    # then
    assert outcome.state == "sent"
    [posted] = server.posted
    assert posted["params"]["in_reply_to_id"] == toot["id"]
    assert posted["params"]["status"] == "@lucia@masto.es.example ¡Lo sentimos! Lo revisamos ahora."
    assert posted["params"]["visibility"] == "public"
    assert posted["params"]["language"] == "es"
    assert posted["idempotency_key"] == message.client_token
    assert posted["in_reply_to_id"] == toot["id"]
    message.refresh_from_db()
    assert message.delivery == Delivery.SENT
    assert message.external_id == posted["uri"] and message.external_url == posted["url"]
    request = server.requests_to("/api/v1/statuses")[-1]
    assert request.headers["authorization"] == f"Bearer {server.post_token}"


def test_the_author_is_not_mentioned_twice_and_a_direct_message_stays_direct(db, server, agent):
    toot = server.toot("psst", acct="ann", visibility="direct")
    conversation = conversation_for(server, mastodon_source(server), toot)
    message = queue_reply(conversation, agent, "Hi @ann, sending the details privately")

    assert replies.deliver(message_id=message.pk).state == "sent"

    params = server.posted[0]["params"]
    assert params["status"] == "Hi @ann, sending the details privately"
    assert params["visibility"] == "direct"


@pytest.mark.usefixtures("fast_timeouts")
def test_a_retry_after_a_lost_answer_does_not_post_twice(db, server, agent):
    # given: the instance makes the status but answers after the client gave up
    toot = server.toot("Is the shop open today? #coffee")
    conversation = conversation_for(server, mastodon_source(server), toot)
    message = queue_reply(conversation, agent, "Yes, 8 to 20!")
    server.post_delay = 1.0

    # when
    first = replies.deliver(message_id=message.pk)
    time.sleep(0.8)
    server.post_delay = 0.0
    replies.delivery_retry_due(now=later(11))

    # then: the same Idempotency-Key answered the first status; one reply exists
    assert first.state == "retry"
    assert len(server.posted) == 1
    assert server.idempotent_hits == 1
    message.refresh_from_db()
    assert message.delivery == Delivery.SENT
    assert message.external_id == server.posted[0]["uri"]
    keys = {r.headers.get("idempotency-key") for r in server.requests_to("/api/v1/statuses")}
    assert keys == {message.client_token}


def test_a_deleted_status_fails_permanently(db, server, agent):
    toot = server.toot("never mind #coffee")
    conversation = conversation_for(server, mastodon_source(server), toot)
    server.delete(toot["id"])
    message = queue_reply(conversation, agent)

    outcome = replies.deliver(message_id=message.pk)

    assert outcome.state == "failed"
    assert "deleted" in outcome.error
    assert server.posted == []


def test_mastodons_validation_error_is_shown_to_the_agent(db, server, agent):
    # given: the instance's limit is lower than the source's settings say
    server.max_characters = 40
    toot = server.toot("hello #coffee")
    conversation = conversation_for(server, mastodon_source(server), toot)
    message = queue_reply(conversation, agent, "This answer is a little too long for the instance")

    outcome = replies.deliver(message_id=message.pk)

    assert outcome.state == "failed"
    assert outcome.error == (
        "Mastodon refused the reply: Validation failed: Text character limit of 40 exceeded"
    )


def test_rate_limit_then_server_error_then_sent(db, server, agent):
    toot = server.toot("help #coffee")
    conversation = conversation_for(server, mastodon_source(server), toot)
    message = queue_reply(conversation, agent)
    server.fault("429", on="rest", reset_in=50)

    assert replies.deliver(message_id=message.pk).state == "retry"
    message.refresh_from_db()
    assert 44 <= (message.next_attempt_at - later(0)).total_seconds() <= 51

    server.fault("500", on="rest")
    assert replies.delivery_retry_due(now=later(55)) == 1
    message.refresh_from_db()
    assert message.delivery == Delivery.QUEUED and "HTTP 500" in message.delivery_error

    assert replies.delivery_retry_due(now=later(55 + 31)) == 1
    message.refresh_from_db()
    assert message.delivery == Delivery.SENT and message.delivery_attempts == 3
    assert len(server.posted) == 1


def test_a_mention_without_its_status_is_found_by_uri(db, server, agent):
    toot = server.toot("where's my refund #coffee")
    conversation = conversation_for(server, mastodon_source(server), toot, keep_raw=False)
    message = queue_reply(conversation, agent, "Checking now")

    assert replies.deliver(message_id=message.pk).state == "sent"

    assert server.posted[0]["params"]["in_reply_to_id"] == toot["id"]
    assert server.requests_to("/api/v2/search")


def test_a_rejected_token_fails_with_the_scope_hint(db, server, agent):
    toot = server.toot("hi #coffee")
    source = mastodon_source(server, reply_token="read-only")
    server.read_only_tokens.add("read-only")
    message = queue_reply(conversation_for(server, source, toot), agent)

    outcome = replies.deliver(message_id=message.pk)

    assert outcome.state == "failed"
    assert "write:statuses" in outcome.error


def test_without_any_token_the_inbox_says_replies_need_one(db, server, agent):
    toot = server.toot("hi #coffee")
    source = mastodon_source(server, reply_token="")
    conversation = conversation_for(server, source, toot)

    ok, reason = replies.can_reply(conversation)

    assert ok is False
    assert "write:statuses" in reason
