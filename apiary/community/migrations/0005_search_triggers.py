"""Put back the SQLite full-text triggers of ``0002_search`` where a later migration dropped
them, and rebuild that index.

On SQLite, Django alters some columns by rebuilding the table (create a copy, move the rows, drop
the old table, rename), and dropping a table drops its triggers: ``0004_topic_page``'s
``render_version`` column did that to ``community_post``, after which new and edited posts
were no longer indexed. ``test_search.test_the_index_triggers_survive_every_migration`` now
fails if any later migration does it again (the fix is a migration like this one). PostgreSQL
alters tables in place and needs nothing.
"""

from django.db import migrations

TRIGGERS = {
    "community_post": (
        "community_post_fts",
        [
            (
                "community_post_fts_ai",
                "AFTER INSERT ON community_post BEGIN "
                "INSERT INTO community_post_fts(rowid, title, body) "
                "VALUES (new.id, new.title, new.body); END",
            ),
            (
                "community_post_fts_ad",
                "AFTER DELETE ON community_post BEGIN "
                "INSERT INTO community_post_fts(community_post_fts, rowid, title, body) "
                "VALUES ('delete', old.id, old.title, old.body); END",
            ),
            (
                "community_post_fts_au",
                "AFTER UPDATE OF title, body ON community_post BEGIN "
                "INSERT INTO community_post_fts(community_post_fts, rowid, title, body) "
                "VALUES ('delete', old.id, old.title, old.body); "
                "INSERT INTO community_post_fts(rowid, title, body) "
                "VALUES (new.id, new.title, new.body); END",
            ),
        ],
    ),
    "community_comment": (
        "community_comment_fts",
        [
            (
                "community_comment_fts_ai",
                "AFTER INSERT ON community_comment BEGIN "
                "INSERT INTO community_comment_fts(rowid, body) VALUES (new.id, new.body); END",
            ),
            (
                "community_comment_fts_ad",
                "AFTER DELETE ON community_comment BEGIN "
                "INSERT INTO community_comment_fts(community_comment_fts, rowid, body) "
                "VALUES ('delete', old.id, old.body); END",
            ),
            (
                "community_comment_fts_au",
                "AFTER UPDATE OF body ON community_comment BEGIN "
                "INSERT INTO community_comment_fts(community_comment_fts, rowid, body) "
                "VALUES ('delete', old.id, old.body); "
                "INSERT INTO community_comment_fts(rowid, body) VALUES (new.id, new.body); END",
            ),
        ],
    ),
}


def restore(apps, schema_editor):
    if schema_editor.connection.vendor != "sqlite":
        return
    with schema_editor.connection.cursor() as cur:
        cur.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'")
        present = {row[0] for row in cur.fetchall()}
    for _table, (fts, triggers) in TRIGGERS.items():
        missing = [(name, body) for name, body in triggers if name not in present]
        for name, body in missing:
            schema_editor.execute(f"CREATE TRIGGER {name} {body}", params=None)
        if missing:
            # Rows written while the triggers were gone are not in the index.
            schema_editor.execute(
                f"INSERT INTO {fts}({fts}) VALUES ('rebuild')",  # noqa: S608 (constants)
                params=None,
            )


class Migration(migrations.Migration):
    dependencies = [
        ("community", "0004_topic_page"),
    ]

    operations = [migrations.RunPython(restore, migrations.RunPython.noop, elidable=False)]
