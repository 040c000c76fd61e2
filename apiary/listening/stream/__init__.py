"""The ingestion stream between receipt and storage, chosen by ``APIARY_STREAM_URL``.

- ``memory://`` (default): :class:`~.outbox.OutboxStream`, the in-process stream backed by a
  durable outbox table in the main database. Publishing writes rows in the caller's
  transaction; consumers in any process claim batches with a lease.
- ``nats://host:4222``: :class:`~.nats.NatsStream`, NATS JetStream (stream ``APIARY_MENTIONS``,
  durable pull consumer ``apiary-enrich`` shared by every ``apiary worker``), explicit acks
  after the batch is stored, ``Nats-Msg-Id`` dedup.

Both give at-least-once delivery; the unique ``(platform, external_id)`` of stored mentions
turns that into exactly one stored mention. The consumer side is the same for both:
``consume(handler, stop)`` calls ``handler(list[Delivery])`` with batches and settles each
delivery according to the handler's answer (``consumer.py``).
"""

from __future__ import annotations

import threading
from urllib.parse import urlparse

from django.conf import settings

from .base import Delivery, Stream

_lock = threading.Lock()
_streams: dict[str, Stream] = {}


def get_stream(url: str | None = None) -> Stream:
    """The process-wide stream for ``url`` (default ``settings.APIARY_STREAM_URL``)."""
    url = url or settings.APIARY_STREAM_URL
    with _lock:
        stream = _streams.get(url)
        if stream is None:
            scheme = urlparse(url).scheme
            if scheme == "nats":
                from .nats import NatsStream

                stream = NatsStream(url)
            else:
                from .outbox import OutboxStream

                stream = OutboxStream()
            _streams[url] = stream
        return stream


def close_all() -> None:
    with _lock:
        for stream in _streams.values():
            stream.close()
        _streams.clear()


__all__ = ["Delivery", "Stream", "close_all", "get_stream"]
