"""Daily mention rollups (and a query-first index on the hourly ones), backfilled from the
hourly table so existing installations keep their history."""

from django.db import migrations, models


def backfill(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        day = "date_trunc('day', hour)"
        week = "date_trunc('week', hour)"
    else:
        # SQLite keeps datetimes as 'YYYY-MM-DD HH:MM:SS' text; days since a Monday
        # (2000-01-03), modulo 7, is the weekday with Monday = 0.
        since = "CAST(julianday(date(hour)) - julianday('2000-01-03') AS INTEGER)"
        day = "datetime(date(hour))"
        week = f"datetime(date(hour, '-' || ({since} - 7 * ({since} / 7)) || ' days'))"
    sql = (
        "INSERT INTO listening_mentionrollupday "  # noqa: S608 (constant SQL)
        "(day, week, query_id, platform, language, sentiment, country, count, reach) "
        f"SELECT {day}, {week}, query_id, platform, language, sentiment, country, "
        "SUM(count), SUM(reach) FROM listening_mentionrollup "
        f"GROUP BY {day}, {week}, query_id, platform, language, sentiment, country"
    )
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(sql)  # no parameters: nothing to bind, nothing user-supplied


class Migration(migrations.Migration):
    dependencies = [("listening", "0003_trends")]

    operations = [
        migrations.CreateModel(
            name="MentionRollupDay",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("day", models.DateTimeField()),
                ("week", models.DateTimeField()),
                ("query_id", models.BigIntegerField(default=0)),
                ("platform", models.CharField(max_length=20)),
                ("language", models.CharField(max_length=8)),
                ("sentiment", models.CharField(max_length=8)),
                ("country", models.CharField(blank=True, max_length=2)),
                ("count", models.PositiveBigIntegerField(default=0)),
                ("reach", models.PositiveBigIntegerField(default=0)),
            ],
            options={
                "indexes": [
                    models.Index(fields=["query_id", "day"], name="listening_rollup_day_query")
                ],
                "constraints": [
                    models.UniqueConstraint(
                        fields=(
                            "day",
                            "week",
                            "query_id",
                            "platform",
                            "language",
                            "sentiment",
                            "country",
                        ),
                        name="listening_rollup_day_key",
                    )
                ],
            },
        ),
        migrations.AddIndex(
            model_name="mentionrollup",
            index=models.Index(fields=["query_id", "hour"], name="listening_rollup_query"),
        ),
        migrations.RunPython(backfill, migrations.RunPython.noop),
    ]
