"""The outbox stream: claim with a lease, retry after a crash, park what fails on its own."""

from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from apiary.core.db import local_settings
from apiary.listening.consumer import handle_batch
from apiary.listening.models import Mention, OutboxEntry
from apiary.listening.stream.outbox import CLAIM_SETTINGS, MAX_ATTEMPTS, OutboxStream, claim_sql

from .factories import raw_mention

pytestmark = pytest.mark.django_db


def test_claimed_rows_are_invisible_until_the_lease_runs_out():
    # given
    stream = OutboxStream()
    stream.publish([raw_mention(), raw_mention()])
    # when: a consumer claims and "dies" without settling
    claimed = stream.claim(10)
    again = stream.claim(10)
    OutboxEntry.objects.update(available_at=timezone.now() - timedelta(seconds=1))
    after_lease = stream.claim(10)
    # then
    assert len(claimed) == 2 and again == []
    assert [r[0] for r in after_lease] == [r[0] for r in claimed]
    assert [r[2] for r in after_lease] == [2, 2]


def test_a_crashed_batch_is_stored_exactly_once_on_retry():
    # given
    stream = OutboxStream()
    mentions = [raw_mention() for _ in range(5)]
    stream.publish(mentions)
    # when: the first consumer stored but died before deleting the outbox rows
    rows = stream.claim(10)
    handle_batch(stream._deliveries(rows))
    OutboxEntry.objects.update(available_at=timezone.now())
    stream.process_once(handle_batch)
    # then
    assert Mention.objects.count() == 5
    assert OutboxEntry.objects.count() == 0


def test_an_undecodable_row_is_parked_and_the_rest_stored():
    # given
    stream = OutboxStream()
    stream.publish([raw_mention(), raw_mention()])
    now = timezone.now()
    OutboxEntry.objects.create(
        platform="x", external_id="bad", payload="{broken", enqueued_at=now, available_at=now
    )
    # when
    stream.process_once(handle_batch)
    # then
    assert Mention.objects.count() == 2
    parked = OutboxEntry.objects.get()
    assert parked.failed_at is not None and "undecodable" in parked.last_error
    assert stream.pending() == 0


def test_a_batch_that_keeps_failing_is_parked_after_max_attempts():
    # given
    stream = OutboxStream()
    stream.publish([raw_mention()])

    def broken(_deliveries):
        raise RuntimeError("database on fire")

    # when
    for _ in range(MAX_ATTEMPTS):
        OutboxEntry.objects.update(available_at=timezone.now())
        stream.process_once(broken)
    # then
    row = OutboxEntry.objects.get()
    assert row.failed_at is not None
    assert "database on fire" in row.last_error


def test_parked_records_can_be_put_back_on_the_stream():
    # given: one good record parked after a (since fixed) failure, one that cannot be decoded
    from io import StringIO

    from django.core.management import call_command

    stream = OutboxStream()
    stream.publish([raw_mention()])
    now = timezone.now()
    OutboxEntry.objects.update(failed_at=now, last_error="boom")
    OutboxEntry.objects.create(
        platform="x",
        external_id="bad",
        payload="{broken",
        enqueued_at=now,
        available_at=now,
        failed_at=now,
    )
    # when
    out = StringIO()
    call_command("listening_retry_failed", stdout=out)
    stream.process_once(handle_batch)
    # then
    assert "Re-published 1 parked records; 1 still cannot be decoded." in out.getvalue()
    assert Mention.objects.count() == 1
    assert OutboxEntry.objects.get().external_id == "bad"


@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL storage")
@pytest.mark.django_db(transaction=True)  # the claim's settings apply only at the top level
def test_postgres_outbox_is_stored_as_a_queue_table_and_claims_walk_the_index():
    # given: migration 0008's storage settings
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT reloptions FROM pg_class WHERE relname = %s", [OutboxEntry._meta.db_table]
        )
        options = set(cursor.fetchone()[0] or [])
    assert {"fillfactor=50", "autovacuum_vacuum_threshold=20000"} <= options
    # when: the planner believes the table is empty (never analysed) but it holds a backlog
    stream = OutboxStream()
    stream.publish([raw_mention() for _ in range(600)])
    now = timezone.now()
    with local_settings(**CLAIM_SETTINGS), connection.cursor() as cursor:
        cursor.execute("EXPLAIN " + claim_sql(), [now + timedelta(seconds=30), now, 500])
        plan = "\n".join(r[0] for r in cursor.fetchall())
    rows = stream.claim(500)
    # then: the claim's own statement and settings walk the partial index, oldest first
    assert "listening_outbox_ready" in plan and "Sort" not in plan and "Bitmap" not in plan
    assert len(rows) == 500 and [r[0] for r in rows] == sorted(r[0] for r in rows)
    assert rows[0][0] == OutboxEntry.objects.order_by("id").first().pk
