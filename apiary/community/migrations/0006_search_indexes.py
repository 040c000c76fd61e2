"""Put back the raw search indexes of ``0002_search`` where a later migration dropped them.

Like the triggers (``0005_search_triggers``), indexes that are not in the Django models are lost
when Django rebuilds a SQLite table (``0004_topic_page`` rebuilt ``community_post``), and
without them a search by filters alone sorts every published post. ``IF NOT EXISTS`` makes this
a no-op where they survived (PostgreSQL, or databases created after a fix).
``test_search.test_the_index_triggers_survive_every_migration`` checks them after every
migration.
"""

from django.db import migrations

INDEXES = [
    "CREATE INDEX IF NOT EXISTS community_post_published ON community_post "
    "(state, published_at, id)",
    "CREATE INDEX IF NOT EXISTS community_post_space_published ON community_post "
    "(space_id, state, published_at, id)",
    "CREATE INDEX IF NOT EXISTS community_post_type_published ON community_post "
    "(type, state, published_at, id)",
]


def restore(apps, schema_editor):
    for sql in INDEXES:
        schema_editor.execute(sql, params=None)


class Migration(migrations.Migration):
    dependencies = [
        ("community", "0005_search_triggers"),
    ]

    operations = [migrations.RunPython(restore, migrations.RunPython.noop, elidable=False)]
