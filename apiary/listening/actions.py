"""Actions on a mention that other apps add to the mention detail page.

The care app (later) registers "Open conversation" here instead of the listening templates
knowing about care::

    # apiary/care/apps.py, in ready()
    from apiary.listening.actions import register_mention_action

    register_mention_action(
        "care.open_conversation",
        label=gettext_lazy("Open conversation"),
        url=lambda mention: reverse("care:open", args=[mention.pk]),
        method="post",
        permission=Perm.CARE_REPLY,
    )

``url(mention)`` may return ``None`` to hide the action for that mention (e.g. a platform the
care app cannot reply on). With nothing registered the page shows no action bar.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

_ACTIONS: dict[str, MentionAction] = {}


@dataclass(frozen=True)
class MentionAction:
    key: str
    label: str
    url: Callable[[object], str | None]
    method: Literal["get", "post"] = "get"
    permission: str | None = None
    order: int = 100


def register_mention_action(
    key: str,
    *,
    label,
    url: Callable[[object], str | None],
    method: Literal["get", "post"] = "get",
    permission: str | None = None,
    order: int = 100,
) -> None:
    """Add (or replace, by ``key``) an action button on the mention detail page."""
    if method not in ("get", "post"):
        raise ValueError("method must be 'get' or 'post'")
    _ACTIONS[key] = MentionAction(key, label, url, method, permission, order)


def unregister_mention_action(key: str) -> None:
    _ACTIONS.pop(key, None)


def mention_actions(mention, user) -> list[dict]:
    """The actions this user may take on this mention, in display order."""
    from apiary.accounts.access import user_has_permission

    out = []
    for action in sorted(_ACTIONS.values(), key=lambda a: (a.order, a.key)):
        if action.permission and not user_has_permission(user, action.permission):
            continue
        url = action.url(mention)
        if url:
            out.append(
                {"key": action.key, "label": str(action.label), "url": url, "method": action.method}
            )
    return out
