"""A fake Bluesky Jetstream (v1) server for tests: a threaded WebSocket server on 127.0.0.1.

It keeps an in-memory log of events with strictly increasing ``time_us`` and serves
``GET /subscribe?wantedCollections=…&wantedDids=…&cursor=<time_us>`` the way Jetstream does:
with a cursor it replays the log from that time and then tails it live; without one it only
sends events added after the client connected. Identity and account events are sent whatever
``wantedCollections`` says (as Jetstream does); ``wantedDids`` filters every kind.

Fault modes, each for the *next* connection(s) only, so a reconnect finds a healthy server:
``refuse(n)`` (HTTP 503 instead of the upgrade), ``close_after(n)`` (drop the socket after
``n`` frames), ``stall_after(n)`` (go silent after ``n`` frames, socket left open), plus
``garbage(frame)`` (a bad frame in the log, replayed like any event) and ``kill()``
(drop every open connection now)::

    with FakeJetstream() as server:
        server.identity("did:plc:alice", "alice.bsky.social")
        event = server.post("did:plc:alice", "hello", langs=["en"])
        ... connect to server.url ...
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qs, urlsplit

from websockets.exceptions import ConnectionClosed
from websockets.sync.server import Server, ServerConnection, serve

POST = "app.bsky.feed.post"
_S32 = "234567abcdefghijklmnopqrstuvwxyz"


def tid(time_us: int, clock_id: int = 0) -> str:
    """An atproto TID (record key): 53-bit µs timestamp + 10-bit clock id, base32-sortable."""
    value = (time_us << 10) | (clock_id & 0x3FF)
    out = []
    for _ in range(13):
        out.append(_S32[value & 31])
        value >>= 5
    return "".join(reversed(out))


def iso_from_us(time_us: int) -> str:
    return (
        datetime.fromtimestamp(time_us / 1e6, tz=UTC)
        .isoformat(timespec="milliseconds")
        .replace("+00:00", "Z")
    )


@dataclass
class _Entry:
    time_us: int
    frame: str | bytes
    did: str = ""
    kind: str = ""
    collection: str = ""


@dataclass
class ConnectionInfo:
    """What one client asked for (tests assert on the resume cursor)."""

    path: str
    cursor: int | None
    wanted_collections: list[str]
    wanted_dids: list[str]
    sent: int = 0
    outcome: str = "open"
    events: list[int] = field(default_factory=list)  # time_us of each event frame sent


class FakeJetstream:
    def __init__(self, *, start_us: int | None = None) -> None:
        self._log: list[_Entry] = []
        self._cond = threading.Condition()
        self._closed = False
        # Real time by default, so createdAt passes the "not in the future" check.
        self._last_us = start_us if start_us is not None else int(time.time() * 1e6)
        self._refuse = 0
        self._close_after: list[int] = []
        self._stall_after: list[int] = []
        self._kill_generation = 0
        self.connections: list[ConnectionInfo] = []
        self._server: Server | None = None
        self._thread: threading.Thread | None = None
        self.port = 0

    # --- lifecycle -------------------------------------------------------------------------------
    def start(self) -> FakeJetstream:
        self._server = serve(
            self._handle,
            "127.0.0.1",
            0,
            process_request=self._process_request,
            compression=None,
            ping_interval=None,
            close_timeout=1,
        )
        self.port = self._server.socket.getsockname()[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="fake-jetstream", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        if self._server is not None:
            self._server.shutdown()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> FakeJetstream:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/subscribe"

    # --- the log ---------------------------------------------------------------------------------
    def _next_us(self, time_us: int | None) -> int:
        if time_us is not None:
            return time_us
        self._last_us = max(self._last_us + 1, int(time.time() * 1e6))
        return self._last_us

    def add(self, event: dict[str, Any]) -> dict[str, Any]:
        """Append a ready-made event (``time_us`` kept; the log stays sorted by it)."""
        commit = event.get("commit") if isinstance(event.get("commit"), dict) else {}
        entry = _Entry(
            time_us=event["time_us"],
            frame=json.dumps(event, ensure_ascii=False),
            did=event.get("did", ""),
            kind=event.get("kind", ""),
            collection=commit.get("collection", ""),
        )
        self._append(entry)
        return event

    def _append(self, entry: _Entry) -> None:
        with self._cond:
            # Insert in time order: an event "from another instance" may be stamped earlier.
            i = len(self._log)
            while i and self._log[i - 1].time_us > entry.time_us:
                i -= 1
            self._log.insert(i, entry)
            self._cond.notify_all()

    def post(
        self,
        did: str,
        text: str,
        *,
        langs: list[str] | None = None,
        reply_to: str | None = None,
        quote: str | None = None,
        created_at: str | None = None,
        time_us: int | None = None,
        rkey: str | None = None,
    ) -> dict[str, Any]:
        """Add a create commit of an ``app.bsky.feed.post``; returns the event (with ``uri``)."""
        with self._cond:
            time_us = self._next_us(time_us)
        rkey = rkey or tid(time_us)
        record: dict[str, Any] = {
            "$type": POST,
            "createdAt": created_at or iso_from_us(time_us),
            "langs": list(langs or ["en"]),
            "text": text,
        }
        if reply_to:
            ref = {"uri": reply_to, "cid": "bafyreiparent"}
            record["reply"] = {"parent": ref, "root": ref}
        if quote:
            record["embed"] = {
                "$type": "app.bsky.embed.record",
                "record": {"uri": quote, "cid": "bafyreiquote"},
            }
        event = {
            "did": did,
            "time_us": time_us,
            "kind": "commit",
            "commit": {
                "rev": tid(time_us, 1),
                "operation": "create",
                "collection": POST,
                "rkey": rkey,
                "record": record,
                "cid": f"bafyrei{rkey}",
            },
        }
        self.add(event)
        return {**event, "uri": f"at://{did}/{POST}/{rkey}"}

    def commit(
        self, did: str, operation: str, rkey: str, *, collection: str = POST, text: str = "edited"
    ) -> dict[str, Any]:
        """An ``update``/``delete`` (or a create in another collection, e.g. a like)."""
        with self._cond:
            time_us = self._next_us(None)
        commit: dict[str, Any] = {
            "rev": tid(time_us, 1),
            "operation": operation,
            "collection": collection,
            "rkey": rkey,
        }
        if operation != "delete":
            commit["record"] = {"$type": collection, "createdAt": iso_from_us(time_us)}
            if collection == POST:
                commit["record"]["text"] = text
            commit["cid"] = f"bafyrei{rkey}x"
        return self.add({"did": did, "time_us": time_us, "kind": "commit", "commit": commit})

    def identity(self, did: str, handle: str) -> dict[str, Any]:
        with self._cond:
            time_us = self._next_us(None)
        return self.add(
            {
                "did": did,
                "time_us": time_us,
                "kind": "identity",
                "identity": {
                    "did": did,
                    "handle": handle,
                    "seq": time_us // 1000,
                    "time": iso_from_us(time_us),
                },
            }
        )

    def account(self, did: str, *, active: bool = True) -> dict[str, Any]:
        with self._cond:
            time_us = self._next_us(None)
        return self.add(
            {
                "did": did,
                "time_us": time_us,
                "kind": "account",
                "account": {
                    "active": active,
                    "did": did,
                    "seq": time_us // 1000,
                    "time": iso_from_us(time_us),
                },
            }
        )

    def garbage(self, frame: str | bytes) -> None:
        """A malformed frame, stamped like the event before it (replayed with it)."""
        with self._cond:
            time_us = self._log[-1].time_us if self._log else self._next_us(None)
        self._append(_Entry(time_us=time_us, frame=frame))

    @property
    def last_time_us(self) -> int:
        with self._cond:
            return self._log[-1].time_us if self._log else 0

    # --- faults ----------------------------------------------------------------------------------
    def refuse(self, count: int = 1) -> None:
        """Answer the next ``count`` upgrade requests with HTTP 503."""
        with self._cond:
            self._refuse += count

    def close_after(self, frames: int) -> None:
        """The next connection is dropped after sending ``frames`` frames."""
        with self._cond:
            self._close_after.append(frames)

    def stall_after(self, frames: int) -> None:
        """The next connection goes silent (socket open) after sending ``frames`` frames."""
        with self._cond:
            self._stall_after.append(frames)

    def kill(self) -> None:
        """Drop every open connection now."""
        with self._cond:
            self._kill_generation += 1
            self._cond.notify_all()

    def wait_for_connections(self, count: int, timeout: float = 3.0) -> bool:
        deadline = time.monotonic() + timeout
        with self._cond:
            while sum(1 for c in self.connections if c.outcome != "refused") < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(left)
        return True

    # --- serving ---------------------------------------------------------------------------------
    def _process_request(self, connection: ServerConnection, request):
        parts = urlsplit(request.path)
        if parts.path != "/subscribe":
            return connection.respond(HTTPStatus.NOT_FOUND, "not found\n")
        with self._cond:
            if self._refuse > 0:
                self._refuse -= 1
                self.connections.append(ConnectionInfo(request.path, None, [], [], 0, "refused"))
                self._cond.notify_all()
                return connection.respond(HTTPStatus.SERVICE_UNAVAILABLE, "try later\n")
        return None

    def _handle(self, connection: ServerConnection) -> None:
        query = parse_qs(urlsplit(connection.request.path).query)
        cursor_text = (query.get("cursor") or [""])[0]
        cursor = int(cursor_text) if cursor_text.isdigit() else None
        info = ConnectionInfo(
            path=connection.request.path,
            cursor=cursor,
            wanted_collections=query.get("wantedCollections", []),
            wanted_dids=query.get("wantedDids", []),
        )
        with self._cond:
            self.connections.append(info)
            close_after = self._close_after.pop(0) if self._close_after else None
            stall_after = self._stall_after.pop(0) if self._stall_after else None
            generation = self._kill_generation
            if cursor is None or cursor > self._last_us_seen():
                index = len(self._log)  # live tail only
            else:
                index = next((i for i, e in enumerate(self._log) if e.time_us >= cursor), 0)
            self._cond.notify_all()
        collections = set(info.wanted_collections)
        dids = set(info.wanted_dids)
        try:
            while True:
                with self._cond:
                    while (
                        index >= len(self._log)
                        and not self._closed
                        and generation == self._kill_generation
                    ):
                        self._cond.wait(0.5)
                    if self._closed or generation != self._kill_generation:
                        info.outcome = "killed"
                        connection.close_socket()
                        return
                    entry = self._log[index]
                    index += 1
                if entry.kind:  # a real event: apply the subscription's filters
                    if dids and entry.did not in dids:
                        continue
                    if (
                        entry.kind == "commit"
                        and collections
                        and entry.collection not in collections
                    ):
                        continue
                if stall_after is not None and info.sent >= stall_after:
                    info.outcome = "stalled"
                    while not self._closed and generation == self._kill_generation:
                        try:
                            connection.recv(timeout=0.2)
                        except TimeoutError:
                            continue
                        except ConnectionClosed:
                            return
                    return
                connection.send(entry.frame)
                info.sent += 1
                if entry.kind:
                    info.events.append(entry.time_us)
                if close_after is not None and info.sent >= close_after:
                    info.outcome = "closed"
                    connection.close_socket()  # abrupt: no closing handshake
                    return
        except ConnectionClosed:
            info.outcome = "client-closed"

    def _last_us_seen(self) -> int:
        return max(self._last_us, self._log[-1].time_us if self._log else 0)
