"""Coarse map cells (``MentionCoarseCellDay``, zoom 4 = 2.8125°) for the world and continent
views, backfilled from the fine cells with one set-based ``INSERT … SELECT … GROUP BY``; and
an index on the fine cells for the edge strips of a coarse-zoom box (``geo.py``).

The backfill regroups ``listening_mentioncellday``: coarse index = fine index // 2**5. Fine
indexes are counted from −90° / −180° and coordinates are validated to ±90° / ±180°, so they
are 0…2048 / 0…4096, never negative: integer division (``/`` of two integers, truncating on
SQLite and PostgreSQL) is the floor, equal to the store's ``fine >> 5``. The same SQL serves
both backends."""

from django.db import migrations, models

# Must equal 2 ** models.GEO_COARSE_SHIFT (a migration does not import live model code).
FINE_PER_COARSE = 32

SQL = (
    "INSERT INTO listening_mentioncoarsecellday "  # noqa: S608 (constant SQL)
    "(day, query_id, cell_lat, cell_lon, country, sentiment, count, lat_sum, lon_sum) "
    f"SELECT day, query_id, cell_lat / {FINE_PER_COARSE}, cell_lon / {FINE_PER_COARSE}, "
    "country, sentiment, SUM(count), SUM(lat_sum), SUM(lon_sum) "
    "FROM listening_mentioncellday "
    f"GROUP BY day, query_id, cell_lat / {FINE_PER_COARSE}, cell_lon / {FINE_PER_COARSE}, "
    "country, sentiment"
)


def backfill(apps, schema_editor):
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(SQL)  # no parameters: nothing to bind, nothing user-supplied


class Migration(migrations.Migration):
    dependencies = [("listening", "0005_geo_rollups")]

    operations = [
        migrations.CreateModel(
            name="MentionCoarseCellDay",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("day", models.DateTimeField()),
                ("query_id", models.BigIntegerField(default=0)),
                ("cell_lat", models.IntegerField()),
                ("cell_lon", models.IntegerField()),
                ("country", models.CharField(blank=True, max_length=2)),
                ("sentiment", models.CharField(max_length=8)),
                ("count", models.PositiveBigIntegerField(default=0)),
                ("lat_sum", models.FloatField(default=0.0)),
                ("lon_sum", models.FloatField(default=0.0)),
            ],
            options={
                "indexes": [
                    models.Index(fields=["query_id", "day"], name="listening_coarse_day_query")
                ],
                "constraints": [
                    models.UniqueConstraint(
                        fields=("day", "query_id", "cell_lat", "cell_lon", "country", "sentiment"),
                        name="listening_coarse_day_key",
                    )
                ],
            },
        ),
        migrations.AddIndex(
            model_name="mentioncellday",
            index=models.Index(
                fields=["day", "query_id", "cell_lon"], name="listening_cell_day_lon"
            ),
        ),
        migrations.RunPython(backfill, migrations.RunPython.noop),
    ]
