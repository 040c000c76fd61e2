"""Drop the mention table's single-column ``source_id`` index: ``(source, created_at)`` serves
every lookup by source, and each extra index costs every ingested row.

A plain ``AlterField`` would make SQLite rebuild the whole table (and lose the full-text
triggers that live on it), so the state changes here and the database only drops the index."""

import django.db.models.deletion
from django.db import migrations, models

INDEX = "listening_mention_source_id_2c436a5a"  # Django's name for the FK index in 0001


class Migration(migrations.Migration):
    dependencies = [("listening", "0006_coarse_cells")]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="mention",
                    name="source",
                    field=models.ForeignKey(
                        blank=True,
                        db_index=False,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        to="listening.source",
                    ),
                ),
            ],
            database_operations=[
                migrations.RunSQL(
                    f"DROP INDEX IF EXISTS {INDEX}",
                    f"CREATE INDEX {INDEX} ON listening_mention (source_id)",
                ),
            ],
        ),
    ]
