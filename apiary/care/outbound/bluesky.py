"""Replies to Bluesky posts through the AT Protocol's XRPC HTTP API.

Settings (``Source.config`` of a ``bluesky`` source)::

    {"reply_pds_url": "https://bsky.social",        # the reply account's PDS (default)
     "reply_identifier": "brand.bsky.social",        # handle, DID or e-mail of the account
     "reply_secret": "xxxx-xxxx-xxxx-xxxx"}          # an app password (Settings → App passwords)

One reply:

1. ``POST /xrpc/com.atproto.server.createSession`` ``{identifier, password}`` → ``accessJwt``,
   ``refreshJwt``, ``did`` — kept per process (sessions are rate-limited by the PDS: creating
   one per reply would exhaust the account's daily quota). An ``ExpiredToken`` answer to any
   later call refreshes it with ``com.atproto.server.refreshSession`` (bearer = refreshJwt),
   and a refused refresh creates a new session; the call is then made once more.
2. ``GET /xrpc/com.atproto.repo.getRecord?repo=<did>&collection=app.bsky.feed.post&rkey=…`` of
   the mention (its external id is the post's ``at://did/app.bsky.feed.post/rkey`` URI, as the
   Jetstream connector builds it) → the parent's strong ref ``{uri, cid}``; the thread's root is
   the parent's own ``reply.root`` (or the parent, when it starts the thread). A PDS serves
   records of other repositories by asking the AppView, so this works for anyone's post.
   ``400 RecordNotFound`` means the post was deleted: a permanent failure.
3. ``POST /xrpc/com.atproto.repo.createRecord`` ``{repo, collection, rkey, record}`` with an
   ``app.bsky.feed.post`` record ``{text, createdAt, langs?, reply: {root, parent}}``. The record
   key is a TID derived from the message (its creation time and id), so a retry after a lost
   answer cannot post twice: a second attempt first looks the key up and takes the post it
   finds as delivered.

Text: at most 300 graphemes (and 3,000 bytes), Bluesky's limit. A longer reply is **refused**
with a clear reason rather than split into a thread: a half-delivered thread is worse for a
customer than a failed reply the agent can shorten (``text_problem`` lets the page check
before sending).

Failures: 429 → transient, retry after ``ratelimit-reset`` (epoch seconds) or ``retry-after``;
5xx, timeouts, refused connections → transient; wrong identifier or app password, a taken-down
account, a refused record → permanent with Bluesky's own message.
"""

from __future__ import annotations

import hashlib
import threading
import time
import unicodedata
from datetime import UTC
from typing import Any
from urllib.parse import urlsplit

import httpx
from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

from .base import (
    CONNECT_TIMEOUT,
    READ_TIMEOUT,
    USER_AGENT,
    PermanentFailure,
    Sent,
    TransientFailure,
    describe,
)

DEFAULT_PDS = "https://bsky.social"
POST = "app.bsky.feed.post"
MAX_GRAPHEMES = 300
MAX_BYTES = 3000
SETTINGS = ("reply_pds_url", "reply_identifier", "reply_secret")
_S32 = "234567abcdefghijklmnopqrstuvwxyz"
_TOKEN_ERRORS = frozenset({"ExpiredToken", "InvalidToken"})

# (pds, identifier, digest of the app password) → session; one per process and account.
_sessions: dict[tuple[str, str, str], dict[str, str]] = {}
_sessions_lock = threading.Lock()


# --- settings ------------------------------------------------------------------------------


def settings_validate(values: dict[str, Any]) -> dict[str, Any]:
    unknown = sorted(set(values) - set(SETTINGS))
    if unknown:
        raise ValidationError({"reply": [_("Unknown setting(s): %s") % ", ".join(unknown)]})
    pds = (values.get("reply_pds_url") or DEFAULT_PDS).strip().rstrip("/")
    parts = urlsplit(pds)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValidationError({"reply_pds_url": [_("Must be an http(s) address of a PDS.")]})
    identifier = (values.get("reply_identifier") or "").strip().lstrip("@")
    if not identifier or any(ch.isspace() for ch in identifier):
        raise ValidationError(
            {"reply_identifier": [_("The reply account's handle, DID or e-mail is required.")]}
        )
    secret = (values.get("reply_secret") or "").strip()
    if not secret:
        raise ValidationError(
            {"reply_secret": [_("An app password of the reply account is required.")]}
        )
    return {"reply_pds_url": pds, "reply_identifier": identifier, "reply_secret": secret}


