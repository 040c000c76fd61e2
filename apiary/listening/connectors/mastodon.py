"""Mastodon (and API-compatible servers): a hashtag or public timeline (kind ``"mastodon"``).

Config::

    {"base_url": "https://mastodon.example",
     "timeline": "hashtag" | "public" | "public:local",
     "hashtag": "coffee",          # required for "hashtag", without '#'
     "access_token": "...",        # optional; many servers require one for public timelines
     "stall_seconds": 60}          # optional: reconnect when the stream sends nothing this long

Each connection: open the SSE stream (``/api/v1/streaming/hashtag?tag=…``, ``/public``,
``/public/local``), *then* backfill over REST from the cursor's ``last_id``
(``/api/v1/timelines/tag/:hashtag`` or ``/api/v1/timelines/public``, ``min_id`` + ``limit=40``,
following the ``Link: rel="prev"`` page, oldest first, until an empty page), then read the
stream. Because the stream is subscribed before the backfill runs, a status posted in between is
in the socket buffer or in the backfill: no gap; the overlap is dropped by external id.

Cursor: ``{"last_id": "113..."}`` — the highest status id seen (numeric strings, compared as
integers), carried by every emitted batch. Without a cursor the first backfill is only the latest
page, not the whole history.

A Status becomes one mention: ``external_id`` is the instance-independent ``uri`` (a reblog is
mapped to the reblogged status, and skipped if that one was already emitted), ``text`` the
``content`` HTML as plain text (spoiler text first; media descriptions if there is no text),
``author.handle`` the ``acct`` with the domain (``ann@coffee.social``), ``author.location`` only
from a profile field named Location/Ubicación/Местоположение/…, ``parent_external_id`` the
parent's ``uri`` when it was seen in this run, else the raw ``in_reply_to_id``. ``delete`` and
``status.update`` events are ignored (mentions are immutable downstream).

Failures: 401 → ``report_error("access token rejected …")`` and a slow retry; 429 waits for
``X-RateLimit-Reset`` / ``Retry-After``; anything else (5xx, refused, disconnect, a stalled
stream) reconnects with exponential back-off and jitter. Malformed SSE lines or JSON are
``ctx.reject``-ed and the stream goes on.
"""

from __future__ import annotations

import json
import re
import socket
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from typing import Any, ClassVar
from urllib.parse import quote, urlencode, urlsplit

import httpx

from .. import raw
from . import register
from ._common import Backoff, RecentIds, check_http_url, html_to_text, retry_after
from .base import Connector, ConnectorError

TIMELINES = ("hashtag", "public", "public:local")
_HASHTAG_RE = re.compile(r"^[^\W][\w·]*$", re.UNICODE)
LOCATION_FIELDS = frozenset(
    {
        "location",
        "ubicación",
        "ubicacion",
        "местоположение",
        "местонахождение",
        "город",
        "localização",
        "localizacao",
        "localisation",
        "lieu",
        "standort",
        "ort",
        "wohnort",
        "posizione",
        "based in",
        "lives in",
    }
)
USER_AGENT = "Apiary/0.1 (Social CRM listening)"


class _Failure(Exception):
    def __init__(self, message: str, *, delay: float | None = None, slow: bool = False):
        super().__init__(message)
        self.message = message
        self.delay = delay  # a server-given wait (429)
        self.slow = slow  # 401: retry on the slow schedule


def id_key(value: str) -> tuple[int, str]:
    """Order of status ids: numeric strings as integers (also fine for fixed-width flake ids)."""
    digits = value.lstrip("0")
    return (len(digits), digits)


def _max_id(a: str | None, b: str | None) -> str | None:
    if not a:
        return b
    if not b:
        return a
    return a if id_key(a) >= id_key(b) else b


