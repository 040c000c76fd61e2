"""At-least-once delivery + idempotent storage = exactly one stored mention per
``(platform, external_id)``, proven by killing a real ``apiary worker`` with SIGKILL mid-batch.

For both streams: the outbox (``memory://``, lease shortened with
``APIARY_OUTBOX_LEASE_SECONDS``) and NATS JetStream (``ack_wait`` shortened in the URL). The
workers are separate processes on the test database, so the test uses ``transactional_db``:
what it publishes is committed and visible to them.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import quote

import pytest
from django.db import connection, transaction
from django.db.models import Count, Sum
from django.utils import timezone

from apiary.listening.consumer import pipeline_state
from apiary.listening.models import Mention, MentionRollup, OutboxEntry
from apiary.listening.stream import get_stream
from apiary.listening.stream.nats import NatsStream

from .factories import raw_mention
from .test_stream_nats import delete_stream, nats_admin, requires_nats, unique_url, wait_for

pytestmark = pytest.mark.django_db(transaction=True)

N = 3000
RECOVERY_SECONDS = 3  # outbox lease / JetStream ack_wait while these tests run
APIARY = Path(sys.executable).with_name("apiary")


def worker_database_url() -> str:
    s = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{s['NAME']}"
    auth = quote(s.get("USER") or "", safe="")
    if s.get("PASSWORD"):
        auth += ":" + quote(s["PASSWORD"], safe="")
    host = s.get("HOST") or "127.0.0.1"
    port = f":{s['PORT']}" if s.get("PORT") else ""
    return f"postgres://{auth + '@' if auth else ''}{host}{port}/{s['NAME']}"


class Worker:
    """``apiary worker --only listening-consumer`` as a child process on the test database."""

    def __init__(self, stream_url: str, log: Path) -> None:
        env = dict(os.environ)
        env.update(
            DATABASE_URL=worker_database_url(),
            APIARY_STREAM_URL=stream_url,
            APIARY_OUTBOX_LEASE_SECONDS=str(RECOVERY_SECONDS),
            PYTHONUNBUFFERED="1",
        )
        self.log = log
        self._out = log.open("ab")
        self.proc = subprocess.Popen(
            [str(APIARY), "worker", "--only", "listening-consumer"],
            env=env,
            stdout=self._out,
            stderr=subprocess.STDOUT,
        )

    def kill(self) -> None:
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()
        self._out.close()

    def output(self) -> str:
        return self.log.read_text(errors="replace")[-4000:]


def stored() -> int:
    return Mention.objects.count()


def assert_exactly_once(keys: set[tuple[str, str]]) -> None:
    assert Mention.objects.count() == N
    repeated = (
        Mention.objects.values("platform", "external_id").annotate(n=Count("id")).filter(n__gt=1)
    )
    assert not repeated.exists()
    assert set(Mention.objects.values_list("platform", "external_id")) == keys
    total = MentionRollup.objects.filter(query_id=0).aggregate(t=Sum("count"))["t"]
    assert total == N
    assert not OutboxEntry.objects.filter(failed_at__isnull=False).exists()


def crash_and_recover(stream_url, pending, in_flight, tmp_path) -> tuple[int, float]:
    """Start a worker, SIGKILL it while a batch is in flight, start another, wait for all.

    Returns how many were stored when the first one died and how long recovery took."""
    pipeline_state().invalidate()
    first = Worker(stream_url, tmp_path / "worker-1.log")
    second = None
    try:
        # The first batch is committed and the next one claimed but not yet stored. (Generous:
        # on a saturated two-core machine a fresh worker took over 30 s to store its first.)
        caught = wait_for(lambda: 0 < stored() < N and in_flight(), 90, 0.01)
        assert caught, f"never saw a batch in flight: {stored()} stored\n{first.output()}"
        first.kill()
        at_kill = stored()
        assert at_kill < N, "the worker finished before it was killed"
        assert pending() > 0
        started = time.monotonic()
        second = Worker(stream_url, tmp_path / "worker-2.log")
        done = wait_for(lambda: stored() >= N and pending() == 0, 45, 0.1)
        assert done, (
            f"{stored()} of {N} stored, {pending()} pending\n"
            f"{first.output()}\n---\n{second.output()}"
        )
        took = time.monotonic() - started
        print(
            f"{stream_url.split('?')[0]}: killed at {at_kill}/{N} stored, recovered in {took:.1f}s"
        )
        return at_kill, took
    finally:
        first.stop()
        if second is not None:
            second.stop()


def publish(stream, mentions) -> None:
    with transaction.atomic():
        for start in range(0, len(mentions), 500):
            stream.publish(mentions[start : start + 500])


def test_outbox_worker_killed_mid_batch_stores_every_mention_exactly_once(tmp_path):
    # given
    mentions = [raw_mention() for _ in range(N)]
    publish(get_stream("memory://"), mentions)
    stream = get_stream("memory://")

    def leased() -> bool:  # claimed by the worker and not yet stored
        return OutboxEntry.objects.filter(attempts__gte=1, available_at__gt=timezone.now()).exists()

    # when
    at_kill, took = crash_and_recover("memory://", stream.pending, leased, tmp_path)
    # then
    assert 0 < at_kill < N
    assert_exactly_once({m.key for m in mentions})
    assert stream.pending() == 0
    assert not OutboxEntry.objects.exists()
    assert took < 40


@requires_nats
def test_nats_worker_killed_mid_batch_stores_every_mention_exactly_once(tmp_path):
    # given
    url, names = unique_url(ack_wait=RECOVERY_SECONDS)
    stream = NatsStream(url)
    try:
        mentions = [raw_mention() for _ in range(N)]
        stream.pending()  # creates the durable consumer with the short ack_wait
        publish(stream, mentions)
        assert stream.pending() == N

        def unacked() -> bool:  # delivered to the worker and not yet acked
            async def info(nc, js):
                return await js.consumer_info(names["stream"], names["durable"])

            return (nats_admin(info).num_ack_pending or 0) > 0

        # when
        at_kill, took = crash_and_recover(url, lambda: stream.pending(), unacked, tmp_path)
        # then
        assert 0 < at_kill < N
        assert_exactly_once({m.key for m in mentions})
        assert stream.pending() == 0
        assert took < 40
    finally:
        stream.close()
        delete_stream(names["stream"])


def test_worker_only_refuses_an_unknown_name_and_lists_the_valid_ones():
    from django.core.management import CommandError, call_command

    with pytest.raises(CommandError) as caught:
        call_command("worker", only="listening-consumer,nope")
    assert "nope" in str(caught.value)
    assert "listening-consumer" in str(caught.value) and "tasks" in str(caught.value)
