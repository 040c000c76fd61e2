"""System checks that `apiary check` (and every `apiary serve`) runs, in plain words."""

from __future__ import annotations

import importlib.util

from django.conf import settings
from django.core.checks import Error, Tags, Warning, register
from django.db import connection


@register(Tags.database, deploy=False)
def check_database(app_configs=None, **kwargs):
    messages = []
    try:
        with connection.cursor() as cursor:
            if connection.vendor == "sqlite":
                cursor.execute("PRAGMA journal_mode")
                mode = cursor.fetchone()[0]
                if str(mode).lower() != "wal" and connection.settings_dict["NAME"] != ":memory:":
                    messages.append(
                        Warning(
                            f"SQLite runs in {mode} journal mode, not WAL; readers will block "
                            "writers.",
                            id="apiary.W002",
                        )
                    )
            else:
                cursor.execute("SELECT 1")
    except Exception as exc:  # any driver error means "cannot reach the database"
        messages.append(
            Error(
                f"The database cannot be reached ({exc.__class__.__name__}: {exc}).",
                hint="Check DATABASE_URL and that the database server is running.",
                id="apiary.E001",
            )
        )
    if connection.vendor == "sqlite" and not settings.DEBUG:
        messages.append(
            Warning(
                "Production mode on SQLite: fine for one box, but use PostgreSQL to scale out.",
                id="apiary.W003",
            )
        )
    return messages


@register()
def check_stream(app_configs=None, **kwargs):
    if settings.APIARY_STREAM_URL.startswith("nats://") and not importlib.util.find_spec("nats"):
        return [
            Error(
                "APIARY_STREAM_URL points to NATS but the NATS client is not installed.",
                hint="pip install 'apiary[nats]'",
                id="apiary.E002",
            )
        ]
    return []


@register()
def check_postgres_driver(app_configs=None, **kwargs):
    engine = settings.DATABASES["default"]["ENGINE"]
    if engine.endswith("postgresql") and not importlib.util.find_spec("psycopg"):
        return [
            Error(
                "DATABASE_URL points to PostgreSQL but psycopg is not installed.",
                hint="pip install 'apiary[postgres]'",
                id="apiary.E003",
            )
        ]
    return []
