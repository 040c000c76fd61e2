"""Helpers shared by the community services: permission raising, rate limits, tokens, events."""

from __future__ import annotations

import hashlib
import secrets

from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

from apiary.community import access
from apiary.community.models import ActivityEvent
from apiary.core.errors import ApiError
from apiary.core.ratelimit import rate_limit_hit

# Defaults; override in settings (APIARY_COMMUNITY_RATE_LIMITS = {"post": (10, 600), …}).
RATE_LIMITS = {
    "post": (10, 600),  # 10 new posts per 10 minutes
    "comment": (30, 600),
    "vote": (120, 600),
    "flag": (20, 3600),
    "share": (30, 600),
    "upload": (40, 3600),
}


class RateLimited(ApiError):
    """Too many writes of one kind; the API answers 429, views show the message."""

    def __init__(self, detail: str) -> None:
        super().__init__(429, "rate_limited", detail)


def rate_check(*, user, action: str) -> None:
    """Count one ``action`` by the user; staff community managers are not limited."""
    if access.is_manager(user):
        return
    limits = {**RATE_LIMITS, **getattr(settings, "APIARY_COMMUNITY_RATE_LIMITS", {})}
    limit, window = limits[action]
    if rate_limit_hit(
        bucket=f"community.{action}", key=str(user.pk), limit=limit, window_seconds=window
    ):
        raise RateLimited(_("You are doing this too often. Please wait a few minutes."))


def require(decision: access.Decision) -> None:
    """Raise Http404 / NotAvailable for a denied decision (services re-check what views check)."""
    decision.raise_if_denied()


def deny(message: str, *, space=None, reason: str = "forbidden"):
    raise access.NotAvailable(access.forbidden(message, space=space, reason=reason))


def invalid(field: str, message: str):
    raise ValidationError({field: [message]})


def new_token(prefix: str) -> tuple[str, str, str]:
    """(raw token, its display prefix, SHA-256 digest). Only the digest is stored."""
    raw = f"{prefix}_{secrets.token_urlsafe(24)}"
    return raw, raw[: len(prefix) + 7], digest(raw)


def digest(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def activity_record(
    *,
    kind: str,
    user=None,
    session_key: str = "",
    space_id: int | None = None,
    post_id: int | None = None,
    comment_id: int | None = None,
    duration_ms: int | None = None,
    data: dict | None = None,
) -> None:
    """Append one activity event (cheap: one insert, no foreign keys)."""
    user_id = user.pk if user is not None and getattr(user, "is_authenticated", False) else None
    ActivityEvent.objects.create(
        kind=kind,
        user_id=user_id,
        session_key=(session_key or "")[:64],
        space_id=space_id,
        post_id=post_id,
        comment_id=comment_id,
        duration_ms=duration_ms,
        data=data or {},
    )
