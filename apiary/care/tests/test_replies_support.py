"""Builders shared by the reply delivery tests (no tests here).

Rows are made the way the listening store and ``services.reply_create`` make them, so the
delivery code sees exactly what production gives it.
"""

from __future__ import annotations

import itertools
from datetime import timedelta

import pytest
from django.utils import timezone

from apiary.care.models import Conversation, Delivery, Direction, Message
from apiary.care.outbound import base as outbound_base
from apiary.care.outbound import bluesky as bluesky_adapter
from apiary.listening.models import Mention, Source

_seq = itertools.count(1)


def make_source(kind: str, config: dict | None = None, name: str | None = None) -> Source:
    return Source.objects.create(
        name=name or f"{kind} source {next(_seq)}", kind=kind, config=config or {}
    )


def make_conversation(
    *,
    source: Source | None,
    external_id: str,
    platform: str = "bluesky",
    raw: dict | None = None,
    language: str = "en",
    author_name: str = "",
    customer=None,
    text: str = "My order has not arrived",
    url: str = "",
) -> Conversation:
    now = timezone.now() - timedelta(minutes=5)
    mention = Mention.objects.create(
        platform=platform,
        external_id=external_id,
        source=source,
        text=text,
        url=url,
        created_at=now,
        received_at=now,
        stored_at=now,
        author_name=author_name,
        language=language,
        sentiment="negative",
        intent="support",
        raw=raw or {},
    )
    conversation = Conversation.objects.create(
        platform=platform,
        thread_key=external_id,
        source=source,
        created_at=now,
        updated_at=now,
        last_message_at=now,
        last_inbound_at=now,
        language=language,
        author_name=author_name,
        customer=customer,
    )
    Message.objects.create(
        conversation=conversation,
        direction=Direction.INBOUND,
        mention=mention,
        text=text,
        created_at=now,
    )
    return conversation


def add_inbound(conversation: Conversation, *, external_id: str, raw=None, text="Any news?"):
    now = timezone.now()
    mention = Mention.objects.create(
        platform=conversation.platform,
        external_id=external_id,
        source=conversation.source,
        text=text,
        created_at=now,
        received_at=now,
        stored_at=now,
        language=conversation.language or "en",
        sentiment="neutral",
        intent="support",
        raw=raw or {},
    )
    return Message.objects.create(
        conversation=conversation,
        direction=Direction.INBOUND,
        mention=mention,
        text=text,
        created_at=now,
    )


def queue_reply(conversation: Conversation, user, text: str = "Sorry! Looking into it now."):
    now = timezone.now()
    return Message.objects.create(
        conversation=conversation,
        direction=Direction.OUTBOUND,
        author_user=user,
        text=text,
        created_at=now,
        delivery=Delivery.QUEUED,
        next_attempt_at=now,
        client_token=f"tok-{next(_seq)}-{now.timestamp()}",
    )


def later(seconds: float):
    return timezone.now() + timedelta(seconds=seconds)


@pytest.fixture
def fast_timeouts(monkeypatch):
    """Adapters give up on a silent server after 0.4 s instead of 10 s."""
    from apiary.care.outbound import mastodon, webhook

    for module in (outbound_base, bluesky_adapter, mastodon, webhook):
        monkeypatch.setattr(module, "READ_TIMEOUT", 0.4, raising=False)
        monkeypatch.setattr(module, "CONNECT_TIMEOUT", 0.4, raising=False)


@pytest.fixture(autouse=True)
def _fresh_sessions():
    bluesky_adapter.reset_sessions()
    yield
    bluesky_adapter.reset_sessions()
