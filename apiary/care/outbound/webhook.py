"""Replies for generic (webhook) sources: a signed JSON POST to the source's callback URL.

Settings (``Source.config`` of a ``webhook`` source)::

    {"reply_url": "https://helpdesk.example/apiary/replies",   # http(s); required
     "reply_secret": "…"}   # the HMAC key; generated when not given, shown once

Request::

    POST <reply_url>
    Content-Type: application/json
    User-Agent: Apiary/0.1 (Social CRM replies)
    Idempotency-Key: <the message's client token, or apiary-message-<id>>   (same on retries)
    X-Apiary-Event: care.reply
    X-Apiary-Timestamp: <unix seconds>
    X-Apiary-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<raw body bytes>">

    {"type": "care.reply", "id": "<idempotency key>", "created_at": "…",
     "message": {"id": 12, "text": "…", "language": "en"},
     "in_reply_to": {"platform": "trustpilot", "external_id": "…", "url": "…"},
     "conversation": {"id": 3, "platform": "trustpilot", "thread_key": "…"},
     "agent": {"name": "Ana"}}

Verify: split the header on ",", take ``t`` and ``v1``, refuse a ``t`` more than 5 minutes from
your clock, compute ``hmac.new(secret, f"{t}.".encode() + body, sha256).hexdigest()`` and
compare in constant time. The signed string is the same as the orders webhook's (timestamp,
dot, raw body). Deduplicate on ``Idempotency-Key``: a retry after a lost answer sends it again.

Answer 2xx to accept; the JSON body may say ``{"external_id": "…", "url": "…"}`` of the post the
receiver made. 4xx (except 408/429) → permanent failure with the receiver's text; 408, 429
(``Retry-After`` honoured), 5xx, timeouts, refused connections → tried again later.
"""

from __future__ import annotations

import hmac
import json
import time
from typing import Any
from urllib.parse import urlsplit

import httpx
from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

from apiary.customers.webhooks import webhook_sign

from .base import (
    CONNECT_TIMEOUT,
    READ_TIMEOUT,
    USER_AGENT,
    PermanentFailure,
    Sent,
    TransientFailure,
    describe,
    idempotency_key,
)

SETTINGS = ("reply_url", "reply_secret")
SIGNATURE_HEADER = "X-Apiary-Signature"
MAX_TEXT = 10_000


def settings_validate(values: dict[str, Any]) -> dict[str, Any]:
    unknown = sorted(set(values) - set(SETTINGS))
    if unknown:
        raise ValidationError({"reply": [_("Unknown setting(s): %s") % ", ".join(unknown)]})
    url = (values.get("reply_url") or "").strip()
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValidationError({"reply_url": [_("Must be an http(s) address.")]})
    secret = (values.get("reply_secret") or "").strip()
    if secret and len(secret) < 16:
        raise ValidationError({"reply_secret": [_("Use at least 16 characters.")]})
    return {"reply_url": url, "reply_secret": secret}


def missing_settings(config: dict[str, Any]) -> str | None:
    if not config.get("reply_url"):
        return _(
            "This webhook source has no reply URL: set one in the source's reply settings to "
            "send replies back to it."
        )
    if not config.get("reply_secret"):
        return _("This webhook source has no reply signing secret.")
    return None


def text_problem(text: str, config: dict[str, Any] | None = None) -> str | None:
    if not text.strip():
        return _("The reply is empty.")
    if len(text) > MAX_TEXT:
        return _("The reply is longer than %(max)d characters.") % {"max": MAX_TEXT}
    return None


def sign(secret: str, timestamp: int, body: bytes) -> str:
    # The same signed string as the orders webhook (one implementation); only the header's
    # layout differs, so a receiver can check replies and alerts the same way.
    mac = webhook_sign(secret=secret, timestamp=timestamp, body=body).removeprefix("sha256=")
    return f"t={timestamp},v1={mac}"


