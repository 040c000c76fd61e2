"""Issue 5, trends: term rollups and topic clusters."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("listening", "0002_search")]

    operations = [
        migrations.CreateModel(
            name="TrendWatermark",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("name", models.CharField(max_length=40, unique=True)),
                ("last_mention_id", models.BigIntegerField(default=0)),
                ("updated_at", models.DateTimeField(auto_now=True)),
            ],
        ),
        migrations.CreateModel(
            name="TermRollup",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("day", models.DateField()),
                ("query_id", models.BigIntegerField(default=0)),
                ("term", models.CharField(max_length=100)),
                ("kind", models.CharField(max_length=8)),
                ("display", models.CharField(max_length=100)),
                ("count", models.PositiveBigIntegerField(default=0)),
                ("sample_mention_id", models.BigIntegerField(blank=True, null=True)),
            ],
            options={
                "indexes": [
                    models.Index(
                        fields=["query_id", "term", "day"], name="listening_termrollup_term"
                    )
                ],
                "constraints": [
                    models.UniqueConstraint(
                        fields=("query_id", "day", "term"), name="listening_termrollup_key"
                    )
                ],
            },
        ),
        migrations.CreateModel(
            name="TopicCluster",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("query_id", models.BigIntegerField(default=0)),
                ("window_start", models.DateTimeField()),
                ("window_end", models.DateTimeField()),
                ("computed_at", models.DateTimeField()),
                ("rank", models.PositiveIntegerField(default=0)),
                ("label", models.CharField(max_length=300)),
                ("terms", models.JSONField(blank=True, default=list)),
                ("size", models.PositiveIntegerField(default=0)),
                ("sample_size", models.PositiveIntegerField(default=0)),
                ("positive", models.PositiveIntegerField(default=0)),
                ("neutral", models.PositiveIntegerField(default=0)),
                ("negative", models.PositiveIntegerField(default=0)),
                ("mention_ids", models.JSONField(blank=True, default=list)),
                ("is_new", models.BooleanField(default=False)),
            ],
            options={
                "ordering": ["query_id", "-window_end", "rank"],
                "indexes": [
                    models.Index(
                        fields=["query_id", "window_end"], name="listening_topic_query_end"
                    )
                ],
            },
        ),
    ]
