"""Bluesky through Jetstream (v1): a WebSocket of JSON commit/identity/account events.

``GET /subscribe?wantedCollections=app.bsky.feed.post[&wantedDids=…][&cursor=<time_us>]``
sends one JSON text frame per event. Create commits of posts become :class:`RawMention`;
updates, deletes, other collections and account events are ignored; identity events teach
the connector handles (a bounded DID → handle LRU), so authors read ``alice.bsky.social``
rather than ``did:plc:…`` once the network has told us.

Resuming: the cursor is ``{"time_us": <last processed>, "recent": [[key, time_us], …]}``.
Jetstream advises reconnecting a few seconds *before* the last processed ``time_us``
(instances stamp events with their own clocks, so a fail-over can shift times a little);
the connector does that (``overlap_seconds``) and drops the replayed posts it already
emitted, remembered by ``did/rkey`` for the overlap window — no gap and no duplicate across
reconnects and restarts. A crash before a batch is emitted loses nothing either: the saved
cursor is older than the batch, so the replay brings it back.

Config::

    {"url": "wss://jetstream2.us-east.bsky.network/subscribe",
     "wanted_dids": [...],     # optional: only these repos
     "keywords": [...],        # optional prefilter: only posts containing one (case-insensitive)
     "stall_seconds": 30,      # no frame for this long: reconnect from the cursor
     "overlap_seconds": 5}     # replay overlap on reconnect
"""

from __future__ import annotations

import json
import random
import re
import time
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any, ClassVar
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidURI
from websockets.sync.client import ClientConnection, connect

from ..raw import EARLIEST, FUTURE_SKEW, Rejected, now, parse_time, raw_mention_validate
from . import register
from .base import Connector, ConnectorError

DEFAULT_URL = "wss://jetstream2.us-east.bsky.network/subscribe"
POST = "app.bsky.feed.post"
EMBED_RECORD = "app.bsky.embed.record"
EMBED_RECORD_WITH_MEDIA = "app.bsky.embed.recordWithMedia"
MAX_DIDS = 10_000  # Jetstream's limit for wantedDids
MAX_KEYWORDS = 200
_DID_RE = re.compile(r"^did:[a-z]+:[A-Za-z0-9._:%-]{1,2000}$")
_RKEY_RE = re.compile(r"^[A-Za-z0-9._:~-]{1,512}$")


class _Stalled(Exception):
    pass


class _Rejected(Exception):
    pass


