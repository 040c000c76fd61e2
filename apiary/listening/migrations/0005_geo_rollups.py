"""Map rollups: mentions per day by region (``MentionRegionDay``) and by grid cell with
coordinate sums (``MentionCellDay``), backfilled from the stored mentions so existing
installations keep their map history. One set-based ``INSERT … SELECT … GROUP BY`` per table
and vendor; per-query rows come from ``MentionMatch`` (what the store writes them from)."""

from django.db import migrations, models

# Must equal models.GEO_CELL_DEG (45° / 2**9); a migration does not import live model code.
CELL_DEG = "0.087890625"


def _sql(vendor: str) -> list[str]:
    if vendor == "postgresql":
        day = "date_trunc('day', m.created_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'"
        cell_lat = f"floor((m.lat + 90.0) / {CELL_DEG})::integer"
        cell_lon = f"floor((m.lon + 180.0) / {CELL_DEG})::integer"
    else:
        # SQLite keeps datetimes as 'YYYY-MM-DD HH:MM:SS[.ffffff]' text in UTC; the store
        # writes midnights as 'YYYY-MM-DD 00:00:00', which datetime(date(…)) produces. CAST
        # truncates, the floor of these non-negative numbers (SQLite's floor() is optional).
        day = "datetime(date(m.created_at))"
        cell_lat = f"CAST((m.lat + 90.0) / {CELL_DEG} AS INTEGER)"
        cell_lon = f"CAST((m.lon + 180.0) / {CELL_DEG} AS INTEGER)"
    # query 0 ("all mentions") from the mention table alone, each matched query through
    # its MentionMatch rows.
    # (GROUP BY 0 would mean "the first column", so the constant is not grouped by.)
    sources = [
        ("0", "listening_mention m", ""),
        (
            "mm.query_id",
            "listening_mention m JOIN listening_mentionmatch mm ON mm.mention_id = m.id",
            "mm.query_id, ",
        ),
    ]
    out = []
    for query, source, by_query in sources:
        out.append(
            "INSERT INTO listening_mentionregionday "  # noqa: S608 (constant SQL)
            "(day, query_id, country, region, sentiment, count) "
            f"SELECT {day}, {query}, m.country, m.region, m.sentiment, COUNT(*) FROM {source} "
            f"WHERE m.country <> '' GROUP BY {day}, {by_query}m.country, m.region, m.sentiment"
        )
        out.append(
            "INSERT INTO listening_mentioncellday "  # noqa: S608 (constant SQL)
            "(day, query_id, cell_lat, cell_lon, country, sentiment, count, lat_sum, lon_sum) "
            f"SELECT {day}, {query}, {cell_lat}, {cell_lon}, m.country, m.sentiment, "
            f"COUNT(*), SUM(m.lat), SUM(m.lon) FROM {source} "
            "WHERE m.lat IS NOT NULL AND m.lon IS NOT NULL "
            f"GROUP BY {day}, {by_query}{cell_lat}, {cell_lon}, m.country, m.sentiment"
        )
    return out


def backfill(apps, schema_editor):
    with schema_editor.connection.cursor() as cursor:
        for sql in _sql(schema_editor.connection.vendor):
            cursor.execute(sql)  # no parameters: nothing to bind, nothing user-supplied


class Migration(migrations.Migration):
    dependencies = [("listening", "0004_rollup_day")]

    operations = [
        migrations.CreateModel(
            name="MentionCellDay",
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
                    models.Index(fields=["query_id", "day"], name="listening_cell_day_query")
                ],
                "constraints": [
                    models.UniqueConstraint(
                        fields=("day", "query_id", "cell_lat", "cell_lon", "country", "sentiment"),
                        name="listening_cell_day_key",
                    )
                ],
            },
        ),
        migrations.CreateModel(
            name="MentionRegionDay",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("day", models.DateTimeField()),
                ("query_id", models.BigIntegerField(default=0)),
                ("country", models.CharField(max_length=2)),
                ("region", models.CharField(blank=True, max_length=20)),
                ("sentiment", models.CharField(max_length=8)),
                ("count", models.PositiveBigIntegerField(default=0)),
            ],
            options={
                "indexes": [
                    models.Index(fields=["query_id", "day"], name="listening_region_day_query")
                ],
                "constraints": [
                    models.UniqueConstraint(
                        fields=("day", "query_id", "country", "region", "sentiment"),
                        name="listening_region_day_key",
                    )
                ],
            },
        ),
        migrations.RunPython(backfill, migrations.RunPython.noop),
    ]