@register
class MastodonConnector(Connector):
    kind = "mastodon"
    default_platform = "mastodon"
    description = "Mastodon hashtag or public timeline (streaming, with REST backfill)"

    page_limit: ClassVar[int] = 40
    timeout_seconds: ClassVar[float] = 20.0
    default_stall_seconds: ClassVar[float] = 60.0
    min_stall_seconds: ClassVar[float] = 5.0
    reconnect_base_seconds: ClassVar[float] = 1.0
    reconnect_max_seconds: ClassVar[float] = 300.0
    unauthorized_retry_seconds: ClassVar[float] = 900.0
    max_retry_after_seconds: ClassVar[float] = 3600.0
    stable_seconds: ClassVar[float] = 30.0  # a connection this old resets the back-off
    recent_limit: ClassVar[int] = 5000

    @classmethod
    def validate_config(cls, config: Mapping[str, Any]) -> dict[str, Any]:
        if not isinstance(config, Mapping):
            raise ConnectorError("config: must be an object")
        allowed = {"base_url", "timeline", "hashtag", "access_token", "stall_seconds"}
        unknown = sorted(set(config) - allowed)
        if unknown:
            raise ConnectorError(f"unknown setting(s): {', '.join(unknown)}")
        base_url = check_http_url(config.get("base_url"), "base_url").rstrip("/")
        if urlsplit(base_url).query or urlsplit(base_url).fragment:
            raise ConnectorError(
                "base_url: give the server address only, e.g. https://mastodon.social"
            )
        timeline = config.get("timeline") or "hashtag"
        if timeline not in TIMELINES:
            raise ConnectorError(
                f"timeline: must be one of {', '.join(TIMELINES)} (got {timeline!r})"
            )
        hashtag = config.get("hashtag") or ""
        if not isinstance(hashtag, str):
            raise ConnectorError("hashtag: must be text")
        hashtag = hashtag.strip().lstrip("#")
        if timeline == "hashtag":
            if not hashtag:
                raise ConnectorError("hashtag: is required for the hashtag timeline (without #)")
            if len(hashtag) > 100 or not _HASHTAG_RE.match(hashtag):
                raise ConnectorError(
                    f"hashtag: letters, digits and underscores only, no spaces (got {hashtag!r})"
                )
        token = config.get("access_token") or ""
        if not isinstance(token, str) or any(ch.isspace() for ch in token.strip()):
            raise ConnectorError("access_token: must be a token string without spaces")
        stall = config.get("stall_seconds", cls.default_stall_seconds)
        if (
            isinstance(stall, bool)
            or not isinstance(stall, int | float)
            or not cls.min_stall_seconds <= stall <= 3600
        ):
            raise ConnectorError(
                f"stall_seconds: must be from {cls.min_stall_seconds:g} to 3600 (got {stall!r})"
            )
        clean: dict[str, Any] = {
            "base_url": base_url,
            "timeline": timeline,
            "hashtag": hashtag if timeline == "hashtag" else "",
            "access_token": token.strip(),
            "stall_seconds": stall,
        }
        return clean

    # -- running --------------------------------------------------------------------------

    def run(self) -> None:
        ctx = self.ctx
        try:
            self.config = self.validate_config(ctx.config)
        except ConnectorError as exc:
            ctx.report_error(f"invalid configuration: {exc}")
            while ctx.sleep(3600):
                pass
            return
        cfg = self.config
        self.base_url = cfg["base_url"]
        self.stream_base = cfg["base_url"]
        self.domain = urlsplit(self.base_url).hostname or ""
        self._instance_known = False
        self.recent = RecentIds(limit=self.recent_limit)  # external ids emitted this run
        self._uris: dict[str, str] = {}  # status id -> uri of what this run emitted
        headers = {"User-Agent": USER_AGENT, "Accept": "application/json"}
        if cfg["access_token"]:
            headers["Authorization"] = f"Bearer {cfg['access_token']}"
        backoff = Backoff(self.reconnect_base_seconds, self.reconnect_max_seconds, jitter=0.5)
        with httpx.Client(
            timeout=httpx.Timeout(self.timeout_seconds),
            headers=headers,
            follow_redirects=True,
            max_redirects=5,
        ) as client:
            while not ctx.stopping:
                started = time.monotonic()
                try:
                    message = self._session(client)
                    delay = None
                    slow = False
                except _Failure as failure:
                    message, delay, slow = failure.message, failure.delay, failure.slow
                if ctx.stopping:
                    return
                if time.monotonic() - started >= self.stable_seconds:
                    backoff.reset()
                if slow:
                    wait = self.unauthorized_retry_seconds
                elif delay is not None:
                    wait = min(delay, self.max_retry_after_seconds)
                    backoff.next()
                else:
                    wait = backoff.next()
                ctx.report_error(f"{message}; reconnecting in {wait:.3g}s")
                if not ctx.sleep(wait):
                    return

    def _session(self, client: httpx.Client) -> str:
        """One connection: stream subscribed, backfill, then stream. Returns why it ended."""
        ctx, cfg = self.ctx, self.config
        if not self._instance_known:
            self._discover(client)
        stall = float(cfg["stall_seconds"])
        url = self._stream_url()
        timeout = httpx.Timeout(self.timeout_seconds, read=stall)
        headers = {"Accept": "text/event-stream", "Cache-Control": "no-store"}
        try:
            with client.stream("GET", url, headers=headers, timeout=timeout) as response:
                self._check(response, "streaming")
                ctype = response.headers.get("content-type", "")
                if "text/event-stream" not in ctype:
                    raise _Failure(f"the streaming endpoint answered {ctype or 'no content type'}")
                self._backfill(client)
                ctx.report_ok()
                with _closed_on_stop(ctx, response):
                    for event, data in self._events(response):
                        self._on_event(event, data)
                        if ctx.stopping:
                            break
            return "the server closed the stream"
        except httpx.ReadTimeout:
            raise _Failure(f"the stream stalled: no data for {stall:g}s") from None
        except httpx.TimeoutException:
            raise _Failure(f"timed out connecting to {urlsplit(url).hostname}") from None
        except httpx.ConnectError as exc:
            host = urlsplit(url).hostname
            raise _Failure(f"could not connect to {host}: {exc or 'connection refused'}") from None
        except httpx.HTTPError as exc:
            if ctx.stopping:
                return "stopping"
            raise _Failure(f"the stream was cut: {exc or type(exc).__name__}") from None

    def _discover(self, client: httpx.Client) -> None:
        """The instance's own domain (for ``acct`` handles) and streaming host, if it says."""
        try:
            response = client.get(f"{self.base_url}/api/v2/instance")
            info = response.json() if response.status_code == 200 else None
        except (httpx.HTTPError, ValueError):
            return
        if not isinstance(info, dict):
            self._instance_known = True
            return
        if isinstance(info.get("domain"), str) and info["domain"]:
            self.domain = info["domain"].lower()
        streaming = ((info.get("configuration") or {}).get("urls") or {}).get("streaming")
        if isinstance(streaming, str) and streaming.startswith(("wss://", "ws://")):
            self.stream_base = "http" + streaming.removeprefix("ws").rstrip("/")
        self._instance_known = True

    def _stream_url(self) -> str:
        cfg = self.config
        if cfg["timeline"] == "hashtag":
            return (
                f"{self.stream_base}/api/v1/streaming/hashtag?{urlencode({'tag': cfg['hashtag']})}"
            )
        if cfg["timeline"] == "public:local":
            return f"{self.stream_base}/api/v1/streaming/public/local"
        return f"{self.stream_base}/api/v1/streaming/public"

    def _timeline_url(self, **params: str) -> str:
        cfg = self.config
        query = {"limit": str(self.page_limit), **params}
        if cfg["timeline"] == "hashtag":
            path = f"/api/v1/timelines/tag/{quote(cfg['hashtag'], safe='')}"
        else:
            path = "/api/v1/timelines/public"
            if cfg["timeline"] == "public:local":
                query["local"] = "true"
        return f"{self.base_url}{path}?{urlencode(query)}"

    def _check(self, response: httpx.Response, what: str) -> None:
        status = response.status_code
        if status < 400:
            return
        if status == 401:
            hint = (
                "" if self.config["access_token"] else " (none configured; this server needs one)"
            )
            raise _Failure(f"access token rejected (HTTP 401 from {what}){hint}", slow=True)
        if status == 429:
            wait = retry_after(response.headers)
            raise _Failure(f"rate limited (HTTP 429 from {what})", delay=wait)
        reason = ""
        with suppress(Exception):
            response.read()
            body = response.json()
            if isinstance(body, dict) and isinstance(body.get("error"), str):
                reason = f": {body['error'][:200]}"
        raise _Failure(f"HTTP {status} from {what}{reason}")

    # -- backfill -------------------------------------------------------------------------

    def _backfill(self, client: httpx.Client) -> None:
        ctx = self.ctx
        last_id = ctx.cursor.get("last_id")
        if not isinstance(last_id, str) or not last_id:
            url = self._timeline_url()  # a new source: the latest page, not all history
            pages = 1
        else:
            url = self._timeline_url(min_id=last_id)
            pages = None
        origin = urlsplit(self.base_url)[:2]
        while url and not ctx.stopping:
            try:
                response = client.get(url)
            except httpx.HTTPError as exc:
                raise _Failure(f"backfill failed: {exc or type(exc).__name__}") from None
            self._check(response, "timeline")
            try:
                page = response.json()
            except ValueError:
                raise _Failure("the timeline answered something that is not JSON") from None
            if not isinstance(page, list):
                raise _Failure("the timeline answered something that is not a list of statuses")
            statuses = [s for s in page if isinstance(s, dict) and isinstance(s.get("id"), str)]
            for bad in (s for s in page if s not in statuses):
                ctx.reject("timeline item is not a status", bad)
            if not statuses:
                return
            statuses.sort(key=lambda s: id_key(s["id"]))
            self._take(statuses)
            if pages is not None:
                pages -= 1
                if pages <= 0:
                    return
            newest = statuses[-1]["id"]
            prev = response.links.get("prev", {}).get("url")
            if prev and urlsplit(prev)[:2] == origin and "min_id=" in prev:
                url = prev
            else:
                url = self._timeline_url(min_id=newest)

    # -- stream ---------------------------------------------------------------------------

    def _events(self, response: httpx.Response) -> Iterator[tuple[str, str]]:
        """Server-Sent Events: (event, data) per frame; comments (heartbeats) skipped."""
        event, data = "", []
        for line in response.iter_lines():
            if line == "":
                if data:
                    yield event, "\n".join(data)
                elif event:
                    self.ctx.reject("SSE frame without data", event)
                event, data = "", []
                continue
            if line.startswith(":"):
                continue  # heartbeat (":thump") or the ":)" greeting
            name, _, value = line.partition(":")
            if value.startswith(" "):
                value = value[1:]
            if name == "event":
                event = value
            elif name == "data":
                data.append(value)
            elif name in ("id", "retry"):
                pass
            else:
                self.ctx.reject("malformed SSE line", line[:500])

    def _on_event(self, event: str, data: str) -> None:
        if event in ("delete", "status.update", "notification", "filters_changed", "announcement"):
            return  # mentions are immutable downstream; deletes/edits are not ours to apply
        if event not in ("update", ""):
            return
        if not event:
            self.ctx.reject("SSE frame without an event type", data[:500])
            return
        try:
            status = json.loads(data)
        except ValueError as exc:
            self.ctx.reject(f"malformed JSON in an update event: {exc}", data[:500])
            return
        if not isinstance(status, dict) or not isinstance(status.get("id"), str):
            self.ctx.reject("update event is not a status", data[:500])
            return
        self._take([status])

    # -- mapping --------------------------------------------------------------------------

    def _take(self, statuses: list[dict]) -> None:
        """Emit the new ones (oldest first) with the advanced cursor."""
        ctx = self.ctx
        last_id = ctx.cursor.get("last_id")
        if not isinstance(last_id, str):
            last_id = None
        received = raw.now()
        mentions = []
        for status in statuses:
            last_id = _max_id(last_id, status["id"])
            subject = status.get("reblog") if isinstance(status.get("reblog"), dict) else status
            item = self._item(subject)
            key = item["external_id"]
            if isinstance(key, str) and key in self.recent:
                continue  # a reblog of, or an overlap with, something already emitted
            try:
                mention = raw.raw_mention_validate(
                    item,
                    received_at=received,
                    source_id=ctx.source_id,
                    default_platform=self.default_platform,
                )
            except raw.Rejected as rejected:
                ctx.reject(str(rejected), status)
                continue
            self.recent.add(mention.external_id)
            if isinstance(subject.get("id"), str):
                self._remember(subject["id"], mention.external_id)
            mentions.append(mention)
        cursor = {**ctx.cursor, "last_id": last_id} if last_id else ctx.cursor
        if mentions:
            ctx.emit(mentions, cursor=cursor)
        elif cursor != ctx.cursor:
            ctx.save_cursor(cursor)

    def _remember(self, status_id: str, uri: str) -> None:
        self._uris[status_id] = uri
        while len(self._uris) > self.recent_limit:
            del self._uris[next(iter(self._uris))]

    def _item(self, status: dict) -> dict[str, Any]:
        external_id = status.get("uri") or status.get("id")
        text = html_to_text(status.get("content") or "")
        spoiler = html_to_text(status.get("spoiler_text") or "")
        if spoiler:
            text = f"{spoiler}\n\n{text}" if text else spoiler
        if not text:
            alts = [
                m.get("description")
                for m in status.get("media_attachments") or ()
                if isinstance(m, dict) and isinstance(m.get("description"), str)
            ]
            text = "\n".join(a.strip() for a in alts if a and a.strip())
        item: dict[str, Any] = {
            "external_id": external_id,
            "text": text,
            "created_at": status.get("created_at"),
            "url": status.get("url") or status.get("uri") or "",
            "raw": status,
        }
        if isinstance(status.get("language"), str) and status["language"]:
            item["language"] = status["language"]
        account = status.get("account")
        if isinstance(account, dict):
            item["author"] = self._author(account)
        parent = status.get("in_reply_to_id")
        if isinstance(parent, str | int) and not isinstance(parent, bool) and parent:
            item["parent_external_id"] = self._uris.get(str(parent), str(parent))
        quote_ = status.get("quote")
        if isinstance(quote_, dict) and isinstance(quote_.get("quoted_status"), dict):
            quoted = quote_["quoted_status"]
            if quoted.get("uri"):
                item["quote_external_id"] = quoted["uri"]
        return item

    def _author(self, account: dict) -> dict[str, Any]:
        author: dict[str, Any] = {}
        acct = account.get("acct")
        if isinstance(acct, str) and acct:
            acct = acct.lstrip("@")
            author["handle"] = acct if "@" in acct else f"{acct}@{self.domain}"
        name = account.get("display_name") or account.get("username")
        if isinstance(name, str) and name:
            author["name"] = name[: raw.MAX_SHORT_CHARS]
        if isinstance(account.get("url"), str):
            author["url"] = account["url"]
        followers = account.get("followers_count")
        if isinstance(followers, int) and not isinstance(followers, bool) and followers >= 0:
            author["followers"] = followers
        for field in account.get("fields") or ():
            if not isinstance(field, dict):
                continue
            label = html_to_text(str(field.get("name") or "")).strip(" :").casefold()
            if label in LOCATION_FIELDS:
                value = html_to_text(str(field.get("value") or ""))
                if value:
                    author["location"] = value[: raw.MAX_SHORT_CHARS]
                    break
        return author


@contextmanager
def _closed_on_stop(ctx, response: httpx.Response):
    """Shut the stream's socket down when the source is stopping, so a blocked read returns
    at once instead of at the next heartbeat."""
    done = threading.Event()
    sock = None
    with suppress(Exception):
        sock = response.extensions["network_stream"].get_extra_info("socket")

    def watch() -> None:
        while not done.wait(0.05):
            if ctx.stopping:
                if sock is not None:
                    with suppress(OSError):
                        sock.shutdown(socket.SHUT_RDWR)
                return

    watcher = threading.Thread(target=watch, name="mastodon-stop-watch", daemon=True)
    watcher.start()
    try:
        yield
    finally:
        done.set()
        watcher.join(1)
