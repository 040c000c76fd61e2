"""core.db.SqliteCheckpointer and sqlite_writer: the WAL is checkpointed by a thread of its
own, and while that thread is alive the ingest writers leave checkpoints to it; when it stops,
they take them back. Real SQLite file database (the test database)."""

from __future__ import annotations

import os
import time

import pytest
from django.db import connection, transaction

from apiary.core import db as core_db
from apiary.core.db import SqliteCheckpointer, sqlite_writer

pytestmark = pytest.mark.django_db(transaction=True)
# Checkpoints exist only for SQLite's write-ahead log; on PostgreSQL only the last test runs.
sqlite_only = pytest.mark.skipif(connection.vendor != "sqlite", reason="SQLite's write-ahead log")


def _autocheckpoint() -> int:
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA wal_autocheckpoint")
        return cursor.fetchone()[0]


def _write(django_user_model, email: str) -> None:
    with sqlite_writer(), transaction.atomic():
        django_user_model.objects.create(email=email)


@sqlite_only
def test_writers_defer_to_a_live_checkpointer_and_take_checkpoints_back_when_it_stops(
    django_user_model, monkeypatch
):
    name = connection.settings_dict["NAME"]
    heartbeat = name + "-checkpointer"
    if os.path.exists(heartbeat):
        os.unlink(heartbeat)
    _write(django_user_model, "before@example.com")
    assert _autocheckpoint() == 1000  # no checkpointer: SQLite's default

    checkpointer = SqliteCheckpointer(interval=0.02)
    assert checkpointer.start()
    try:
        deadline = time.monotonic() + 5
        while not os.path.exists(heartbeat) and time.monotonic() < deadline:
            time.sleep(0.01)
        assert os.path.exists(heartbeat)
        _write(django_user_model, "during@example.com")
        assert _autocheckpoint() == 0  # the thread checkpoints for us
        # The thread really checkpoints: after a round, nothing is left to copy back.
        time.sleep(0.1)
        with connection.cursor() as cursor:
            cursor.execute("PRAGMA wal_checkpoint(PASSIVE)")
            busy, log_frames, backfilled = cursor.fetchone()
        assert busy == 0 and log_frames == backfilled
    finally:
        checkpointer.stop()
    assert not checkpointer.running

    # A stale heartbeat (the thread, or its process, is gone): checkpoints come back.
    monkeypatch.setattr(core_db, "HEARTBEAT_FRESH_SECONDS", 0.0)
    _write(django_user_model, "after@example.com")
    assert _autocheckpoint() == 1000
    assert django_user_model.objects.filter(email__endswith="@example.com").count() == 3


@sqlite_only
def test_inside_a_callers_transaction_the_writer_changes_nothing(django_user_model, monkeypatch):
    monkeypatch.setattr(core_db, "_checkpointer_alive", lambda name: True)
    with transaction.atomic():
        _write(django_user_model, "inner@example.com")
        # A PRAGMA inside the caller's transaction would be a surprise: it is left alone.
        assert _autocheckpoint() == 1000
    assert django_user_model.objects.filter(email="inner@example.com").exists()


def test_no_checkpointer_for_postgresql_or_memory_databases(monkeypatch, django_user_model):
    if connection.vendor == "sqlite":
        monkeypatch.setitem(connection.settings_dict, "NAME", ":memory:")
    checkpointer = SqliteCheckpointer()
    assert checkpointer.start() is False
    assert not checkpointer.running
    if connection.vendor != "sqlite":
        # The writer is a plain pass-through there: the write commits as usual.
        _write(django_user_model, "pg@example.com")
        assert django_user_model.objects.filter(email="pg@example.com").exists()
