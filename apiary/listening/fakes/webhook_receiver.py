"""A fake receiver of Apiary's signed webhooks (reply callbacks of generic sources), on 127.0.0.1.

It checks what a careful integrator checks: ``X-Apiary-Signature: t=<unix>,v1=<hex>`` is the
HMAC-SHA256 of ``"<t>.<raw body>"`` keyed with ``secret`` and ``t`` is within 5 minutes (401
otherwise), the body is JSON (400), and it deduplicates on ``Idempotency-Key`` (a repeated key
answers 200 with the first answer and is counted in ``duplicates``). A good delivery answers
``{"external_id": "wh-<n>", "url": …}``.

Switches::

    with FakeWebhookReceiver(secret="…") as receiver:
        receiver.fail(503, times=2)     # the next two deliveries answer 503 (or 400, 410, …)
        receiver.retry_after = 7        # with Retry-After on those
        receiver.delay = 1.5            # answer late (after recording the delivery)
        receiver.go_down()              # close the port: connections are refused
        receiver.come_up()              # listen again on the same port
        receiver.deliveries             # every request: headers, body, signature_ok, status
        receiver.accepted               # the good ones, once per idempotency key
"""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from typing import Any

from .feeds import QuietHTTPServer


@dataclass
class Delivery:
    path: str
    headers: dict[str, str]
    body: bytes
    signature_ok: bool
    status: int = 0

    @property
    def json(self) -> Any:
        return json.loads(self.body)


class FakeWebhookReceiver:
    def __init__(self, *, secret: str, tolerance: int = 300) -> None:
        self.secret = secret
        self.tolerance = tolerance
        self.delay = 0.0
        self.retry_after: int | None = None
        self.deliveries: list[Delivery] = []
        self.accepted: list[Delivery] = []
        self.duplicates = 0
        self._answers: dict[str, dict] = {}
        self._fail: list[int] = []
        self._lock = threading.Lock()
        self._httpd: QuietHTTPServer | None = None
        self.port = 0

    def __enter__(self) -> FakeWebhookReceiver:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def start(self) -> FakeWebhookReceiver:
        self._httpd = QuietHTTPServer(("127.0.0.1", self.port), _make_handler(self))
        self.port = self._httpd.server_address[1]
        threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    go_down = stop

    def come_up(self) -> None:
        if self._httpd is None:
            self.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/apiary/replies"

    def fail(self, status: int = 503, *, times: int = 1) -> None:
        with self._lock:
            self._fail.extend([status] * times)

    def signature_valid(self, header: str, body: bytes) -> bool:
        fields = dict(p.split("=", 1) for p in (header or "").split(",") if "=" in p)
        try:
            timestamp = int(fields.get("t", ""))
        except ValueError:
            return False
        if abs(time.time() - timestamp) > self.tolerance:
            return False
        expected = hmac.new(
            self.secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256
        ).hexdigest()
        return hmac.compare_digest(expected, fields.get("v1", ""))

    def _handle(self, h: BaseHTTPRequestHandler) -> None:
        length = int(h.headers.get("Content-Length") or 0)
        body = h.rfile.read(length) if length else b""
        headers = {k.lower(): v for k, v in h.headers.items()}
        ok = self.signature_valid(headers.get("x-apiary-signature", ""), body)
        delivery = Delivery(h.path, headers, body, ok)
        with self._lock:
            self.deliveries.append(delivery)
            failing = self._fail.pop(0) if self._fail else None

        def answer(status: int, payload: Any, extra: dict | None = None) -> None:
            delivery.status = status
            data = json.dumps(payload).encode()
            h.send_response(status)
            h.send_header("Content-Type", "application/json")
            for name, value in (extra or {}).items():
                h.send_header(name, value)
            h.send_header("Content-Length", str(len(data)))
            h.end_headers()
            h.wfile.write(data)

        if failing is not None:
            extra = {"Retry-After": str(self.retry_after)} if self.retry_after is not None else {}
            answer(failing, {"error": f"failing on purpose ({failing})"}, extra)
            return
        if not ok:
            answer(401, {"error": "bad signature"})
            return
        try:
            json.loads(body)
        except ValueError:
            answer(400, {"error": "body is not JSON"})
            return
        key = headers.get("idempotency-key", "")
        with self._lock:
            earlier = self._answers.get(key) if key else None
            if earlier is not None:
                self.duplicates += 1
            else:
                self.accepted.append(delivery)
                earlier = {
                    "external_id": f"wh-{len(self.accepted)}",
                    "url": f"https://helpdesk.example/tickets/{len(self.accepted)}",
                }
                if key:
                    self._answers[key] = earlier
        if self.delay:
            time.sleep(self.delay)
        try:
            answer(200, earlier)
        except OSError:
            return  # the sender gave up waiting


def _make_handler(server: FakeWebhookReceiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "FakeReceiver"

        def do_POST(self) -> None:
            server._handle(self)

        def log_message(self, format: str, *args) -> None:
            pass

    return Handler
