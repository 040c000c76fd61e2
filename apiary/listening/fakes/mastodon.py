"""A fake Mastodon instance: REST timelines and SSE streaming over real HTTP on 127.0.0.1.

Endpoints (as Mastodon 4.x serves them):

- ``GET /api/v2/instance`` — ``domain`` and ``configuration.urls.streaming``;
- ``GET /api/v1/timelines/tag/:hashtag`` and ``GET /api/v1/timelines/public?local=true`` with
  ``max_id`` / ``since_id`` / ``min_id`` / ``limit`` (default 20, at most 40), newest first, and
  a ``Link`` header (``rel="next"`` → ``max_id`` of the oldest, ``rel="prev"`` → ``min_id`` of the
  newest status of the page);
- ``GET /api/v1/statuses/:id``;
- ``POST /api/v1/statuses`` (JSON or form: ``status``, ``in_reply_to_id``, ``visibility``,
  ``language``) for replies: needs ``Authorization: Bearer <post_token>`` (401 otherwise, 403
  for a token in ``read_only_tokens``), honours ``Idempotency-Key`` (the same key answers the
  status it already made, as Mastodon does for an hour), 404 for an unknown
  ``in_reply_to_id``, 422 for blank or too long text (``max_characters``); the new status is
  stored and streamed like any other and listed in ``posted``; ``post_delay`` answers late
  (after the status was made: a client that times out must not post twice when it retries);
- ``GET /api/v2/search?q=<status uri>&type=statuses&resolve=true``;
- ``GET /api/v1/streaming/hashtag?tag=…``, ``/hashtag/local``, ``/public``, ``/public/local`` —
  ``text/event-stream`` in chunked encoding: ``:)`` on connect, ``:thump`` heartbeats,
  ``event: update`` / ``event: delete`` / ``event: status.update`` frames for what is posted
  while the client is connected.

Script::

    with FakeMastodon() as server:
        first = server.toot("Best #coffee in town", tags=["coffee"])   # make + post
        server.delete(first["id"]); server.edit(first["id"], "<p>edited</p>")
        server.drop_streams()          # cut every open stream mid-body
        server.garbage()               # malformed SSE frames / JSON to every open stream
        server.fault("429", on="rest", reset_in=0.5)   # next REST call → 429 + X-RateLimit-Reset
        server.fault("stall", on="stream")             # next stream: headers, then silence
        server.require_token = "secret"                # wrong or missing token → 401
        server.rest_delay = 0.3                        # slow REST (post during a backfill)

Faults (``"429"``, ``"401"``, ``"500"``, ``"stall"``) apply to the next ``times`` matching
requests only. ``requests`` logs every request; ``streams_opened`` counts stream connections.
"""

from __future__ import annotations

import json
import queue
import socket
import threading
import time
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, quote, unquote, urlencode, urlsplit

from .feeds import QuietHTTPServer

DOMAIN = "coffee.social"

ACCOUNTS: dict[str, dict[str, Any]] = {
    "ann": {"display_name": "Ann Barista ☕", "followers": 1520, "location": "Portland, OR"},
    "ivan@mastodon.ru.example": {"display_name": "Иван Петров", "followers": 87},
    "lucia@masto.es.example": {
        "display_name": "Lucía",
        "followers": 403,
        "fields": [("Ubicación", "Sevilla"), ("Web", "https://lucia.example")],
    },
    "ridgeback": {"display_name": "Ridgeback Coffee", "followers": 12034, "bot": False},
}

COFFEE_TOOTS = [
    (
        "ann",
        "en",
        '<p>The new <a href="https://coffee.social/tags/coffee" class="mention '
        'hashtag" rel="tag">#<span>coffee</span></a> blend at Ridgeback is <em>amazing</em>.'
        "</p><p>Nutty, low acidity.</p>",
    ),
    (
        "ivan@mastodon.ru.example",
        "ru",
        "<p>Взял капучино в Ridgeback — молоко пережарено, "
        'но зерно хорошее. <a href="https://coffee.social/tags/coffee" class="mention '
        'hashtag" rel="tag">#<span>coffee</span></a></p>',
    ),
    (
        "lucia@masto.es.example",
        "es",
        "<p>¿Alguien ha probado el cold brew de Ridgeback?<br>"
        'Me han dicho que lo retiran. <a href="https://coffee.social/tags/coffee" '
        'class="mention hashtag" rel="tag">#<span>coffee</span></a></p>',
    ),
    (
        "ridgeback",
        "en",
        '<p>Thanks everyone! Our <a href="https://coffee.social/tags/coffee"'
        ' class="mention hashtag" rel="tag">#<span>coffee</span></a> subscription now ships '
        "to Canada 🇨🇦</p>",
    ),
]