def missing_settings(config: dict[str, Any]) -> str | None:
    if not config.get("reply_identifier") or not config.get("reply_secret"):
        return _(
            "This Bluesky source has no reply account: add its handle and an app password "
            "in the source's reply settings."
        )
    return None


# --- text ----------------------------------------------------------------------------------


def _joins(cp: int, ch: str) -> bool:
    """Characters that never start a grapheme cluster (UAX #29 Extend / SpacingMark / ZWJ)."""
    if unicodedata.category(ch) in ("Mn", "Me", "Mc"):
        return True
    return (
        cp == 0x200D  # zero-width joiner
        or 0xFE00 <= cp <= 0xFE0F  # variation selectors
        or 0xE0100 <= cp <= 0xE01EF
        or 0x1F3FB <= cp <= 0x1F3FF  # skin-tone modifiers
        or 0xE0020 <= cp <= 0xE007F  # emoji tag sequences (flags of regions)
        or 0x1160 <= cp <= 0x11FF  # Hangul medial vowels and final consonants
    )


def graphemes(text: str) -> int:
    """User-perceived characters, close to UAX #29 (what Bluesky's 300 limit counts): an
    emoji with modifiers or ZWJ parts, a flag, a letter with combining accents count as one."""
    count = 0
    prev = ""
    regional_run = 0  # regional indicators in a row: every second one closes a flag
    for ch in text:
        cp = ord(ch)
        regional = 0x1F1E6 <= cp <= 0x1F1FF
        if not prev:
            count += 1
        elif prev == "\r" and ch == "\n":
            pass
        elif prev == "\u200d" or _joins(cp, ch):
            pass  # part of the previous cluster
        elif regional and regional_run % 2 == 1:
            pass  # the second letter of a flag
        else:
            count += 1
        regional_run = regional_run + 1 if regional else 0
        prev = ch
    return count


def text_problem(text: str, config: dict[str, Any] | None = None) -> str | None:
    if not text.strip():
        return _("The reply is empty.")
    n = graphemes(text)
    if n > MAX_GRAPHEMES:
        return _(
            "The reply is %(n)d characters long; Bluesky allows %(max)d. Shorten it "
            "(it is not split into several posts)."
        ) % {"n": n, "max": MAX_GRAPHEMES}
    if len(text.encode("utf-8")) > MAX_BYTES:
        return _("The reply is too long for Bluesky (more than 3,000 bytes).")
    return None


# --- sending -------------------------------------------------------------------------------


def tid(time_us: int, clock_id: int) -> str:
    """An atproto TID: 53-bit microsecond time + 10-bit clock id, 13 base32-sortable chars."""
    value = ((time_us & ((1 << 53) - 1)) << 10) | (clock_id & 0x3FF)
    out = []
    for _i in range(13):
        out.append(_S32[value & 31])
        value >>= 5
    return "".join(reversed(out))


def record_key(message) -> str:
    """The same key on every attempt of one message (see the module docstring)."""
    at = message.created_at
    time_us = int(at.timestamp()) * 1_000_000 + at.microsecond
    return tid(time_us, message.pk % 1024)


def parse_post_uri(uri: str) -> tuple[str, str, str] | None:
    """``at://did/collection/rkey`` → its three parts (None for anything else)."""
    if not isinstance(uri, str) or not uri.startswith("at://"):
        return None
    parts = uri[5:].split("/")
    if len(parts) != 3 or not all(parts) or not parts[0].startswith("did:"):
        return None
    return parts[0], parts[1], parts[2]


