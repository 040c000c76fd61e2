"""Test helpers: raw mentions and a drained stream."""

from __future__ import annotations

import itertools
from datetime import timedelta

from apiary.listening.raw import RawMention, now

_seq = itertools.count(1)


def raw_mention(**changes) -> RawMention:
    n = next(_seq)
    received = now()
    data = {
        "platform": "bluesky",
        "external_id": f"at://did:plc:test/app.bsky.feed.post/{n}",
        "text": "I love Northwind coffee, best espresso in Madrid ☕",
        "created_at": received - timedelta(seconds=5),
        "received_at": received,
        "author_handle": f"user{n}.bsky.social",
        "author_followers": 100,
        "author_location": "Madrid, España",
    }
    data.update(changes)
    return RawMention(**data)


def drain() -> int:
    """Process everything in the outbox now (what the consumer worker does)."""
    from apiary.listening.consumer import handle_batch
    from apiary.listening.stream import get_stream

    stream = get_stream("memory://")
    total = 0
    while claimed := stream.process_once(handle_batch, batch_size=500):
        total += claimed
    return total