def verify(secret: str, header: str, body: bytes, *, tolerance: int = 300, now=None) -> bool:
    """The receiver's side (used by the fake receiver and offered to integrators)."""
    fields = dict(part.split("=", 1) for part in (header or "").split(",") if "=" in part)
    try:
        timestamp = int(fields.get("t", ""))
    except ValueError:
        return False
    if abs((now if now is not None else time.time()) - timestamp) > tolerance:
        return False
    expected = sign(secret, timestamp, body).split("v1=", 1)[1]
    return hmac.compare_digest(expected, fields.get("v1", ""))


def _payload(*, conversation, message, parent, key: str) -> dict[str, Any]:
    author = message.author_user
    agent = ""
    if author is not None:
        agent = (getattr(author, "display_name", "") or "").strip() or author.get_username()
    return {
        "type": "care.reply",
        "id": key,
        "created_at": message.created_at.isoformat(),
        "message": {"id": message.pk, "text": message.text, "language": conversation.language},
        "in_reply_to": {
            "platform": getattr(parent, "platform", conversation.platform),
            "external_id": getattr(parent, "external_id", conversation.thread_key),
            "url": getattr(parent, "url", ""),
        },
        "conversation": {
            "id": conversation.pk,
            "platform": conversation.platform,
            "thread_key": conversation.thread_key,
        },
        "agent": {"name": agent},
    }


def send(*, source, conversation, message, parent) -> Sent:
    config = dict(source.config or {})
    problem = missing_settings(config)
    if problem:
        raise PermanentFailure(problem)
    problem = text_problem(message.text)
    if problem:
        raise PermanentFailure(problem)
    key = idempotency_key(message)
    body = json.dumps(
        _payload(conversation=conversation, message=message, parent=parent, key=key),
        ensure_ascii=False,
        separators=(",", ":"),
    ).encode("utf-8")
    timestamp = int(time.time())
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "Idempotency-Key": key,
        "X-Apiary-Event": "care.reply",
        "X-Apiary-Timestamp": str(timestamp),
        SIGNATURE_HEADER: sign(config["reply_secret"], timestamp, body),
    }
    url = config["reply_url"]
    host = urlsplit(url).hostname
    try:
        with httpx.Client(timeout=httpx.Timeout(READ_TIMEOUT, connect=CONNECT_TIMEOUT)) as client:
            response = client.post(url, content=body, headers=headers)
    except httpx.TimeoutException:
        raise TransientFailure(
            _("The reply webhook (%(host)s) did not answer in time.") % {"host": host}
        ) from None
    except httpx.HTTPError as exc:
        raise TransientFailure(
            _("Could not reach the reply webhook (%(host)s): %(error)s")
            % {"host": host, "error": describe(exc)}
        ) from None
    status = response.status_code
    detail = response.text.strip()[:300]
    if 200 <= status < 300:
        answer: Any = None
        try:
            answer = response.json() if response.content else None
        except ValueError:
            answer = None
        if isinstance(answer, dict):
            return Sent(
                external_id=str(answer.get("external_id") or "")[:255],
                url=str(answer.get("url") or "")[:2000],
            )
        return Sent(external_id="")
    if status in (408, 429) or status >= 500:
        retry_after = None
        if response.headers.get("retry-after", "").isdigit():
            retry_after = float(response.headers["retry-after"])
        raise TransientFailure(
            _("The reply webhook (%(host)s) answered HTTP %(status)d.")
            % {"host": host, "status": status},
            retry_after=retry_after,
        )
    if 300 <= status < 400:
        raise PermanentFailure(
            _("The reply webhook (%(host)s) redirected (HTTP %(status)d); use its final address.")
            % {"host": host, "status": status}
        )
    raise PermanentFailure(
        _("The reply webhook (%(host)s) refused the reply (HTTP %(status)d): %(detail)s")
        % {"host": host, "status": status, "detail": detail or "-"}
    )
