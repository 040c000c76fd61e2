"""The contract between ``care.replies`` and one platform's way of posting a reply.

An adapter is a function ``send(*, source, conversation, message, parent) -> Sent``:

- ``source`` — the listening ``Source`` the replied-to mention came from (its ``config`` holds
  the reply credentials, see ``settings.py`` in this package);
- ``conversation`` — the care ``Conversation``;
- ``message`` — the outbound ``Message`` being delivered (``text``, ``client_token``, ``id``);
- ``parent`` — the listening ``Mention`` being answered (the latest inbound one), or ``None``.

It either returns :class:`Sent` (the remote id and URL of the new post) or raises:

- :class:`PermanentFailure` — retrying cannot help (the post was deleted, the credentials are
  wrong, the text is refused). The reply is marked failed at once with ``reason``, which is
  shown to the agent as is, so it must say what happened in plain words.
- :class:`TransientFailure` — the remote side is busy or unreachable (429, 5xx, timeout,
  refused connection). The reply is tried again later; ``retry_after`` (seconds) is the
  server's own hint, if it gave one.

Adapters run *outside* any database transaction (a slow remote must not hold a write lock)
and must be safe to call twice for the same message: every platform adapter sends an
idempotency key (Mastodon ``Idempotency-Key``, a record key derived from the message on
Bluesky, ``Idempotency-Key`` on webhooks), so a retry after a lost answer does not post twice.
"""

from __future__ import annotations

from dataclasses import dataclass

# Every outbound HTTP call uses these (seconds): a reply is interactive, and a hung remote
# must turn into a retry quickly rather than hold a worker.
CONNECT_TIMEOUT = 5.0
READ_TIMEOUT = 10.0
USER_AGENT = "Apiary/0.1 (Social CRM replies)"


@dataclass(frozen=True)
class Sent:
    external_id: str
    url: str = ""


class DeliveryFailure(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class PermanentFailure(DeliveryFailure):
    """Retrying cannot help; ``reason`` is shown to the agent."""


class TransientFailure(DeliveryFailure):
    """Try again later; ``retry_after`` is the remote's own hint in seconds (or None)."""

    def __init__(self, reason: str, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.retry_after = retry_after


def idempotency_key(message) -> str:
    """The same for every attempt of one message (the client token when the agent's page sent
    one, so even a reply re-created by a retried request maps to the same remote post)."""
    return message.client_token or f"apiary-message-{message.pk}"


def describe(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text[:300]