def _iso(at) -> str:
    return at.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class _Xrpc:
    """One reply's calls to one PDS, with the account's session."""

    def __init__(self, client: httpx.Client, config: dict[str, Any]) -> None:
        self.client = client
        self.pds = config["reply_pds_url"]
        self.identifier = config["reply_identifier"]
        self.secret = config["reply_secret"]
        digest = hashlib.sha256(self.secret.encode()).hexdigest()[:16]
        self.key = (self.pds, self.identifier.casefold(), digest)

    # -- session --
    @property
    def session(self) -> dict[str, str]:
        with _sessions_lock:
            found = _sessions.get(self.key)
        return found or self._create_session()

    def _store(self, body: Any) -> dict[str, str]:
        if not isinstance(body, dict) or not all(
            isinstance(body.get(k), str) and body.get(k) for k in ("accessJwt", "did")
        ):
            raise TransientFailure(
                _("Bluesky answered a session request with something unexpected.")
            )
        session = {
            "accessJwt": body["accessJwt"],
            "refreshJwt": body.get("refreshJwt") or "",
            "did": body["did"],
            "handle": body.get("handle") or "",
        }
        with _sessions_lock:
            _sessions[self.key] = session
        return session

    def _forget(self) -> None:
        with _sessions_lock:
            _sessions.pop(self.key, None)

    def _create_session(self) -> dict[str, str]:
        response = self._http(
            "POST",
            "com.atproto.server.createSession",
            json={"identifier": self.identifier, "password": self.secret},
            what=_("signing in"),
        )
        if response.status_code in (400, 401):
            error, message = _error(response)
            if error in ("AuthenticationRequired", "AuthFactorTokenRequired") or (
                response.status_code == 401
            ):
                raise PermanentFailure(
                    _(
                        "Bluesky refused the reply account's identifier or app password "
                        "(%(message)s); check the source's reply settings."
                    )
                    % {"message": message or error or response.status_code}
                )
            if error in ("AccountTakedown", "AccountDeactivated"):
                raise PermanentFailure(
                    _("The reply account on Bluesky is not usable: %(message)s")
                    % {"message": message or error}
                )
        self._raise_for(response, _("signing in"))
        return self._store(response.json())

    def _refresh(self, session: dict[str, str]) -> dict[str, str]:
        if session.get("refreshJwt"):
            response = self._http(
                "POST",
                "com.atproto.server.refreshSession",
                token=session["refreshJwt"],
                what=_("refreshing the session"),
            )
            if response.status_code == 200:
                return self._store(response.json())
            if response.status_code == 429 or response.status_code >= 500:
                self._raise_for(response, _("refreshing the session"))
        # The refresh token expired or was revoked too: sign in again.
        self._forget()
        return self._create_session()

    # -- calls --
    def call(self, method: str, nsid: str, *, what: str, **kwargs) -> httpx.Response:
        """An authenticated call; an expired access token is refreshed and the call repeated
        once. Returns the response for the caller to judge (``raise_for`` for the usual)."""
        session = self.session
        response = self._http(method, nsid, token=session["accessJwt"], what=what, **kwargs)
        if _expired(response):
            session = self._refresh(session)
            response = self._http(method, nsid, token=session["accessJwt"], what=what, **kwargs)
            if _expired(response):
                self._forget()
                raise TransientFailure(
                    _("Bluesky keeps refusing the reply account's session; will try again.")
                )
        return response

    def _http(self, method: str, nsid: str, *, what: str, token: str | None = None, **kwargs):
        headers = {"User-Agent": USER_AGENT, "Accept": "application/json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        host = urlsplit(self.pds).hostname
        try:
            return self.client.request(method, f"{self.pds}/xrpc/{nsid}", headers=headers, **kwargs)
        except httpx.TimeoutException:
            raise TransientFailure(
                _("Bluesky (%(host)s) did not answer in time while %(what)s.")
                % {"host": host, "what": what}
            ) from None
        except httpx.HTTPError as exc:
            raise TransientFailure(
                _("Could not reach Bluesky (%(host)s) while %(what)s: %(error)s")
                % {"host": host, "what": what, "error": describe(exc)}
            ) from None

    @staticmethod
    def _raise_for(response: httpx.Response, what: str) -> None:
        status = response.status_code
        if status < 300:
            return
        error, message = _error(response)
        detail = message or error or f"HTTP {status}"
        if status == 429:
            raise TransientFailure(
                _("Bluesky is rate limiting the reply account (%(what)s).") % {"what": what},
                retry_after=_rate_limit_wait(response.headers),
            )
        if status >= 500 or status == 408:
            raise TransientFailure(
                _("Bluesky answered HTTP %(status)d while %(what)s: %(detail)s")
                % {"status": status, "what": what, "detail": detail}
            )
        raise PermanentFailure(
            _("Bluesky refused the reply while %(what)s: %(detail)s")
            % {"what": what, "detail": detail}
        )

    raise_for = _raise_for  # the name callers outside the session code use

    def get_record(self, repo: str, collection: str, rkey: str, *, what: str):
        response = self.call(
            "GET",
            "com.atproto.repo.getRecord",
            params={"repo": repo, "collection": collection, "rkey": rkey},
            what=what,
        )
        if response.status_code == 400 and _error(response)[0] == "RecordNotFound":
            return None
        if response.status_code == 400 and _error(response)[0] == "InvalidRequest":
            # Older PDS versions answer a missing repository this way.
            message = _error(response)[1].casefold()
            if "could not locate" in message or "not found" in message:
                return None
        self.raise_for(response, what)
        body = response.json()
        if not isinstance(body, dict) or not isinstance(body.get("cid"), str):
            raise TransientFailure(
                _("Bluesky answered a record request with something unexpected.")
            )
        return body


def _error(response: httpx.Response) -> tuple[str, str]:
    try:
        body = response.json()
    except ValueError:
        return "", ""
    if not isinstance(body, dict):
        return "", ""
    error = body.get("error") if isinstance(body.get("error"), str) else ""
    message = body.get("message") if isinstance(body.get("message"), str) else ""
    return error, message[:300]


def _expired(response: httpx.Response) -> bool:
    return response.status_code in (400, 401) and _error(response)[0] in _TOKEN_ERRORS


def _rate_limit_wait(headers: httpx.Headers) -> float | None:
    """``ratelimit-reset`` is epoch seconds (atproto); ``retry-after`` is seconds."""
    reset = headers.get("ratelimit-reset")
    if reset:
        try:
            return max(0.0, float(reset) - time.time())
        except ValueError:
            pass
    after = headers.get("retry-after")
    if after:
        try:
            return max(0.0, float(after))
        except ValueError:
            pass
    return None


def _strong_ref(value: Any) -> dict[str, str] | None:
    if (
        isinstance(value, dict)
        and isinstance(value.get("uri"), str)
        and value["uri"].startswith("at://")
        and isinstance(value.get("cid"), str)
        and value["cid"]
    ):
        return {"uri": value["uri"], "cid": value["cid"]}
    return None


def send(*, source, conversation, message, parent) -> Sent:
    config = dict(source.config or {})
    problem = missing_settings(config)
    if problem:
        raise PermanentFailure(problem)
    config = settings_validate({k: config.get(k) for k in SETTINGS})
    problem = text_problem(message.text)
    if problem:
        raise PermanentFailure(problem)
    target = parse_post_uri(parent.external_id) if parent is not None else None
    if target is None or target[1] != POST:
        raise PermanentFailure(_("The post being answered has no Bluesky address to reply to."))
    timeout = httpx.Timeout(READ_TIMEOUT, connect=CONNECT_TIMEOUT)
    with httpx.Client(timeout=timeout) as client:
        xrpc = _Xrpc(client, config)
        found = xrpc.get_record(*target, what=_("looking up the post being answered"))
        if found is None:
            raise PermanentFailure(_("The post you are replying to was deleted."))
        parent_ref = _strong_ref(found) or {"uri": parent.external_id, "cid": found["cid"]}
        value = found.get("value") if isinstance(found.get("value"), dict) else {}
        root_ref = _strong_ref((value.get("reply") or {}).get("root")) or parent_ref
        did = xrpc.session["did"]
        rkey = record_key(message)
        url = f"https://bsky.app/profile/{did}/post/{rkey}"
        if message.delivery_attempts > 1:
            # An earlier attempt may have posted without us hearing the answer.
            mine = xrpc.get_record(did, POST, rkey, what=_("checking an earlier attempt"))
            if mine is not None:
                return Sent(external_id=mine.get("uri") or f"at://{did}/{POST}/{rkey}", url=url)
        record: dict[str, Any] = {
            "$type": POST,
            "text": message.text,
            "createdAt": _iso(message.created_at),
            "reply": {"root": root_ref, "parent": parent_ref},
        }
        language = (conversation.language or "").strip()
        if language and language.isascii() and 2 <= len(language) <= 8:
            record["langs"] = [language]
        body = {"repo": did, "collection": POST, "rkey": rkey, "record": record}
        response = xrpc.call(
            "POST", "com.atproto.repo.createRecord", json=body, what=_("posting the reply")
        )
        if response.status_code == 400:
            # A record with this key exists: the post of an earlier attempt.
            mine = xrpc.get_record(did, POST, rkey, what=_("checking an earlier attempt"))
            if mine is not None:
                return Sent(external_id=mine.get("uri") or f"at://{did}/{POST}/{rkey}", url=url)
        xrpc.raise_for(response, _("posting the reply"))
        created = response.json()
        uri = created.get("uri") if isinstance(created, dict) else None
        if not isinstance(uri, str) or not uri.startswith("at://"):
            uri = f"at://{did}/{POST}/{rkey}"
        return Sent(external_id=uri, url=url)


def reset_sessions() -> None:
    """Forget every cached session (tests; after the reply credentials change)."""
    with _sessions_lock:
        _sessions.clear()