def _iso(value: datetime) -> str:
    return (
        value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"
    )


def _id_key(value: str) -> tuple[int, str]:
    digits = value.lstrip("0")
    return (len(digits), digits)


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    at: float
    status: int = 0


@dataclass
class _Fault:
    kind: str
    on: str
    times: int
    options: dict = field(default_factory=dict)


class _Stream:
    """One open streaming connection; the handler thread drains ``queue``."""

    def __init__(self, kind: str, tag: str, local: bool) -> None:
        self.kind, self.tag, self.local = kind, tag.lower(), local
        self.queue: queue.Queue[bytes | None] = queue.Queue()
        self.connection: socket.socket | None = None

    def wants(self, status: dict) -> bool:
        subject = status.get("reblog") or status
        if self.local and "@" in (subject["account"].get("acct") or ""):
            return False
        if self.kind == "hashtag":
            return any(t.get("name", "").lower() == self.tag for t in subject.get("tags") or ())
        return True


class FakeMastodon:
    """See the module docstring. Thread-safe."""

    def __init__(self, *, domain: str = DOMAIN, heartbeat_seconds: float = 10.0) -> None:
        self.domain = domain
        self.heartbeat_seconds = heartbeat_seconds
        self.require_token: str | None = None
        self.rest_delay = 0.0  # seconds each timeline request waits before answering
        # Replies (POST /api/v1/statuses): see the module docstring.
        self.post_token: str = "write-token"  # noqa: S105 (a fake server's test token)
        self.read_only_tokens: set[str] = set()
        self.reply_acct = "ridgeback"
        self.max_characters = 500
        self.post_delay = 0.0
        self.posted: list[dict] = []
        self.idempotent_hits = 0
        self._idempotency: dict[tuple[str, str], dict] = {}
        self.requests: list[Request] = []
        self.streams_opened = 0
        self._statuses: list[dict] = []
        self._streams: list[_Stream] = []
        self._faults: list[_Fault] = []
        self._lock = threading.Lock()
        self._last_id = 0
        self._closing = threading.Event()
        self._httpd: QuietHTTPServer | None = None

    # -- lifecycle ------------------------------------------------------------------------

    def __enter__(self) -> FakeMastodon:
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def start(self) -> None:
        self._httpd = QuietHTTPServer(("127.0.0.1", 0), _make_handler(self))
        threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()

    def stop(self) -> None:
        self._closing.set()
        self.drop_streams()
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    @property
    def base_url(self) -> str:
        assert self._httpd is not None, "server not started"
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"

    # -- building statuses ----------------------------------------------------------------

    def account(self, acct: str, **overrides) -> dict[str, Any]:
        info = ACCOUNTS.get(acct, {})
        username, _, host = acct.partition("@")
        host = host or self.domain
        fields = info.get("fields") or (
            [("Location", info["location"])] if info.get("location") else []
        )
        account = {
            "id": str(100_000 + sum(map(ord, acct)) * 7),
            "username": username,
            "acct": acct,
            "display_name": info.get("display_name", username),
            "locked": False,
            "bot": info.get("bot", False),
            "discoverable": True,
            "group": False,
            "created_at": "2022-11-05T00:00:00.000Z",
            "note": "<p>Coffee, cycling, and bad puns.</p>",
            "url": f"https://{host}/@{username}",
            "uri": f"https://{host}/users/{username}",
            "avatar": f"https://{host}/avatars/{username}.png",
            "avatar_static": f"https://{host}/avatars/{username}.png",
            "header": f"https://{host}/headers/{username}.png",
            "header_static": f"https://{host}/headers/{username}.png",
            "followers_count": info.get("followers", 10),
            "following_count": 42,
            "statuses_count": 321,
            "last_status_at": datetime.now(tz=UTC).date().isoformat(),
            "emojis": [],
            "fields": [
                {"name": name, "value": value, "verified_at": None} for name, value in fields
            ],
        }
        account.update(overrides)
        return account

    def _next_id(self, created: datetime) -> str:
        with self._lock:
            candidate = (int(created.timestamp() * 1000) << 16) | 1
            self._last_id = max(candidate, self._last_id + 1)
            return str(self._last_id)

    def make_status(
        self,
        content: str,
        *,
        acct: str = "ann",
        language: str | None = "en",
        tags: list[str] | tuple[str, ...] = ("coffee",),
        in_reply_to: dict | None = None,
        reblog: dict | None = None,
        created_at: datetime | None = None,
        spoiler_text: str = "",
        account: dict | None = None,
        **overrides,
    ) -> dict[str, Any]:
        """A Status as the API returns it (id from a Snowflake-like clock, like Mastodon)."""
        created = created_at or datetime.now(tz=UTC)
        status_id = self._next_id(created)
        account = account or self.account(acct)
        username, _, host = account["acct"].partition("@")
        host = host or self.domain
        if content and "<" not in content:
            content = f"<p>{content}</p>"
        status = {
            "id": status_id,
            "created_at": _iso(created),
            "in_reply_to_id": in_reply_to["id"] if in_reply_to else None,
            "in_reply_to_account_id": in_reply_to["account"]["id"] if in_reply_to else None,
            "sensitive": bool(spoiler_text),
            "spoiler_text": spoiler_text,
            "visibility": "public",
            "language": language,
            "uri": f"https://{host}/users/{username}/statuses/{status_id}",
            "url": f"https://{host}/@{username}/{status_id}",
            "replies_count": 0,
            "reblogs_count": 0,
            "favourites_count": 0,
            "edited_at": None,
            "content": "" if reblog else content,
            "reblog": reblog,
            "application": {"name": "Web", "website": None},
            "account": account,
            "media_attachments": [],
            "mentions": [],
            "tags": [{"name": t, "url": f"https://{self.domain}/tags/{t}"} for t in tags],
            "emojis": [],
            "card": None,
            "poll": None,
        }
        if reblog:
            status["uri"] = f"https://{host}/users/{username}/statuses/{status_id}/activity"
            status["tags"] = []
            status["language"] = None
        status.update(overrides)
        return status

    def seed(self, count: int = 4, *, tags: tuple[str, ...] = ("coffee",)) -> list[dict]:
        """Post ``count`` multilingual coffee statuses dated over the last hours."""
        start = datetime.now(tz=UTC) - timedelta(hours=count + 1)
        made = []
        for n in range(count):
            acct, lang, content = COFFEE_TOOTS[n % len(COFFEE_TOOTS)]
            made.append(
                self.post(
                    self.make_status(
                        content,
                        acct=acct,
                        language=lang,
                        tags=tags,
                        created_at=start + timedelta(hours=n),
                    )
                )
            )
        return made

    # -- script ---------------------------------------------------------------------------

    def post(self, status: dict) -> dict:
        """Store ``status`` (REST timelines) and push it to every matching open stream."""
        with self._lock:
            self._statuses.append(status)
            self._statuses.sort(key=lambda s: _id_key(s["id"]))
            streams = [s for s in self._streams if s.wants(status)]
        frame = _frame("update", json.dumps(status, ensure_ascii=False))
        for stream in streams:
            stream.queue.put(frame)
        return status

    def toot(self, content: str, **kwargs) -> dict:
        return self.post(self.make_status(content, **kwargs))

    def delete(self, status_id: str) -> None:
        with self._lock:
            self._statuses = [s for s in self._statuses if s["id"] != status_id]
            streams = list(self._streams)
        for stream in streams:
            stream.queue.put(_frame("delete", status_id))

    def edit(self, status_id: str, content: str) -> dict:
        with self._lock:
            status = next(s for s in self._statuses if s["id"] == status_id)
            status["content"] = content
            status["edited_at"] = _iso(datetime.now(tz=UTC))
            streams = [s for s in self._streams if s.wants(status)]
        frame = _frame("status.update", json.dumps(status, ensure_ascii=False))
        for stream in streams:
            stream.queue.put(frame)
        return status

    def send_raw(self, data: bytes) -> None:
        with self._lock:
            streams = list(self._streams)
        for stream in streams:
            stream.queue.put(data)

    def garbage(self) -> None:
        """Malformed frames a broken proxy or server bug could produce."""
        self.send_raw(b'event: update\ndata: {"id": "123", "content": "<p>trunc\n\n')
        self.send_raw(b"event: update\ndata: [1, 2, 3]\n\n")
        self.send_raw(b"this line is not a field\n\n")
        self.send_raw(b"event: update\ndata: \xff\xfe{\n\n")

    def drop_streams(self) -> None:
        """Cut every open stream mid-body (no terminating chunk)."""
        with self._lock:
            streams, self._streams = list(self._streams), []
        for stream in streams:
            stream.queue.put(None)

    def fault(self, kind: str, *, on: str = "any", times: int = 1, **options) -> None:
        if kind not in ("429", "401", "500", "stall"):
            raise ValueError(f"unknown fault {kind!r}")
        if on not in ("any", "rest", "stream"):
            raise ValueError("on: one of any, rest, stream")
        with self._lock:
            self._faults.append(_Fault(kind, on, times, options))

    @property
    def statuses(self) -> list[dict]:
        with self._lock:
            return list(self._statuses)

    @property
    def active_streams(self) -> int:
        with self._lock:
            return len(self._streams)

    def requests_to(self, prefix: str) -> list[Request]:
        with self._lock:
            return [r for r in self.requests if r.path.startswith(prefix)]

    def wait_for(self, condition, timeout: float = 3.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if condition():
                return
            time.sleep(0.01)
        raise AssertionError("fake mastodon: condition not met in time")

    # -- serving (handler threads) --------------------------------------------------------

    def _take_fault(self, where: str) -> _Fault | None:
        with self._lock:
            for fault in self._faults:
                if fault.on in ("any", where):
                    fault.times -= 1
                    if fault.times <= 0:
                        self._faults.remove(fault)
                    return fault
        return None

    def _handle(self, h: BaseHTTPRequestHandler) -> None:
        parts = urlsplit(h.path)
        path = unquote(parts.path)
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        record = Request(
            h.command, path, query, {k.lower(): v for k, v in h.headers.items()}, time.monotonic()
        )
        with self._lock:
            self.requests.append(record)
        where = "stream" if path.startswith("/api/v1/streaming") else "rest"

        def answer(status: int, body: Any, headers: dict | None = None) -> None:
            record.status = status
            data = json.dumps(body, ensure_ascii=False).encode("utf-8")
            h.send_response(status)
            h.send_header("Content-Type", "application/json; charset=utf-8")
            for name, value in (headers or {}).items():
                h.send_header(name, value)
            h.send_header("Content-Length", str(len(data)))
            h.end_headers()
            h.wfile.write(data)

        if path == "/api/v2/instance":
            stream_url = self.base_url.replace("http://", "ws://", 1)
            answer(
                200,
                {
                    "domain": self.domain,
                    "title": "Coffee Social",
                    "version": "4.3.2",
                    "configuration": {"urls": {"streaming": stream_url}},
                },
            )
            return
        if self.require_token is not None:
            auth = h.headers.get("Authorization", "")
            token = auth.removeprefix("Bearer ").strip() if auth else query.get("access_token")
            if token != self.require_token:
                answer(
                    401,
                    {"error": "The access token is invalid"},
                    {"WWW-Authenticate": 'Bearer realm="Doorkeeper", error="invalid_token"'},
                )
                return
        fault = self._take_fault(where)
        if fault is not None and fault.kind != "stall":
            if fault.kind == "429":
                reset = datetime.now(tz=UTC) + timedelta(seconds=fault.options.get("reset_in", 1))
                headers = {
                    "X-RateLimit-Limit": "300",
                    "X-RateLimit-Remaining": "0",
                    "X-RateLimit-Reset": _iso(reset),
                }
                if "retry_after" in fault.options:
                    headers["Retry-After"] = str(fault.options["retry_after"])
                answer(429, {"error": "Too many requests"}, headers)
            elif fault.kind == "401":
                answer(401, {"error": "The access token is invalid"})
            else:
                answer(500, {"error": "We're sorry, but something went wrong on our end."})
            return

        if where == "stream":
            self._serve_stream(h, path, query, record, stall=fault is not None)
            return
        if h.command == "POST":
            self._create_status(h, path, answer)
            return
        if path == "/api/v2/search":
            wanted = query.get("q", "")
            answer(
                200,
                {
                    "accounts": [],
                    "hashtags": [],
                    "statuses": [
                        s for s in self.statuses if s["uri"] == wanted or s["url"] == wanted
                    ],
                },
            )
            return
        if self.rest_delay:
            time.sleep(self.rest_delay)
        if path.startswith("/api/v1/timelines/tag/"):
            tag = path.rsplit("/", 1)[1].lower()
            selected = [
                s
                for s in self.statuses
                if any(t["name"].lower() == tag for t in (s.get("reblog") or s)["tags"])
            ]
        elif path == "/api/v1/timelines/public":
            selected = self.statuses
        elif path.startswith("/api/v1/statuses/"):
            wanted = path.rsplit("/", 1)[1]
            found = [s for s in self.statuses if s["id"] == wanted]
            if found:
                answer(200, found[0])
            else:
                answer(404, {"error": "Record not found"})
            return
        else:
            answer(404, {"error": "Record not found"})
            return
        if query.get("local") in ("true", "1"):
            selected = [s for s in selected if "@" not in s["account"]["acct"]]
        page = _page(selected, query)
        headers = {}
        if page:
            keep = {k: v for k, v in query.items() if k in ("limit", "local")}
            base = f"{self.base_url}{quote(path)}"
            older = urlencode({**keep, "max_id": page[-1]["id"]})
            newer = urlencode({**keep, "min_id": page[0]["id"]})
            headers["Link"] = f'<{base}?{older}>; rel="next", <{base}?{newer}>; rel="prev"'
        answer(200, page, headers)

    def _create_status(self, h: BaseHTTPRequestHandler, path: str, answer) -> None:
        length = int(h.headers.get("Content-Length") or 0)
        raw_body = h.rfile.read(length) if length else b""
        if path != "/api/v1/statuses":
            answer(404, {"error": "Record not found"})
            return
        auth = h.headers.get("Authorization", "")
        token = auth.removeprefix("Bearer ").strip() if auth.startswith("Bearer ") else ""
        if token in self.read_only_tokens:
            answer(403, {"error": "This action is outside the authorized scopes"})
            return
        if not token or token != self.post_token:
            answer(401, {"error": "The access token is invalid"})
            return
        if "json" in (h.headers.get("Content-Type") or ""):
            try:
                params = json.loads(raw_body or b"{}")
            except ValueError:
                answer(400, {"error": "Error occurred while parsing request parameters"})
                return
        else:
            params = {k: v[-1] for k, v in parse_qs(raw_body.decode("utf-8", "replace")).items()}
        if not isinstance(params, dict):
            answer(400, {"error": "Error occurred while parsing request parameters"})
            return
        key = h.headers.get("Idempotency-Key")
        with self._lock:
            earlier = self._idempotency.get((token, key)) if key else None
            if earlier is not None:
                self.idempotent_hits += 1
        if earlier is not None:
            answer(200, earlier)
            return
        text = params.get("status")
        if not isinstance(text, str) or not text.strip():
            answer(422, {"error": "Validation failed: Text can't be blank"})
            return
        if len(text) > self.max_characters:
            answer(
                422,
                {
                    "error": "Validation failed: Text character limit of "
                    f"{self.max_characters} exceeded"
                },
            )
            return
        visibility = params.get("visibility") or "public"
        if visibility not in ("public", "unlisted", "private", "direct"):
            answer(422, {"error": "Validation failed: Visibility is not included in the list"})
            return
        parent = None
        if params.get("in_reply_to_id"):
            wanted = str(params["in_reply_to_id"])
            parent = next((s for s in self.statuses if s["id"] == wanted), None)
            if parent is None:
                answer(
                    404, {"error": "The post you are trying to reply to does not appear to exist."}
                )
                return
        escaped = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
        status = self.make_status(
            "<p>" + escaped.replace("\n", "<br>") + "</p>",
            acct=self.reply_acct,
            language=params.get("language") or None,
            tags=(),
            in_reply_to=parent,
            visibility=visibility,
        )
        with self._lock:
            if key:
                self._idempotency[(token, key)] = status
            self.posted.append({**status, "params": params, "idempotency_key": key})
        self.post(status)
        if self.post_delay:
            time.sleep(self.post_delay)
        answer(200, status)

    def _serve_stream(self, h, path: str, query: dict, record: Request, *, stall: bool) -> None:
        routes = {
            "/api/v1/streaming/hashtag": ("hashtag", False),
            "/api/v1/streaming/hashtag/local": ("hashtag", True),
            "/api/v1/streaming/public": ("public", False),
            "/api/v1/streaming/public/local": ("public", True),
        }
        if path == "/api/v1/streaming/health":
            record.status = 200
            h.send_response(200)
            h.send_header("Content-Length", "2")
            h.end_headers()
            h.wfile.write(b"OK")
            return
        if path not in routes or (routes[path][0] == "hashtag" and not query.get("tag")):
            record.status = 400
            h.send_response(400)
            h.send_header("Content-Length", "0")
            h.end_headers()
            return
        kind, local = routes[path]
        stream = _Stream(kind, query.get("tag", ""), local)
        stream.connection = h.connection
        with self._lock:
            self.streams_opened += 1
            if not stall:
                self._streams.append(stream)
        record.status = 200
        h.close_connection = True
        h.send_response(200)
        h.send_header("Content-Type", "text/event-stream")
        h.send_header("Cache-Control", "private, no-store")
        h.send_header("Transfer-Encoding", "chunked")
        h.end_headers()
        h.wfile.flush()
        if stall:
            # Headers, then nothing at all: no heartbeat, no events.
            deadline = time.monotonic() + 30
            while not self._closing.is_set() and time.monotonic() < deadline:
                time.sleep(0.02)
            return
        try:
            _chunk(h, b":)\n")
            while not self._closing.is_set():
                try:
                    item = stream.queue.get(timeout=self.heartbeat_seconds)
                except queue.Empty:
                    _chunk(h, b":thump\n")
                    continue
                if item is None:  # drop: cut the body mid-stream
                    with suppress(OSError):
                        h.connection.shutdown(socket.SHUT_RDWR)
                    return
                _chunk(h, item)
        except OSError:
            pass
        finally:
            with self._lock:
                if stream in self._streams:
                    self._streams.remove(stream)


def _frame(event: str, data: str) -> bytes:
    return f"event: {event}\ndata: {data}\n\n".encode()


def _chunk(h: BaseHTTPRequestHandler, data: bytes) -> None:
    h.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
    h.wfile.flush()


def _page(statuses: list[dict], query: dict[str, str]) -> list[dict]:
    """Mastodon's paging: ``min_id`` → the oldest page after it; otherwise the newest page
    below ``max_id`` and above ``since_id``. Always returned newest first."""
    try:
        limit = min(40, max(1, int(query.get("limit", 20))))
    except ValueError:
        limit = 20
    items = sorted(statuses, key=lambda s: _id_key(s["id"]))
    if query.get("max_id"):
        items = [s for s in items if _id_key(s["id"]) < _id_key(query["max_id"])]
    if query.get("since_id"):
        items = [s for s in items if _id_key(s["id"]) > _id_key(query["since_id"])]
    if query.get("min_id"):
        items = [s for s in items if _id_key(s["id"]) > _id_key(query["min_id"])][:limit]
    else:
        items = items[-limit:]
    return list(reversed(items))


def _make_handler(server: FakeMastodon) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "Mastodon"

        def do_GET(self) -> None:
            server._handle(self)

        def do_POST(self) -> None:
            server._handle(self)

        def log_message(self, format: str, *args) -> None:
            pass

    return Handler
