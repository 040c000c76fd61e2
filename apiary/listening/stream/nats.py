"""The scale-out stream: NATS JetStream (``APIARY_STREAM_URL=nats://127.0.0.1:4222``).

Layout on the broker
    Stream ``APIARY_MENTIONS`` on the subjects ``apiary.mentions.>`` (one subject per platform,
    ``apiary.mentions.<platform>``), file storage, limits retention with a ``max_age`` of seven
    days (acked messages stay until then, so a consumer can be rewound), and a duplicate window
    of two minutes: a message whose ``Nats-Msg-Id`` (``<platform>:<external_id>``) was already
    published in the last two minutes is acknowledged but not stored again. Older duplicates
    do reach the consumer and are absorbed by the unique ``(platform, external_id)`` of stored
    mentions, so dedup never depends on the window. The stream is created when missing and
    updated to this configuration otherwise.

    One durable pull consumer ``apiary-enrich`` with explicit acks is shared by every
    ``apiary worker``: the server hands each message to one of them.

URL options (query string), for running several installations — or tests — on one server::

    nats://host:4222[,host2:4222]?stream=APIARY_MENTIONS&subject=apiary.mentions
        &durable=apiary-enrich&ack_wait=30

``ack_wait`` (seconds) is how long a delivered message may stay unacknowledged before the
server gives it to another consumer; a consumer busy on a long batch extends it with
"in progress" heartbeats, so it only matters when a worker dies (crash-recovery tests use a
few seconds).

Delivery contract (mirrors the outbox)
    ``publish`` returns only when JetStream acknowledged every message (on disk); otherwise it
    raises :class:`StreamUnavailable` and the caller answers 503 / keeps its cursor.
    ``consume`` hands batches to the handler *on the calling thread* (the handler uses the
    Django ORM and commits its own transaction) and settles them after it returned: stored
    messages are acked; messages the handler reports as failed on their own are written to the
    dead-letter list (``OutboxEntry`` rows with ``failed_at`` set, shown on the sources page)
    and then terminated; if the handler raises, the whole batch is nak'ed with a growing delay
    and redelivered, and this worker pauses until that delay has passed (see "Retry pause").
    A message delivered more than ``MAX_DELIVERIES`` times (a record that
    crashes the worker, or a failure that outlived the retries) is dead-lettered without being
    handed to the handler again. A worker killed mid-batch never acks, so its messages come
    back after ``ack_wait``; the store is idempotent, so that costs nothing but time.

Retry pause
    A handler that raises failed for the whole batch (handle_batch isolates bad records itself),
    so the cause is systemic — the database went away, a lock timed out — and fetching the
    next batch at once would only burn its delivery attempts too. The worker therefore sleeps
    until its nak'ed batch is due again (plus ``REDELIVERY_GUARD``) and then fetches it back
    with an immediate (no-wait) pull, whole. This also keeps this worker clear of a
    nats-server bug (2.9.x, Debian's package; fixed upstream in 2024, nats-io/nats-server#5305
    and #5338): when a nak-delayed message becomes due at the instant a waiting pull request
    expires, the server drops that redelivery until ``ack_wait`` runs out and delivers a later
    message a second time with ``num_delivered`` 1. Our pull requests expire every
    ``FETCH_TIMEOUT`` and the retry delays are multiples of it, so a worker that kept fetching
    through its own retry delay hit that instant about one time in four. Another worker's
    pull can still collide by chance (about one redelivery in a few hundred); that costs one
    ``ack_wait`` of delay and a duplicate the unique key absorbs, never a lost or doubled
    mention.

Threads
    nats-py is asyncio; our callers are sync threads. Each :class:`NatsStream` runs one private
    event loop in a daemon thread that owns the connection (nats-py reconnects forever), and
    the public methods submit coroutines to it with ``run_coroutine_threadsafe``. Nothing on
    the loop thread touches the Django ORM.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Sequence
from urllib.parse import parse_qs, urlparse

from django.db import close_old_connections, transaction
from django.utils import timezone

from ..models import OutboxEntry
from ..raw import RawMention, mention_from_json
from .base import Delivery, Handler, Stream, StreamUnavailable

logger = logging.getLogger(__name__)

DEFAULT_STREAM = "APIARY_MENTIONS"
DEFAULT_SUBJECT = "apiary.mentions"
DEFAULT_DURABLE = "apiary-enrich"
DEFAULT_ACK_WAIT = 30.0

MAX_AGE_SECONDS = 7 * 24 * 3600
DUPLICATE_WINDOW_SECONDS = 120
MAX_ACK_PENDING = 20_000  # several workers x several batches in flight
MAX_DELIVERIES = 5
RETRY_DELAY = 2.0  # first redelivery delay after a failed batch; doubles per delivery
MAX_RETRY_DELAY = 30.0
# After naking a failed batch the worker sleeps until it is due again plus this margin, so the
# batch is already back on the server's redelivery queue when the next (no-wait) pull asks.
REDELIVERY_GUARD = 0.1
FETCH_TIMEOUT = 0.5  # bounds how long ``stop`` waits
PUBLISH_TIMEOUT = 10.0  # per message; all of a call's messages are in flight together
CONNECT_WAIT = 3.0  # how long ``publish`` waits for a connection before giving up
OP_TIMEOUT = 10.0
CONSUMER_CHECK_SECONDS = 30.0  # an idle consumer re-checks that its durable still exists
RECONNECT_WAIT = 2.0
LOG_EVERY = 30.0  # seconds between repeated "broker unreachable" warnings


def _parse_url(url: str) -> dict:
    parsed = urlparse(url)
    query = {k: v[-1] for k, v in parse_qs(parsed.query).items() if v}
    hosts = [h.strip() for h in (parsed.netloc or "127.0.0.1:4222").split(",") if h.strip()]
    userinfo = ""
    if "@" in hosts[0]:
        userinfo, hosts[0] = hosts[0].rsplit("@", 1)
    servers = [f"nats://{userinfo + '@' if userinfo else ''}{h}" for h in hosts]
    try:
        ack_wait = float(query.get("ack_wait", DEFAULT_ACK_WAIT))
    except ValueError:
        ack_wait = DEFAULT_ACK_WAIT
    return {
        "servers": servers,
        "stream": query.get("stream") or DEFAULT_STREAM,
        "subject": (query.get("subject") or DEFAULT_SUBJECT).rstrip(".>").rstrip("."),
        "durable": query.get("durable") or DEFAULT_DURABLE,
        "ack_wait": ack_wait if ack_wait > 0 else DEFAULT_ACK_WAIT,
    }


def _safe_url(servers: list[str]) -> str:
    return ",".join(s.split("@")[-1] for s in servers)


class NatsStream(Stream):
    name = "nats"
    transactional = False

    def __init__(self, url: str) -> None:
        opts = _parse_url(url)
        self.servers: list[str] = opts["servers"]
        self.stream_name: str = opts["stream"]
        self.subject_prefix: str = opts["subject"]
        self.durable: str = opts["durable"]
        self.ack_wait: float = opts["ack_wait"]
        # Instance attributes so a test can shorten them.
        self.max_deliveries = MAX_DELIVERIES
        self.retry_delay = RETRY_DELAY

        self._nc = None
        self._js = None
        self._ready = threading.Event()  # connected and the stream exists
        self._consumer_ok = False  # durable consumer ensured on this connection
        self._reensure = None  # the task re-checking the stream after a reconnect
        self._closed = False
        self._last_warning = 0.0
        # stream sequence -> last batch error, so a dead-letter row says why it gave up
        self._last_errors: OrderedDict[int, str] = OrderedDict()

        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="apiary-nats-loop", daemon=True
        )
        self._thread.start()
        self._connector = asyncio.run_coroutine_threadsafe(self._connect(), self._loop)

    # --- loop-thread side ---------------------------------------------------------------------

    def _warn(self, message: str, *args) -> None:
        now = time.monotonic()
        if now - self._last_warning >= LOG_EVERY:
            self._last_warning = now
            logger.warning(message, *args)
        else:
            logger.debug(message, *args)

    async def _connect(self) -> None:
        import nats

        async def on_error(exc: Exception) -> None:
            self._warn("NATS %s: %s", _safe_url(self.servers), exc or type(exc).__name__)

        async def on_disconnected() -> None:
            self._ready.clear()
            if not self._closed:
                logger.warning("NATS %s: disconnected; reconnecting", _safe_url(self.servers))

        async def on_reconnected() -> None:
            logger.info("NATS %s: reconnected", _safe_url(self.servers))
            self._consumer_ok = False
            # Not awaited here: this callback runs inside nats-py's reconnect task.
            self._reensure = asyncio.get_running_loop().create_task(self._ensure_stream_until_ok())

        while not self._closed:
            try:
                # max_reconnect_attempts=-1: nats-py keeps trying, also for the first connect.
                nc = await nats.connect(
                    servers=self.servers,
                    name="apiary",
                    max_reconnect_attempts=-1,
                    reconnect_time_wait=RECONNECT_WAIT,
                    connect_timeout=2,
                    ping_interval=10,
                    max_outstanding_pings=3,
                    error_cb=on_error,
                    disconnected_cb=on_disconnected,
                    reconnected_cb=on_reconnected,
                )
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # auth refused, bad URL, …: keep trying, loudly
                self._warn("NATS %s: cannot connect: %s", _safe_url(self.servers), exc)
                await asyncio.sleep(RECONNECT_WAIT)
                continue
            self._nc = nc
            self._js = nc.jetstream(timeout=OP_TIMEOUT)
            logger.info("NATS %s: connected", _safe_url(self.servers))
            await self._ensure_stream_until_ok()
            return

    async def _ensure_stream_until_ok(self) -> None:
        while not self._closed:
            try:
                await self._ensure_stream()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self._warn("NATS stream %s not ready: %s", self.stream_name, exc)
                await asyncio.sleep(RECONNECT_WAIT)
                continue
            self._ready.set()
            return

    def _stream_config(self):
        from nats.js.api import RetentionPolicy, StorageType, StreamConfig

        return StreamConfig(
            name=self.stream_name,
            description="Apiary: received mentions waiting to be enriched and stored",
            subjects=[f"{self.subject_prefix}.>"],
            retention=RetentionPolicy.LIMITS,
            storage=StorageType.FILE,
            max_age=MAX_AGE_SECONDS,
            duplicate_window=DUPLICATE_WINDOW_SECONDS,
        )

    async def _ensure_stream(self) -> None:
        from nats.js.errors import BadRequestError, NotFoundError

        config = self._stream_config()
        try:
            info = await self._js.stream_info(self.stream_name)
        except NotFoundError:
            try:
                await self._js.add_stream(config)
                logger.info("NATS stream %s created", self.stream_name)
                return
            except BadRequestError:
                info = await self._js.stream_info(self.stream_name)  # another process won
        current = info.config
        if (
            current.subjects != config.subjects
            or current.max_age != config.max_age
            or current.duplicate_window != config.duplicate_window
        ):
            try:
                await self._js.update_stream(config)
                logger.info("NATS stream %s updated", self.stream_name)
            except BadRequestError as exc:  # e.g. storage cannot change: use it as it is
                logger.warning("NATS stream %s not updated: %s", self.stream_name, exc)

    def _consumer_config(self):
        from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

        return ConsumerConfig(
            durable_name=self.durable,
            name=self.durable,
            description="Apiary workers: enrich and store mentions",
            deliver_policy=DeliverPolicy.ALL,
            ack_policy=AckPolicy.EXPLICIT,
            ack_wait=self.ack_wait,
            max_ack_pending=MAX_ACK_PENDING,
            filter_subject=f"{self.subject_prefix}.>",
        )

    async def _ensure_consumer(self) -> None:
        from nats.js.errors import NotFoundError

        if self._consumer_ok:
            return
        try:
            info = await self._js.consumer_info(self.stream_name, self.durable)
        except NotFoundError:
            info = None
        config = self._consumer_config()
        if info is None or info.config.ack_wait != config.ack_wait:
            try:
                await self._js.add_consumer(self.stream_name, config)
            except Exception as exc:
                if info is None:
                    raise
                logger.warning("NATS consumer %s not updated: %s", self.durable, exc)
        self._consumer_ok = True

    async def _subscribe(self):
        await self._ensure_consumer()
        return await self._js.pull_subscribe_bind(durable=self.durable, stream=self.stream_name)

    async def _publish_all(self, mentions: Sequence[RawMention]) -> None:
        from nats.js.errors import NoStreamResponseError

        async def one(m: RawMention):
            msg_id = f"{m.platform}:{m.external_id}".replace("\r", " ").replace("\n", " ")
            return await self._js.publish(
                f"{self.subject_prefix}.{m.platform}",
                m.to_json().encode(),
                timeout=PUBLISH_TIMEOUT,
                headers={"Nats-Msg-Id": msg_id},
            )

        results = await asyncio.gather(*(one(m) for m in mentions), return_exceptions=True)
        failed = [
            (m, r) for m, r in zip(mentions, results, strict=True) if isinstance(r, BaseException)
        ]
        if failed and all(isinstance(r, NoStreamResponseError) for _m, r in failed):
            # The stream vanished (server storage reset): create it again and retry once.
            await self._ensure_stream()
            retry = [m for m, _r in failed]
            results = await asyncio.gather(*(one(m) for m in retry), return_exceptions=True)
            failed = [
                (m, r) for m, r in zip(retry, results, strict=True) if isinstance(r, BaseException)
            ]
        if failed:
            m, exc = failed[0]
            raise StreamUnavailable(
                f"NATS JetStream did not acknowledge {len(failed)} of {len(mentions)} "
                f"mention(s) (first: {m.platform}:{m.external_id}: "
                f"{type(exc).__name__}: {exc or 'no detail'})"
            )

    async def _fetch(self, sub, batch_size: int) -> list:
        try:
            return await sub.fetch(batch_size, timeout=FETCH_TIMEOUT)
        except TimeoutError:  # nats.errors.TimeoutError too: no messages right now
            return []

    async def _settle(self, ack=(), nak=(), term=(), nak_delays=None) -> None:
        for msg in ack:
            await msg.ack()
        for msg in nak:
            await msg.nak(delay=(nak_delays or {}).get(id(msg), self.retry_delay))
        for msg in term:
            await msg.term()
        await self._nc.flush(timeout=5)

    async def _keepalive(self, msgs: list) -> None:
        """Tell the server a long batch is still being worked on (resets ``ack_wait``)."""
        interval = max(self.ack_wait / 3, 0.5)
        while True:
            await asyncio.sleep(interval)
            for msg in msgs:
                await msg.in_progress()

    async def _consumer_info(self):
        await self._ensure_consumer()
        return await self._js.consumer_info(self.stream_name, self.durable)

    async def _shutdown(self) -> None:
        self._connector.cancel()
        if self._nc is not None and not self._nc.is_closed:
            # Not drain(): a pull subscription's undelivered buffer would hold it up until its
            # timeout. Acks are flushed after every batch; flush once more and close.
            with contextlib.suppress(Exception):
                await self._nc.flush(timeout=2)
            with contextlib.suppress(Exception):
                await self._nc.close()

    # --- calling-thread side ------------------------------------------------------------------

    def _call(self, coro, timeout: float):
        if self._closed:
            coro.close()
            raise StreamUnavailable("the NATS stream is closed")
        future = asyncio.run_coroutine_threadsafe(coro, self._loop)
        try:
            return future.result(timeout)
        except concurrent.futures.TimeoutError:
            future.cancel()
            raise StreamUnavailable(
                f"NATS {_safe_url(self.servers)} did not answer within {timeout:.0f}s"
            ) from None

    def _wait_ready(self, timeout: float) -> bool:
        return self._ready.wait(timeout) and self._nc is not None and self._nc.is_connected

    def publish(self, mentions: Sequence[RawMention]) -> None:
        if not mentions:
            return
        if not self._wait_ready(CONNECT_WAIT):
            raise StreamUnavailable(
                f"NATS JetStream at {_safe_url(self.servers)} is unreachable "
                f"(stream {self.stream_name}); the mentions were not accepted"
            )
        self._call(self._publish_all(list(mentions)), PUBLISH_TIMEOUT + 5)

    def pending(self) -> int | None:
        if not self._wait_ready(1.0):
            return None
        try:
            info = self._call(self._consumer_info(), OP_TIMEOUT)
        except Exception as exc:
            logger.debug("NATS consumer info failed: %s", exc)
            return None
        return (info.num_pending or 0) + (info.num_ack_pending or 0)

    def consume(self, handler: Handler, stop: threading.Event, *, batch_size: int = 500) -> None:
        sub = None
        checked = time.monotonic()
        while not stop.is_set():
            if not self._wait_ready(FETCH_TIMEOUT):
                # The subscription survives: nats-py renews it when the connection is back.
                self._warn(
                    "NATS %s unreachable; the consumer waits for it", _safe_url(self.servers)
                )
                continue
            try:
                if time.monotonic() - checked > CONSUMER_CHECK_SECONDS:
                    self._consumer_ok = False  # deleted by an operator? recreate it
                if not self._consumer_ok:
                    # Also after every reconnect: a server that lost its storage lost it too.
                    self._call(self._ensure_consumer(), OP_TIMEOUT)
                    checked = time.monotonic()
                if sub is None:
                    sub = self._call(self._subscribe(), OP_TIMEOUT)
                msgs = self._call(self._fetch(sub, batch_size), FETCH_TIMEOUT + OP_TIMEOUT)
            except Exception as exc:
                # Consumer deleted, broker restarting, …: never let the worker die.
                self._warn("NATS consumer error (%s: %s); retrying", type(exc).__name__, exc)
                if sub is not None:
                    with contextlib.suppress(Exception):
                        self._call(sub.unsubscribe(), 2)
                sub = None
                self._consumer_ok = False
                stop.wait(1.0)
                continue
            if msgs:
                try:
                    pause = self._process(msgs, handler)
                except Exception:
                    logger.exception("NATS batch settling failed; the batch will be redelivered")
                    close_old_connections()
                    pause = 1.0
                if pause:
                    # No pull request of ours is waiting while the nak'ed batch becomes due
                    # (module docstring, "Retry pause").
                    stop.wait(pause)

    def _remember_error(self, seq: int, error: str) -> None:
        self._last_errors[seq] = error
        self._last_errors.move_to_end(seq)
        while len(self._last_errors) > 10_000:
            self._last_errors.popitem(last=False)

    def _process(self, msgs: list, handler: Handler) -> float:
        """Run one fetched batch through ``handler`` and settle it; returns how long the worker
        should pause before fetching again (0 unless messages were nak'ed for a retry)."""
        deliveries: list[Delivery] = []
        exhausted: list[tuple[object, str]] = []
        for msg in msgs:
            md = msg.metadata
            seq = md.sequence.stream
            if md.num_delivered > self.max_deliveries:
                last = self._last_errors.pop(seq, "")
                exhausted.append(
                    (
                        msg,
                        f"gave up after {md.num_delivered - 1} deliveries"
                        + (f"; last error: {last}" if last else " (the worker died or timed out)"),
                    )
                )
                continue
            meta = {"stream_seq": seq, "subject": msg.subject}
            try:
                mention = mention_from_json(msg.data)
            except Exception as exc:
                deliveries.append(
                    Delivery(
                        None, msg, md.num_delivered, error=f"undecodable payload: {exc}", meta=meta
                    )
                )
            else:
                deliveries.append(Delivery(mention, msg, md.num_delivered, meta=meta))

        failed: dict[int, str] = {}
        if deliveries:
            keepalive = asyncio.run_coroutine_threadsafe(
                self._keepalive([d.handle for d in deliveries]), self._loop
            )
            try:
                failed = handler(deliveries)
            except Exception as exc:
                error = f"{type(exc).__name__}: {exc}"
                logger.exception(
                    "Stream batch of %d failed; it will be redelivered", len(deliveries)
                )
                close_old_connections()
                delays = {}
                for d in deliveries:
                    self._remember_error(d.meta["stream_seq"], error)
                    delays[id(d.handle)] = min(
                        self.retry_delay * 2 ** max(d.attempts - 1, 0), MAX_RETRY_DELAY
                    )
                pause = self._dead_letter(exhausted)
                self._call(
                    self._settle(nak=[d.handle for d in deliveries], nak_delays=delays),
                    OP_TIMEOUT,
                )
                return max(pause, max(delays.values()) + REDELIVERY_GUARD)
            finally:
                keepalive.cancel()
            for d in deliveries:
                self._last_errors.pop(d.meta["stream_seq"], None)

        done = [d.handle for i, d in enumerate(deliveries) if i not in failed]
        if done:
            try:
                self._call(self._settle(ack=done), OP_TIMEOUT)
            except Exception as exc:  # stored already; redelivery after ack_wait is harmless
                logger.warning("NATS acks for %d stored mention(s) failed: %s", len(done), exc)
        return self._dead_letter(
            [(deliveries[i].handle, err) for i, err in failed.items()] + exhausted
        )

    def _dead_letter(self, items: list[tuple[object, str]]) -> float:
        """Record failed messages in the dead-letter list, then stop their redelivery; returns
        the pause the worker owes when recording failed and they were nak'ed instead."""
        if not items:
            return 0.0
        now = timezone.now()
        rows = []
        for msg, error in items:
            payload = msg.data.decode("utf-8", errors="replace")
            platform, external_id = "", ""
            with contextlib.suppress(Exception):
                m = mention_from_json(msg.data)
                platform, external_id = m.platform, m.external_id
            if not platform:
                msg_id = (msg.headers or {}).get("Nats-Msg-Id", "")
                platform, _sep, external_id = msg_id.partition(":")
                platform = platform or msg.subject.rsplit(".", 1)[-1]
            md = msg.metadata
            rows.append(
                OutboxEntry(
                    platform=platform[:20],
                    external_id=external_id[:255],
                    payload=payload,
                    enqueued_at=md.timestamp or now,
                    available_at=now,
                    attempts=md.num_delivered,
                    failed_at=now,
                    last_error=error[:2000],
                )
            )
        try:
            with transaction.atomic():
                OutboxEntry.objects.bulk_create(rows, batch_size=500)
        except Exception as exc:
            # Not recorded, so not terminated: they come back and are judged again.
            logger.warning("Dead-lettering %d message(s) failed (%s); redelivering", len(rows), exc)
            close_old_connections()
            self._call(self._settle(nak=[msg for msg, _e in items]), OP_TIMEOUT)
            return self.retry_delay + REDELIVERY_GUARD
        for msg, error in items:
            logger.warning(
                "NATS message %s dead-lettered: %s", msg.metadata.sequence.stream, error[:300]
            )
        try:
            self._call(self._settle(term=[msg for msg, _e in items]), OP_TIMEOUT)
        except Exception as exc:  # it will be redelivered and dead-lettered again
            logger.warning("NATS term for %d message(s) failed: %s", len(items), exc)
        return 0.0

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._ready.clear()
        future = asyncio.run_coroutine_threadsafe(self._shutdown(), self._loop)
        with contextlib.suppress(Exception):
            future.result(5)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
        if not self._thread.is_alive():
            self._loop.close()
