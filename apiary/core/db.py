"""Small database helpers shared by the apps."""

from __future__ import annotations

from contextlib import contextmanager

from django.db import connection, transaction


@contextmanager
def counting_write():
    """One transaction for a page view's bookkeeping (a counter bump and its activity event),
    committed without waiting for the write-ahead log to reach the disk on PostgreSQL
    (``SET LOCAL synchronous_commit TO OFF``, this transaction only).

    Why: an anonymous topic page served from the cache costs ~1 ms, and two separate
    autocommits each waiting for a WAL flush cost more than the page; views and visits are
    counters and analytics, where a crash may lose the last fraction of a second of them but
    never corrupts anything or loses a write anyone saw confirmed elsewhere. SQLite in WAL mode
    with ``synchronous=NORMAL`` (settings.py) already commits without a sync. Never use this
    for content, money or anything a person was told is saved."""
    # Inside a caller's transaction the setting would relax the caller's commit too: then
    # this is just a savepoint and the commit stays the caller's.
    relax = connection.vendor == "postgresql" and not connection.in_atomic_block
    with transaction.atomic():
        if relax:
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL synchronous_commit TO OFF")
        yield