@register
class BlueskyConnector(Connector):
    kind = "bluesky"
    default_platform = "bluesky"
    description = "Bluesky posts from a Jetstream firehose, optionally by account or keyword"

    # Batching: emit after this many mentions or this long after the batch's first one.
    batch_max: ClassVar[int] = 500
    batch_seconds: ClassVar[float] = 0.2
    # Reconnect back-off: initial * 2**attempt, capped, times a random factor in [0.5, 1].
    backoff_initial: ClassVar[float] = 1.0
    backoff_max: ClassVar[float] = 60.0
    open_timeout: ClassVar[float] = 10.0
    handles_max: ClassVar[int] = 50_000  # DID → handle LRU
    recent_max: ClassVar[int] = 20_000  # emitted posts remembered for the overlap window
    # Save the cursor at least this often when events pass but none is emitted (keywords).
    idle_cursor_seconds: ClassVar[float] = 5.0

    @classmethod
    def validate_config(cls, config: Mapping[str, Any]) -> dict[str, Any]:
        url = config.get("url") or DEFAULT_URL
        if not isinstance(url, str) or urlsplit(url.strip()).scheme not in ("ws", "wss"):
            raise ConnectorError("url: must be a ws:// or wss:// Jetstream address")
        url = url.strip()
        if not urlsplit(url).hostname:
            raise ConnectorError("url: has no host name")
        dids = config.get("wanted_dids") or []
        if isinstance(dids, str):
            dids = [d for d in re.split(r"[\s,]+", dids) if d]
        if not isinstance(dids, list) or not all(isinstance(d, str) for d in dids):
            raise ConnectorError("wanted_dids: must be a list of DIDs")
        dids = list(dict.fromkeys(d.strip() for d in dids if d.strip()))
        bad = [d for d in dids if not _DID_RE.match(d)]
        if bad:
            raise ConnectorError(f"wanted_dids: not a DID: {bad[0][:60]!r}")
        if len(dids) > MAX_DIDS:
            raise ConnectorError(f"wanted_dids: at most {MAX_DIDS:,} DIDs")
        keywords = config.get("keywords") or []
        if isinstance(keywords, str):
            keywords = keywords.split(",")
        if not isinstance(keywords, list) or not all(isinstance(k, str) for k in keywords):
            raise ConnectorError("keywords: must be a list of words")
        keywords = list(dict.fromkeys(k.strip().casefold() for k in keywords if k.strip()))
        if len(keywords) > MAX_KEYWORDS:
            raise ConnectorError(f"keywords: at most {MAX_KEYWORDS}")
        cleaned: dict[str, Any] = {"url": url, "wanted_dids": dids, "keywords": keywords}
        for name, default, low, high in (
            ("stall_seconds", 30.0, 0.05, 3600.0),
            ("overlap_seconds", 5.0, 0.0, 600.0),
        ):
            value = config.get(name, default)
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ConnectorError(f"{name}: must be a number of seconds")
            if not low <= value <= high:
                raise ConnectorError(f"{name}: must be between {low:g} and {high:g}")
            cleaned[name] = float(value)
        return cleaned

    def __init__(self, ctx) -> None:
        super().__init__(ctx)
        self.handles: OrderedDict[str, str] = OrderedDict()
        cursor = ctx.cursor or {}
        last = cursor.get("time_us")
        self.time_us: int | None = last if isinstance(last, int) and last > 0 else None
        # did/rkey → time_us of the posts emitted in the overlap window.
        self.recent: OrderedDict[str, int] = OrderedDict()
        for item in cursor.get("recent") or []:
            if isinstance(item, list) and len(item) == 2 and isinstance(item[1], int):
                self.recent[str(item[0])] = item[1]
        self.pending: list = []
        self.pending_since = 0.0
        self.dirty = False  # time_us moved since the cursor was last saved
        self.saved_at = time.monotonic()
        self._rng = random.Random()
        self.got_frames = False

    # --- the loop ------------------------------------------------------------------------------
    def run(self) -> None:
        ctx = self.ctx
        try:
            self.config = self.validate_config(ctx.config)
        except ConnectorError as exc:
            ctx.report_error(str(exc))
            return
        self.keywords = self.config["keywords"]
        attempt = 0
        while not ctx.stopping:
            url = self.subscribe_url()
            self.got_frames = False
            try:
                with connect(
                    url,
                    open_timeout=self.open_timeout,
                    close_timeout=1,
                    compression=None,
                    max_size=2**21,
                    user_agent_header="Apiary social listening",
                ) as ws:
                    ctx.report_ok()
                    self.consume(ws)
            except (InvalidHandshake, InvalidURI, TimeoutError) as exc:
                ctx.report_error(f"cannot connect to {self.config['url']}: {_describe(exc)}")
            except _Stalled:
                ctx.report_error(
                    f"no event from {self.config['url']} for "
                    f"{self.config['stall_seconds']:g} s; reconnecting"
                )
            except ConnectionClosed as exc:
                if not ctx.stopping:
                    ctx.report_error(f"connection closed: {_describe(exc)}; reconnecting")
            except OSError as exc:
                ctx.report_error(f"cannot connect to {self.config['url']}: {_describe(exc)}")
            finally:
                self.flush()
            if ctx.stopping:
                break
            # A connection that delivered resets the back-off; one that never did grows it.
            attempt = 1 if self.got_frames else attempt + 1
            if not ctx.sleep(self.backoff(attempt)):
                break
        self.flush()
        if self.dirty:
            self.save()

    def backoff(self, attempt: int) -> float:
        delay = min(self.backoff_max, self.backoff_initial * 2 ** max(0, attempt - 1))
        return delay * self._rng.uniform(0.5, 1.0)

    def subscribe_url(self) -> str:
        parts = urlsplit(self.config["url"])
        keep = [
            (k, v)
            for k, v in parse_qsl(parts.query)
            if k not in ("wantedCollections", "wantedDids", "cursor")
        ]
        query = [*keep, ("wantedCollections", POST)]
        query += [("wantedDids", d) for d in self.config["wanted_dids"]]
        if self.time_us is not None:
            overlap = int(self.config["overlap_seconds"] * 1_000_000)
            query.append(("cursor", str(max(1, self.time_us - overlap))))
        return urlunsplit(
            (parts.scheme, parts.netloc, parts.path or "/subscribe", urlencode(query), "")
        )

    def consume(self, ws: ClientConnection) -> None:
        """Read frames until stopping (returns) or a failure (raises)."""
        ctx = self.ctx
        stall = self.config["stall_seconds"]
        last_frame = time.monotonic()
        while not ctx.stopping:
            wait = min(self.batch_seconds, stall)
            if self.pending:
                wait = max(
                    0.0, min(wait, self.pending_since + self.batch_seconds - time.monotonic())
                )
            try:
                frame = ws.recv(timeout=wait)
            except TimeoutError:
                frame = None
            clock = time.monotonic()
            if frame is None:
                if clock - last_frame >= stall:
                    raise _Stalled
            else:
                last_frame = clock
                self.got_frames = True
                self.handle_frame(frame)
            if self.pending and (
                len(self.pending) >= self.batch_max
                or clock - self.pending_since >= self.batch_seconds
            ):
                self.flush()
            elif (
                self.dirty
                and not self.pending
                and clock - self.saved_at >= self.idle_cursor_seconds
            ):
                self.save()

    # --- one frame -----------------------------------------------------------------------------
    def handle_frame(self, frame: str | bytes) -> None:
        try:
            event = self.parse(frame)
        except _Rejected as exc:
            preview = frame[:500] if isinstance(frame, str | bytes) else None
            self.ctx.reject(str(exc), preview)
            return
        if event is None:
            return
        time_us = event["time_us"]
        kind = event.get("kind")
        if kind == "identity":
            self.learn_identity(event)
        elif kind == "commit":
            self.handle_commit(event)
        # "account" and unknown kinds: nothing to do.
        if self.time_us is None or time_us > self.time_us:
            self.time_us = time_us
            self.dirty = True

    @staticmethod
    def parse(frame: str | bytes) -> dict[str, Any]:
        if not isinstance(frame, str):
            raise _Rejected("binary frame (compressed streams are not supported)")
        try:
            event = json.loads(frame)
        except ValueError:
            raise _Rejected("frame is not JSON") from None
        if not isinstance(event, dict):
            raise _Rejected("frame is not a JSON object")
        time_us = event.get("time_us")
        if isinstance(time_us, bool) or not isinstance(time_us, int) or time_us <= 0:
            raise _Rejected("time_us: must be a positive integer")
        did = event.get("did")
        if not isinstance(did, str) or not _DID_RE.match(did):
            raise _Rejected("did: must be a DID")
        kind = event.get("kind")
        if not isinstance(kind, str):
            raise _Rejected("kind: must be a string")
        if kind == "commit":
            commit = event.get("commit")
            if not isinstance(commit, dict):
                raise _Rejected("commit: must be an object")
            for name in ("operation", "collection", "rkey"):
                if not isinstance(commit.get(name), str):
                    raise _Rejected(f"commit.{name}: must be a string")
            if not _RKEY_RE.match(commit["rkey"]):
                raise _Rejected("commit.rkey: not a record key")
            if commit["operation"] == "create" and commit["collection"] == POST:
                record = commit.get("record")
                if not isinstance(record, dict):
                    raise _Rejected("commit.record: must be an object")
                if not isinstance(record.get("text", ""), str):
                    raise _Rejected("commit.record.text: must be a string")
        elif kind == "identity":
            identity = event.get("identity")
            if not isinstance(identity, dict):
                raise _Rejected("identity: must be an object")
            handle = identity.get("handle")
            if handle is not None and not isinstance(handle, str):
                raise _Rejected("identity.handle: must be a string")
        return event

    def learn_identity(self, event: dict[str, Any]) -> None:
        did = event["did"]
        handle = (event["identity"].get("handle") or "").strip().lower()
        if handle and handle != "handle.invalid":
            self.handles[did] = handle
            self.handles.move_to_end(did)
            while len(self.handles) > self.handles_max:
                self.handles.popitem(last=False)
        else:
            self.handles.pop(did, None)

    def handle_commit(self, event: dict[str, Any]) -> None:
        commit = event["commit"]
        if commit["operation"] != "create" or commit["collection"] != POST:
            return  # edits and deletions are not new mentions; likes/follows are not posts
        did, rkey = event["did"], commit["rkey"]
        record = commit["record"]
        text = record.get("text") or ""
        if not text.strip():
            return  # an image-only post: nothing to listen to
        if self.keywords:
            folded = text.casefold()
            if not any(k in folded for k in self.keywords):
                return
        key = f"{did}/{rkey}"
        if key in self.recent:
            return  # replayed by the reconnect overlap: already emitted
        try:
            mention = self.to_mention(event)
        except Rejected as exc:
            self.ctx.reject(f"post {key}: {exc}", event)
            return
        self.recent[key] = event["time_us"]
        if not self.pending:
            self.pending_since = time.monotonic()
        self.pending.append(mention)

    def to_mention(self, event: dict[str, Any]):
        did, commit = event["did"], event["commit"]
        record, rkey = commit["record"], commit["rkey"]
        received = now()
        created: Any = event["time_us"]
        try:
            stated = parse_time(record.get("createdAt"))
        except ValueError:
            pass
        else:  # backdated (imported) or clock-skewed posts fall back to the firehose time
            if EARLIEST <= stated <= received + FUTURE_SKEW:
                created = stated.isoformat()
        langs = record.get("langs")
        language = (
            langs[0] if isinstance(langs, list) and langs and isinstance(langs[0], str) else ""
        )
        handle = self.handles.get(did)
        if handle:
            self.handles.move_to_end(did)
        who = handle or did
        item: dict[str, Any] = {
            "platform": "bluesky",
            "external_id": f"at://{did}/{POST}/{rkey}",
            "text": record["text"],
            "created_at": created,
            "language": language[:20],
            "author": {"handle": who, "url": f"https://bsky.app/profile/{who}"},
            "url": f"https://bsky.app/profile/{did}/post/{rkey}",
            "parent_external_id": _uri(_dig(record, "reply", "parent")),
            "quote_external_id": _quote(record.get("embed")),
            "raw": event,
        }
        return raw_mention_validate(
            item, received_at=received, source_id=self.ctx.source_id, default_platform="bluesky"
        )

    # --- emitting ------------------------------------------------------------------------------
    def cursor(self) -> dict[str, Any]:
        if self.time_us is None:
            return {}
        horizon = self.time_us - 2 * int(self.config["overlap_seconds"] * 1_000_000) - 1_000_000
        for key in [k for k, t in self.recent.items() if t < horizon]:
            del self.recent[key]
        while len(self.recent) > self.recent_max:
            self.recent.popitem(last=False)
        return {"time_us": self.time_us, "recent": [[k, t] for k, t in self.recent.items()]}

    def flush(self) -> None:
        if not self.pending:
            return
        batch, self.pending = self.pending, []
        self.ctx.emit(batch, cursor=self.cursor())
        self.dirty = False
        self.saved_at = time.monotonic()

    def save(self) -> None:
        self.ctx.save_cursor(self.cursor())
        self.dirty = False
        self.saved_at = time.monotonic()


def _dig(data: Any, *names: str) -> Any:
    for name in names:
        if not isinstance(data, dict):
            return None
        data = data.get(name)
    return data


def _uri(ref: Any) -> str:
    uri = ref.get("uri") if isinstance(ref, dict) else None
    return uri if isinstance(uri, str) and uri.startswith("at://") else ""


def _quote(embed: Any) -> str:
    if not isinstance(embed, dict):
        return ""
    if embed.get("$type") == EMBED_RECORD:
        return _uri(embed.get("record"))
    if embed.get("$type") == EMBED_RECORD_WITH_MEDIA:  # a quote with pictures
        return _uri(_dig(embed, "record", "record"))
    return ""


def _describe(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text[:300]
