"""Source connectors: each turns one external wire format into :class:`RawMention` batches.

A connector knows its network and nothing about storage: it gets a :class:`ConnectorContext`
(``base.py``) and calls ``ctx.emit(mentions, cursor=...)``; the context makes the batch durable
(outbox row or JetStream ack) and saves the resume cursor. ``CONNECTORS`` maps a source kind to
its class; ``apiary.listening.sources`` runs them.
"""

from __future__ import annotations

from .base import Connector, ConnectorContext, ConnectorError, RecordingContext

CONNECTORS: dict[str, type[Connector]] = {}


def register(cls: type[Connector]) -> type[Connector]:
    CONNECTORS[cls.kind] = cls
    return cls


def connector_class(kind: str) -> type[Connector]:
    _load_builtin()
    return CONNECTORS[kind]


def _load_builtin() -> None:
    # Imported lazily so that `import apiary.listening.connectors` stays cheap and a connector
    # with an optional dependency cannot break the others.
    import importlib

    for module in ("rss", "mastodon", "bluesky", "replay"):
        try:
            importlib.import_module(f"{__name__}.{module}")
        except ModuleNotFoundError as exc:  # a connector not written yet
            if exc.name != f"{__name__}.{module}":
                raise


__all__ = [
    "CONNECTORS",
    "Connector",
    "ConnectorContext",
    "ConnectorError",
    "RecordingContext",
    "connector_class",
    "register",
]
