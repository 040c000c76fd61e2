"""Outbound adapters: how a reply goes back out through the source it came from.

``ADAPTERS`` maps a listening source kind to its module (``send`` + ``settings_validate`` +
``text_problem``); kinds without an entry (RSS, file, replay) have no way back to the author.
The contract is in ``base.py``; the reply credentials live in the source's ``config`` under
``reply_*`` keys (``replies.reply_settings_set`` writes them).
"""

from __future__ import annotations

from types import ModuleType

from .base import PermanentFailure, Sent, TransientFailure


def adapter_for(kind: str) -> ModuleType | None:
    # Imported here so that loading one adapter never needs another's dependencies.
    if kind == "bluesky":
        from . import bluesky

        return bluesky
    if kind == "mastodon":
        from . import mastodon

        return mastodon
    if kind == "webhook":
        from . import webhook

        return webhook
    return None


__all__ = ["PermanentFailure", "Sent", "TransientFailure", "adapter_for"]
