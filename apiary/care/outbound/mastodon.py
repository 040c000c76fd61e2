"""Replies to Mastodon statuses: ``POST /api/v1/statuses`` on the source's own instance.

Settings (``Source.config`` of a ``mastodon`` source; ``base_url`` is the listening one)::

    {"reply_token": "…",            # an access token with the write:statuses scope; when absent
                                    # the listening ``access_token`` is used
     "reply_visibility": "",        # public | unlisted | private | direct; empty = the same as
                                    # the post being answered
     "reply_max_characters": 500}   # the instance's limit (500 unless the admin changed it)

The body is ``{status, in_reply_to_id, visibility, language?}`` with the header
``Idempotency-Key: <the message's client token, or apiary-message-<id>>`` — Mastodon keeps the
key for an hour and answers a repeated request with the status it already created, so a retry
after a lost answer never posts twice.

``in_reply_to_id`` is the status id *on this instance*: the listening connector stores the
status it read (``Mention.raw``), whose ``id`` is exactly that; for a mention without it the
status is looked up by its URI (``GET /api/v2/search?q=<uri>&type=statuses&resolve=true``).
The reply starts with ``@acct`` of the author unless the agent wrote it: Mastodon notifies
only the accounts a status mentions.

Failures: 404 on the replied-to status → permanent ("deleted or not visible"); 422 → permanent
with Mastodon's error text; 401/403 → permanent (token missing, wrong or without
``write:statuses``); 429 → transient until ``X-RateLimit-Reset``/``Retry-After``; 5xx, timeouts,
refused connections → transient.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

import httpx
from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.translation import gettext as _

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

SETTINGS = ("reply_token", "reply_visibility", "reply_max_characters")
VISIBILITIES = ("public", "unlisted", "private", "direct")
DEFAULT_MAX_CHARACTERS = 500


def settings_validate(values: dict[str, Any]) -> dict[str, Any]:
    unknown = sorted(set(values) - set(SETTINGS))
    if unknown:
        raise ValidationError({"reply": [_("Unknown setting(s): %s") % ", ".join(unknown)]})
    token = (values.get("reply_token") or "").strip()
    if any(ch.isspace() for ch in token):
        raise ValidationError({"reply_token": [_("Must be a token without spaces.")]})
    visibility = (values.get("reply_visibility") or "").strip()
    if visibility and visibility not in VISIBILITIES:
        raise ValidationError(
            {"reply_visibility": [_("Must be one of: %s.") % ", ".join(VISIBILITIES)]}
        )
    limit = values.get("reply_max_characters") or DEFAULT_MAX_CHARACTERS
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= 100_000:
        raise ValidationError(
            {"reply_max_characters": [_("Must be a whole number from 1 to 100000.")]}
        )
    return {
        "reply_token": token,
        "reply_visibility": visibility,
        "reply_max_characters": limit,
    }


def _token(config: dict[str, Any]) -> str:
    return (config.get("reply_token") or config.get("access_token") or "").strip()


def missing_settings(config: dict[str, Any]) -> str | None:
    if not config.get("base_url"):
        return _("This Mastodon source has no server address.")
    if not _token(config):
        return _(
            "This Mastodon source has no access token to post with: add one with the "
            "write:statuses scope in the source's reply settings."
        )
    return None


_URL_RE = re.compile(r"https?://\S+")


def _length(text: str) -> int:
    """Mastodon's count: every link counts as 23 characters, a remote @user@domain as @user."""
    text = _URL_RE.sub("x" * 23, text)
    return len(re.sub(r"(@\w+)@[\w.-]+\w", r"\1", text))


def text_problem(text: str, config: dict[str, Any] | None = None) -> str | None:
    if not text.strip():
        return _("The reply is empty.")
    limit = (config or {}).get("reply_max_characters") or DEFAULT_MAX_CHARACTERS
    n = _length(text)
    if n > limit:
        return _("The reply is %(n)d characters long; this Mastodon server allows %(max)d.") % {
            "n": n,
            "max": limit,
        }
    return None


def _subject(raw: Any, uri: str) -> dict[str, Any] | None:
    """The stored status that *is* the mention (a reblog's inner status when it was boosted)."""
    if not isinstance(raw, dict):
        return None
    if raw.get("uri") == uri and isinstance(raw.get("id"), str):
        return raw
    inner = raw.get("reblog")
    if isinstance(inner, dict) and inner.get("uri") == uri and isinstance(inner.get("id"), str):
        return inner
    return None


def _retry_after(headers: httpx.Headers) -> float | None:
    after = headers.get("retry-after")
    if after:
        try:
            return max(0.0, float(after))
        except ValueError:
            pass
    reset = headers.get("x-ratelimit-reset")
    if reset:
        try:
            at = datetime.fromisoformat(reset.replace("Z", "+00:00"))
        except ValueError:
            return None
        return max(0.0, (at - timezone.now()).total_seconds())
    return None


