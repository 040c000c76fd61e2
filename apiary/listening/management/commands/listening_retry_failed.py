"""`apiary listening_retry_failed`: put parked (failed) mention records back on the stream.

A record is parked when it failed on its own (a stage crashed on it, or it could not be
decoded). After fixing the cause, this re-publishes each parked payload to the current stream
(outbox or NATS) and removes the parked row; records that still cannot be decoded stay parked.
Safe to run twice: storage is idempotent by ``(platform, external_id)``.
"""

from __future__ import annotations

from django.core.management.base import BaseCommand
from django.db import transaction

from apiary.listening.models import OutboxEntry
from apiary.listening.raw import mention_from_json
from apiary.listening.stream import get_stream


class Command(BaseCommand):
    help = "Re-publish parked (failed) mention records to the stream."

    def handle(self, *args, **options) -> None:
        stream = get_stream()
        retried = undecodable = 0
        parked = OutboxEntry.objects.filter(failed_at__isnull=False).order_by("pk")
        while True:
            # Undecodable rows stay parked at the front; skip past them.
            rows = list(parked[undecodable : undecodable + 500])
            if not rows:
                break
            good, ids = [], []
            for row in rows:
                try:
                    good.append(mention_from_json(row.payload))
                    ids.append(row.pk)
                except Exception:
                    undecodable += 1
            with transaction.atomic():
                stream.publish(good)
                OutboxEntry.objects.filter(pk__in=ids).delete()
            retried += len(good)
        self.stdout.write(
            f"Re-published {retried} parked records; {undecodable} still cannot be decoded."
        )
