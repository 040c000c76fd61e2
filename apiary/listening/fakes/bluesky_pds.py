"""A fake Bluesky PDS for tests: the XRPC endpoints a reply needs, over real HTTP on 127.0.0.1.

Endpoints (as the reference PDS serves them, JSON in and out, errors as
``{"error": "<Name>", "message": "…"}``):

- ``POST /xrpc/com.atproto.server.createSession`` ``{identifier, password}`` → ``{accessJwt,
  refreshJwt, handle, did, active}``; a wrong pair → 401 ``AuthenticationRequired``;
- ``POST /xrpc/com.atproto.server.refreshSession`` (bearer = refreshJwt) → new tokens, the old
  refresh token revoked; expired → 400 ``ExpiredToken``, unknown → 400 ``InvalidToken``;
- ``GET /xrpc/com.atproto.repo.getRecord?repo=&collection=&rkey=`` → ``{uri, cid, value}``;
  a missing (deleted) record → 400 ``RecordNotFound``. Auth is optional, but a bearer token that
  is given must be valid (an expired one → 400 ``ExpiredToken``), as on the real PDS;
- ``POST /xrpc/com.atproto.repo.createRecord`` ``{repo, collection, rkey?, record}`` → ``{uri,
  cid, commit, validationStatus}``; needs a valid access token of ``repo``'s account and
  validates an ``app.bsky.feed.post``: ``text`` ≤ 300 graphemes / 3,000 bytes, ``createdAt``,
  and ``reply.root`` / ``reply.parent`` strong refs that name existing records with their
  current CIDs (400 ``InvalidRequest`` otherwise); an ``rkey`` that exists → 400
  ``InvalidRequest`` "Record already exists".

Script::

    with FakeBlueskyPDS(access_ttl=60) as pds:
        pds.account("brand.bsky.social", "app-pass-word")       # the reply account
        post = pds.post("did:plc:alice", "my order is late")     # a customer's post
        ... reply with pds.url ...
        pds.posted            # records created through createRecord, with their reply refs
        pds.delete(post["uri"])                       # the customer deleted it
        pds.expire_tokens()                           # every access token expires now
        pds.fault("429", on="createRecord", reset_in=2)   # ratelimit-* headers
        pds.fault("500", on="getRecord", times=2)
        pds.fault("slow", on="createRecord", delay=1.5)   # made, then answered late
        pds.fault("drop", on="any")                       # connection closed, no answer

``FakeBlueskyPDS(jetstream=FakeJetstream)`` also puts every record made (``post`` and
``createRecord``) on that firehose, so a listening connector sees the customer's post and the
reply the way the real network would show them.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import threading
import time
import unicodedata
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, urlsplit

from .feeds import QuietHTTPServer

POST = "app.bsky.feed.post"
_S32 = "234567abcdefghijklmnopqrstuvwxyz"
FAULTS = ("429", "500", "slow", "drop")
ENDPOINTS = ("createSession", "refreshSession", "getRecord", "createRecord", "any")


def _tid(time_us: int, clock_id: int = 0) -> str:
    value = (time_us << 10) | (clock_id & 0x3FF)
    out = []
    for _ in range(13):
        out.append(_S32[value & 31])
        value >>= 5
    return "".join(reversed(out))


def _cid(value: Any) -> str:
    """A CID-looking id that changes with the content (enough for strong-ref checks)."""
    digest = hashlib.sha256(json.dumps(value, sort_keys=True).encode()).digest()
    alphabet = "abcdefghijklmnopqrstuvwxyz234567"
    bits = int.from_bytes(digest, "big")
    return "bafyrei" + "".join(alphabet[(bits >> (5 * i)) & 31] for i in range(52))


def _graphemes(text: str) -> int:
    # Combining marks, joiners and variation selectors extend the previous character.
    count, joined = 0, False
    for ch in text:
        cp = ord(ch)
        extends = unicodedata.category(ch) in ("Mn", "Me", "Mc") or 0xFE00 <= cp <= 0xFE0F
        extends = extends or 0x1F3FB <= cp <= 0x1F3FF or cp == 0x200D
        if not (extends or joined):
            count += 1
        joined = cp == 0x200D
    return count


@dataclass
class Account:
    did: str
    handle: str
    password: str


@dataclass
class XrpcRequest:
    method: str
    nsid: str
    params: dict[str, str]
    body: Any
    authorization: str
    status: int = 0
    error: str = ""


@dataclass
class _Fault:
    kind: str
    on: str
    times: int
    options: dict = field(default_factory=dict)


class FakeBlueskyPDS:
    """See the module docstring. Thread-safe."""

    def __init__(self, *, access_ttl: float = 7200.0, refresh_ttl: float = 86400.0, jetstream=None):
        self.access_ttl = access_ttl
        self.refresh_ttl = refresh_ttl
        self.jetstream = jetstream
        self.accounts: dict[str, Account] = {}
        self.records: dict[str, dict[str, Any]] = {}  # at:// uri → {uri, cid, value}
        self.posted: list[dict[str, Any]] = []  # createRecord results with their record
        self.requests: list[XrpcRequest] = []
        self.sessions_created = 0
        self.refreshes = 0
        self._access: dict[str, tuple[str, float]] = {}  # token → (did, expires at)
        self._refresh: dict[str, tuple[str, float]] = {}
        self._faults: list[_Fault] = []
        self._lock = threading.Lock()
        self._clock = 0
        self._httpd: QuietHTTPServer | None = None

    # -- lifecycle ------------------------------------------------------------------------

    def __enter__(self) -> FakeBlueskyPDS:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def start(self) -> FakeBlueskyPDS:
        self._httpd = QuietHTTPServer(("127.0.0.1", 0), _make_handler(self))
        threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    @property
    def url(self) -> str:
        assert self._httpd is not None, "server not started"
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"

    # -- script ---------------------------------------------------------------------------

    def account(self, handle: str, password: str, *, did: str | None = None) -> Account:
        did = did or "did:plc:" + hashlib.sha256(handle.encode()).hexdigest()[:24]
        account = Account(did=did, handle=handle.lower(), password=password)
        with self._lock:
            self.accounts[did] = account
        return account

    def _next_us(self) -> int:
        with self._lock:
            self._clock = max(self._clock + 1, int(time.time() * 1e6))
            return self._clock

    def post(
        self,
        did: str,
        text: str,
        *,
        reply_to: str | None = None,
        langs: list[str] | None = None,
        rkey: str | None = None,
    ) -> dict[str, Any]:
        """A post by anyone (a customer): stored, and on the firehose when one is attached.
        ``reply_to`` is the at:// URI of a stored post; the root is taken from its thread."""
        time_us = self._next_us()
        record: dict[str, Any] = {
            "$type": POST,
            "text": text,
            "createdAt": datetime.fromtimestamp(time_us / 1e6, tz=UTC)
            .isoformat(timespec="milliseconds")
            .replace("+00:00", "Z"),
            "langs": list(langs or ["en"]),
        }
        if reply_to:
            parent = self.records[reply_to]
            root = (parent["value"].get("reply") or {}).get("root") or {
                "uri": parent["uri"],
                "cid": parent["cid"],
            }
            record["reply"] = {"root": root, "parent": {"uri": parent["uri"], "cid": parent["cid"]}}
        return self._store(did, POST, rkey or _tid(time_us), record, time_us=time_us)

    def _store(self, did, collection, rkey, record, *, time_us=None) -> dict[str, Any]:
        uri = f"at://{did}/{collection}/{rkey}"
        cid = _cid(record)
        entry = {"uri": uri, "cid": cid, "value": record}
        with self._lock:
            self.records[uri] = entry
        if self.jetstream is not None:
            time_us = time_us or self._next_us()
            self.jetstream.add(
                {
                    "did": did,
                    "time_us": time_us,
                    "kind": "commit",
                    "commit": {
                        "rev": _tid(time_us, 1),
                        "operation": "create",
                        "collection": collection,
                        "rkey": rkey,
                        "record": record,
                        "cid": cid,
                    },
                }
            )
        return dict(entry)

    def delete(self, uri: str) -> None:
        with self._lock:
            self.records.pop(uri, None)

    def expire_tokens(self) -> None:
        """Every access token issued so far has expired (refresh tokens still work)."""
        with self._lock:
            self._access = {t: (did, 0.0) for t, (did, _exp) in self._access.items()}

    def expire_refresh_tokens(self) -> None:
        with self._lock:
            self._refresh = {t: (did, 0.0) for t, (did, _exp) in self._refresh.items()}

    def fault(self, kind: str, *, on: str = "any", times: int = 1, **options) -> None:
        if kind not in FAULTS:
            raise ValueError(f"unknown fault {kind!r}; one of {', '.join(FAULTS)}")
        if on not in ENDPOINTS:
            raise ValueError(f"on: one of {', '.join(ENDPOINTS)}")
        with self._lock:
            self._faults.append(_Fault(kind, on, times, options))

    def calls(self, name: str) -> list[XrpcRequest]:
        with self._lock:
            return [r for r in self.requests if r.nsid.endswith("." + name)]

    # -- serving --------------------------------------------------------------------------

    def _take_fault(self, name: str) -> _Fault | None:
        with self._lock:
            for fault in self._faults:
                if fault.on in ("any", name):
                    fault.times -= 1
                    if fault.times <= 0:
                        self._faults.remove(fault)
                    return fault
        return None

    def _issue(self, did: str) -> dict[str, str]:
        access, refresh = (
            "eyJ.acc." + secrets.token_urlsafe(18),
            "eyJ.ref." + secrets.token_urlsafe(18),
        )
        now = time.time()
        with self._lock:
            self._access[access] = (did, now + self.access_ttl)
            self._refresh[refresh] = (did, now + self.refresh_ttl)
            account = self.accounts[did]
        return {
            "accessJwt": access,
            "refreshJwt": refresh,
            "handle": account.handle,
            "did": did,
            "active": True,
        }

    def _bearer(self, h: BaseHTTPRequestHandler) -> str:
        auth = h.headers.get("Authorization", "")
        return auth.removeprefix("Bearer ").strip() if auth.startswith("Bearer ") else ""

    def _check_access(self, token: str) -> tuple[str | None, tuple[int, dict] | None]:
        """(did, None) for a valid token, (None, error answer) otherwise."""
        with self._lock:
            found = self._access.get(token)
        if found is None:
            return None, (401, {"error": "InvalidToken", "message": "Token could not be verified"})
        did, expires = found
        if expires <= time.time():
            return None, (400, {"error": "ExpiredToken", "message": "Token has expired"})
        return did, None

    def _handle(self, h: BaseHTTPRequestHandler) -> None:
        parts = urlsplit(h.path)
        length = int(h.headers.get("Content-Length") or 0)
        raw = h.rfile.read(length) if length else b""
        nsid = parts.path.removeprefix("/xrpc/")
        params = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = ValueError
        record = XrpcRequest(h.command, nsid, params, body, h.headers.get("Authorization", ""))
        with self._lock:
            self.requests.append(record)

        def answer(status: int, payload: Any, headers: dict | None = None) -> None:
            record.status = status
            if isinstance(payload, dict) and status >= 400:
                record.error = payload.get("error", "")
            data = json.dumps(payload).encode()
            h.send_response(status)
            h.send_header("Content-Type", "application/json; charset=utf-8")
            for name, value in (headers or {}).items():
                h.send_header(name, value)
            h.send_header("Content-Length", str(len(data)))
            h.end_headers()
            h.wfile.write(data)

        name = nsid.rsplit(".", 1)[-1]
        routes = {
            ("POST", "com.atproto.server.createSession"): self._create_session,
            ("POST", "com.atproto.server.refreshSession"): self._refresh_session,
            ("GET", "com.atproto.repo.getRecord"): self._get_record,
            ("POST", "com.atproto.repo.createRecord"): self._create_record,
        }
        route = routes.get((h.command, nsid))
        if route is None:
            answer(501 if nsid else 404, {"error": "MethodNotImplemented", "message": nsid})
            return
        if body is ValueError:
            answer(400, {"error": "InvalidRequest", "message": "body is not JSON"})
            return
        fault = self._take_fault(name)
        if fault is not None:
            if fault.kind == "drop":
                h.close_connection = True
                h.connection.close()
                return
            if fault.kind == "429":
                reset = int(time.time() + fault.options.get("reset_in", 1))
                headers = {
                    "ratelimit-limit": "5000",
                    "ratelimit-remaining": "0",
                    "ratelimit-reset": str(reset),
                    "ratelimit-policy": "5000;w=3600",
                }
                answer(
                    429, {"error": "RateLimitExceeded", "message": "Rate Limit Exceeded"}, headers
                )
                return
            if fault.kind == "500":
                answer(500, {"error": "InternalServerError", "message": "Internal Server Error"})
                return
        status, payload = route(h, params, body)
        if fault is not None and fault.kind == "slow":
            # The work is done; only the answer is late (a client that timed out must cope).
            time.sleep(fault.options.get("delay", 2.0))
        with suppress(OSError):  # the client may have given up waiting
            answer(status, payload)

    def _create_session(self, h, params, body) -> tuple[int, dict]:
        if not isinstance(body, dict) or not isinstance(body.get("identifier"), str):
            return 400, {
                "error": "InvalidRequest",
                "message": 'Input must have the property "identifier"',
            }
        ident = body["identifier"].lower().lstrip("@")
        with self._lock:
            account = next((a for a in self.accounts.values() if ident in (a.did, a.handle)), None)
        if account is None or body.get("password") != account.password:
            return 401, {
                "error": "AuthenticationRequired",
                "message": "Invalid identifier or password",
            }
        with self._lock:
            self.sessions_created += 1
        return 200, self._issue(account.did)

    def _refresh_session(self, h, params, body) -> tuple[int, dict]:
        token = self._bearer(h)
        with self._lock:
            found = self._refresh.pop(token, None)
            if found is not None and found[1] <= time.time():
                found = ("expired", 0.0)
            if found is not None:
                self.refreshes += 1
        if found is None:
            return 400, {"error": "InvalidToken", "message": "Token has been revoked"}
        if found[0] == "expired":
            return 400, {"error": "ExpiredToken", "message": "Token has expired"}
        return 200, self._issue(found[0])

    def _get_record(self, h, params, body) -> tuple[int, dict]:
        token = self._bearer(h)
        if token:
            _did, error = self._check_access(token)
            if error is not None:
                return error
        repo, collection, rkey = params.get("repo"), params.get("collection"), params.get("rkey")
        if not repo or not collection or not rkey:
            return 400, {
                "error": "InvalidRequest",
                "message": "repo, collection and rkey are required",
            }
        with self._lock:
            if not repo.startswith("did:"):
                repo = next((a.did for a in self.accounts.values() if a.handle == repo), repo)
            uri = f"at://{repo}/{collection}/{rkey}"
            found = self.records.get(uri)
        if found is None:
            return 400, {"error": "RecordNotFound", "message": f"Could not locate record: {uri}"}
        return 200, dict(found)

    def _create_record(self, h, params, body) -> tuple[int, dict]:
        did, error = self._check_access(self._bearer(h))
        if error is not None:
            return error
        if not isinstance(body, dict):
            return 400, {"error": "InvalidRequest", "message": "Input must be an object"}
        if body.get("repo") not in (did, self.accounts[did].handle):
            return 400, {
                "error": "InvalidRequest",
                "message": "Input/repo must be the session's DID",
            }
        collection, record = body.get("collection"), body.get("record")
        if collection != POST or not isinstance(record, dict):
            return 400, {"error": "InvalidRequest", "message": "Only app.bsky.feed.post records"}
        problem = self._post_problem(record)
        if problem:
            return 400, {"error": "InvalidRecord", "message": problem}
        rkey = body.get("rkey") or _tid(self._next_us())
        if not isinstance(rkey, str) or not all(c.isalnum() or c in "._:~-" for c in rkey):
            return 400, {"error": "InvalidRequest", "message": "Invalid record key"}
        with self._lock:
            exists = f"at://{did}/{POST}/{rkey}" in self.records
        if exists:
            return 400, {"error": "InvalidRequest", "message": "Record already exists"}
        entry = self._store(did, POST, rkey, record)
        with self._lock:
            self.posted.append({**entry, "repo": did})
        return 200, {
            "uri": entry["uri"],
            "cid": entry["cid"],
            "commit": {"cid": _cid(entry), "rev": _tid(self._next_us(), 1)},
            "validationStatus": "valid",
        }

    def _post_problem(self, record: dict) -> str:
        if record.get("$type") != POST:
            return "Record/$type must be app.bsky.feed.post"
        text = record.get("text")
        if not isinstance(text, str):
            return "Record/text must be a string"
        if _graphemes(text) > 300:
            return "Record/text must not be longer than 300 graphemes"
        if len(text.encode()) > 3000:
            return "Record/text must not be longer than 3000 characters"
        try:
            datetime.fromisoformat(str(record.get("createdAt")).replace("Z", "+00:00"))
        except ValueError:
            return "Record/createdAt must be an valid atproto datetime"
        reply = record.get("reply")
        if reply is None:
            return ""
        if not isinstance(reply, dict):
            return "Record/reply must be an object"
        for part in ("root", "parent"):
            ref = reply.get(part)
            if not isinstance(ref, dict) or not isinstance(ref.get("uri"), str):
                return f"Record/reply/{part} must be a strong ref"
            with self._lock:
                target = self.records.get(ref["uri"])
            if target is None:
                return f"Record/reply/{part}: {ref['uri']} not found"
            if ref.get("cid") != target["cid"]:
                return f"Record/reply/{part}: cid does not match the record"
        parent = self.records.get(reply["parent"]["uri"])
        expected_root = (parent["value"].get("reply") or {}).get("root", {}).get("uri") or parent[
            "uri"
        ]
        if reply["root"]["uri"] != expected_root:
            return "Record/reply/root is not the root of the parent's thread"
        return ""


def _make_handler(server: FakeBlueskyPDS) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "FakePDS"

        def do_GET(self) -> None:
            server._handle(self)

        def do_POST(self) -> None:
            server._handle(self)

        def log_message(self, format: str, *args) -> None:
            pass

    return Handler
