"""PostgreSQL storage settings for the outbox, a queue table that fills and drains at thousands
of rows a second (measured in ``benchmarks/ingest.py``; see docs/ARCHITECTURE.md "Stream").

- ``fillfactor = 50``: a claim rewrites each row's lease (``available_at``, ``attempts``). With
  pages packed full by COPY, every such update moved the whole row (payload included) to a new
  page and added entries to both indexes: 1.5 KB of WAL per mention. With room left on the page
  the update is HOT and its WAL record holds only the changed bytes.
- Autovacuum and analyze by row count, not by a share of the table: the default (20 % of a
  table that may hold a million backlog rows) let dead rows pile up at the head of the index
  every claim walks, and left the planner's row estimates minutes stale.

SQLite has no such settings; nothing to do there."""

from django.db import migrations

TABLE = "listening_outboxentry"
SETTINGS = (
    "fillfactor = 50, "
    "autovacuum_vacuum_scale_factor = 0, autovacuum_vacuum_threshold = 20000, "
    "autovacuum_analyze_scale_factor = 0, autovacuum_analyze_threshold = 20000"
)
RESET = (
    "fillfactor, autovacuum_vacuum_scale_factor, autovacuum_vacuum_threshold, "
    "autovacuum_analyze_scale_factor, autovacuum_analyze_threshold"
)


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"ALTER TABLE {TABLE} SET ({SETTINGS})")


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"ALTER TABLE {TABLE} RESET ({RESET})")


class Migration(migrations.Migration):
    dependencies = [("listening", "0007_drop_source_fk_index")]

    operations = [migrations.RunPython(forwards, backwards, elidable=False)]