def _error_text(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return ""
    if isinstance(body, dict) and isinstance(body.get("error"), str):
        return body["error"][:300]
    return ""


class _Instance:
    def __init__(self, client: httpx.Client, base_url: str, token: str) -> None:
        self.client, self.base_url = client, base_url.rstrip("/")
        self.host = urlsplit(self.base_url).hostname or self.base_url
        self.headers = {
            "User-Agent": USER_AGENT,
            "Accept": "application/json",
            "Authorization": f"Bearer {token}",
        }

    def request(self, method: str, path: str, *, what: str, headers=None, **kwargs):
        try:
            response = self.client.request(
                method,
                f"{self.base_url}{path}",
                headers={**self.headers, **(headers or {})},
                **kwargs,
            )
        except httpx.TimeoutException:
            raise TransientFailure(
                _("Mastodon (%(host)s) did not answer in time while %(what)s.")
                % {"host": self.host, "what": what}
            ) from None
        except httpx.HTTPError as exc:
            raise TransientFailure(
                _("Could not reach Mastodon (%(host)s) while %(what)s: %(error)s")
                % {"host": self.host, "what": what, "error": describe(exc)}
            ) from None
        status = response.status_code
        if status == 429:
            raise TransientFailure(
                _("Mastodon (%(host)s) is rate limiting the reply account.") % {"host": self.host},
                retry_after=_retry_after(response.headers),
            )
        if status >= 500 or status == 408:
            raise TransientFailure(
                _("Mastodon (%(host)s) answered HTTP %(status)d while %(what)s.")
                % {"host": self.host, "status": status, "what": what}
            )
        if status in (401, 403):
            raise PermanentFailure(
                _(
                    "Mastodon (%(host)s) refused the reply account's access token (%(error)s); "
                    "it needs the write:statuses scope."
                )
                % {"host": self.host, "error": _error_text(response) or f"HTTP {status}"}
            )
        return response

    def resolve(self, uri: str) -> str | None:
        """The local id of the status at ``uri`` (federated posts have one id per server)."""
        response = self.request(
            "GET",
            "/api/v2/search",
            params={"q": uri, "type": "statuses", "resolve": "true", "limit": "1"},
            what=_("looking up the post being answered"),
        )
        if response.status_code != 200:
            return None
        try:
            statuses = response.json().get("statuses") or []
        except (ValueError, AttributeError):
            return None
        for status in statuses:
            if isinstance(status, dict) and status.get("uri") == uri and status.get("id"):
                return str(status["id"])
        return None


def send(*, source, conversation, message, parent) -> Sent:
    config = dict(source.config or {})
    problem = missing_settings(config)
    if problem:
        raise PermanentFailure(problem)
    reply = settings_validate({k: config[k] for k in SETTINGS if k in config})
    if parent is None or not parent.external_id:
        raise PermanentFailure(_("There is no Mastodon post to reply to in this conversation."))
    subject = _subject(parent.raw, parent.external_id)
    text = message.text
    acct = ((subject or {}).get("account") or {}).get("acct") or ""
    if acct and f"@{acct}".casefold() not in text.casefold():
        text = f"@{acct} {text}"
    problem = text_problem(text, reply)
    if problem:
        raise PermanentFailure(problem)
    visibility = reply["reply_visibility"] or (subject or {}).get("visibility") or "public"
    if visibility not in VISIBILITIES:
        visibility = "public"
    timeout = httpx.Timeout(READ_TIMEOUT, connect=CONNECT_TIMEOUT)
    with httpx.Client(timeout=timeout, follow_redirects=False) as client:
        instance = _Instance(client, config["base_url"], _token(config))
        status_id = subject["id"] if subject else instance.resolve(parent.external_id)
        if not status_id:
            raise PermanentFailure(
                _("The post you are replying to was deleted or cannot be found on %(host)s.")
                % {"host": instance.host}
            )
        body: dict[str, Any] = {
            "status": text,
            "in_reply_to_id": status_id,
            "visibility": visibility,
        }
        language = (conversation.language or "").strip()
        if len(language) == 2 and language.isalpha():
            body["language"] = language.lower()
        response = instance.request(
            "POST",
            "/api/v1/statuses",
            json=body,
            headers={"Idempotency-Key": idempotency_key(message)},
            what=_("posting the reply"),
        )
        status = response.status_code
        if status == 404:
            raise PermanentFailure(
                _(
                    "The post you are replying to was deleted or is not visible to the reply "
                    "account."
                )
            )
        if status == 422:
            raise PermanentFailure(
                _("Mastodon refused the reply: %(error)s")
                % {"error": _error_text(response) or _("validation failed")}
            )
        if status >= 300:
            raise PermanentFailure(
                _("Mastodon refused the reply (HTTP %(status)d): %(error)s")
                % {"status": status, "error": _error_text(response) or "-"}
            )
        try:
            created = response.json()
        except ValueError:
            created = None
        if not isinstance(created, dict) or not created.get("id"):
            raise TransientFailure(_("Mastodon answered the reply with something unexpected."))
        return Sent(
            external_id=str(created.get("uri") or created["id"]), url=str(created.get("url") or "")
        )
