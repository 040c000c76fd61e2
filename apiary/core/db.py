"""Small database helpers shared by the apps."""

from __future__ import annotations

import re
from contextlib import contextmanager

from django.db import connection, transaction

_SETTING_NAME = re.compile(r"[a-z_]+")
_SETTING_VALUE = re.compile(r"[A-Za-z0-9_.]+")


@contextmanager
def local_settings(*, savepoint: bool = True, **settings: str):
    """One transaction with PostgreSQL settings for it alone (``SET LOCAL``): planner hints for
    one query, a relaxed commit.

    Applied only when this is the outermost transaction: inside a caller's, a setting would last
    until the caller's commit and change its other statements too, so there every setting is
    left as it was and this is a savepoint (``savepoint=False``: nothing at all, for hints that
    need no rollback of their own). Other databases: just the transaction. Names and values
    are code constants, checked, since ``SET`` takes no parameters."""
    for name, value in settings.items():
        if not (_SETTING_NAME.fullmatch(name) and _SETTING_VALUE.fullmatch(value)):
            raise ValueError(f"not a setting: {name}={value!r}")
    apply = connection.vendor == "postgresql" and not connection.in_atomic_block
    with transaction.atomic(savepoint=savepoint):
        if apply:
            with connection.cursor() as cursor:
                for name, value in settings.items():
                    cursor.execute(f"SET LOCAL {name} = {value}")
        yield


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
    # Inside a caller's transaction the commit stays the caller's (local_settings).
    with local_settings(synchronous_commit="off"):
        yield
