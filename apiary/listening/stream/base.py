"""What every stream offers: durable ``publish`` and a batched, settle-by-answer ``consume``."""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..raw import RawMention


@dataclass(slots=True)
class Delivery:
    """One message handed to a consumer: the decoded mention (or the decoding error) and the
    stream's own handle for settling it."""

    mention: RawMention | None
    handle: Any
    attempts: int = 1
    error: str = ""
    meta: dict = field(default_factory=dict)


# handler(deliveries) -> {index: error text} for deliveries that failed on their own; every
# other delivery is settled as done. Raising means "the whole batch failed, retry later".
Handler = Callable[[list[Delivery]], dict[int, str]]


class StreamUnavailable(RuntimeError):
    """The broker cannot take messages now (down, unreachable, not acking). Callers answer
    503 and lose nothing: nothing was acknowledged to the sender."""


class Stream(ABC):
    name = "stream"
    # True when ``publish`` joins the caller's database transaction (the outbox): the caller
    # can then save a cursor atomically with the batch.
    transactional = False

    @abstractmethod
    def publish(self, mentions: Sequence[RawMention]) -> None:
        """Make ``mentions`` durable; returns only once they are (outbox row / JetStream ack)."""

    @abstractmethod
    def consume(self, handler: Handler, stop: threading.Event, *, batch_size: int = 500) -> None:
        """Call ``handler`` with batches until ``stop`` is set."""

    def pending(self) -> int | None:
        """Messages waiting to be stored (None if unknown)."""
        return None

    def close(self) -> None:  # noqa: B027 (optional hook: the outbox holds nothing to close)
        """Release connections (the NATS stream's loop thread); nothing by default."""
