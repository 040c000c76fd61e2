"""The contract between a connector and the rest of listening.

A connector is a class with a ``kind`` (``"rss"``, ``"mastodon"``, ``"bluesky"``, ``"replay"``),
a ``validate_config`` classmethod and a blocking ``run()`` that returns when
``ctx.stopping`` becomes true. It handles its own reconnects and back-off, and talks to the
world only through its :class:`ConnectorContext`:

- ``ctx.emit(mentions, cursor=...)`` hands a batch to the stream durably *and* records the
  resume cursor. With the default outbox both happen in one database transaction, so a crash
  can neither lose a mention (cursor saved without the batch) nor replay one (batch saved
  without the cursor) — the basis of "no gap, no duplicate" on restart. With NATS the batch is
  acked by JetStream first; a crash before the cursor is saved re-sends a batch that
  ``Nats-Msg-Id`` and the ``(platform, external_id)`` constraint absorb.
- ``ctx.cursor`` is the last cursor saved (``{}`` for a new source): where to resume.
- ``ctx.reject(reason, payload)`` counts one malformed item (bad frame, item without an id);
  the rest of the batch goes on.
- ``ctx.report_error(message)`` records a source-level failure (HTTP 500, HTML instead of a
  feed, connection refused) for the status page; ``ctx.report_ok()`` clears it.
- ``ctx.sleep(seconds)`` waits, returning False as soon as the source is stopping.

:class:`RecordingContext` is an in-memory context for tests and tools.
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol

from ..raw import RawMention


class ConnectorError(ValueError):
    """A source's configuration is invalid (shown to the admin as is)."""


class ConnectorContext(Protocol):
    source_id: int | None
    config: Mapping[str, Any]

    @property
    def cursor(self) -> dict[str, Any]: ...

    @property
    def stopping(self) -> bool: ...

    def emit(self, mentions: list[RawMention], *, cursor: dict[str, Any] | None = None) -> None: ...

    def save_cursor(self, cursor: dict[str, Any]) -> None: ...

    def reject(self, reason: str, payload: Any = None) -> None: ...

    def report_error(self, message: str) -> None: ...

    def report_ok(self) -> None: ...

    def sleep(self, seconds: float) -> bool: ...


class Connector(ABC):
    kind: ClassVar[str] = ""
    # The platform a mention gets when the wire format does not say (RSS items: "web").
    default_platform: ClassVar[str] = "other"
    # A short English description for the source form; translated at display time.
    description: ClassVar[str] = ""

    def __init__(self, ctx: ConnectorContext) -> None:
        self.ctx = ctx

    @classmethod
    def validate_config(cls, config: Mapping[str, Any]) -> dict[str, Any]:
        """Return a cleaned copy of ``config`` or raise :class:`ConnectorError`."""
        return dict(config)

    @abstractmethod
    def run(self) -> None:
        """Block, fetching and emitting, until ``self.ctx.stopping``."""


@dataclass
class RecordingContext:
    """An in-memory :class:`ConnectorContext`: keeps what was emitted, rejected and reported.

    ``stop_after`` stops the connector once that many mentions were emitted (tests);
    ``stop()`` stops it from another thread.
    """

    config: Mapping[str, Any] = field(default_factory=dict)
    source_id: int | None = None
    initial_cursor: dict[str, Any] = field(default_factory=dict)
    stop_after: int | None = None
    mentions: list[RawMention] = field(default_factory=list)
    rejected: list[tuple[str, Any]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    oks: int = 0
    cursors: list[dict[str, Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._cursor = dict(self.initial_cursor)

    @property
    def cursor(self) -> dict[str, Any]:
        return dict(self._cursor)

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def stop(self) -> None:
        self._stop.set()

    def emit(self, mentions: list[RawMention], *, cursor: dict[str, Any] | None = None) -> None:
        with self._lock:
            self.mentions.extend(mentions)
            if cursor is not None:
                self._cursor = dict(cursor)
                self.cursors.append(dict(cursor))
            if self.stop_after is not None and len(self.mentions) >= self.stop_after:
                self._stop.set()

    def save_cursor(self, cursor: dict[str, Any]) -> None:
        with self._lock:
            self._cursor = dict(cursor)
            self.cursors.append(dict(cursor))

    def reject(self, reason: str, payload: Any = None) -> None:
        with self._lock:
            self.rejected.append((reason, payload))

    def report_error(self, message: str) -> None:
        with self._lock:
            self.errors.append(message)

    def report_ok(self) -> None:
        with self._lock:
            self.oks += 1

    def sleep(self, seconds: float) -> bool:
        return not self._stop.wait(max(0.0, seconds))
