"""Issue 7, community search on PostgreSQL: indexes that give the *newest* matches of a word
cheaply, so a search can stop once it has its ``SCAN_CAP`` newest (``search._pg_newest``).

Why: a word of middling frequency (1–5% of replies) had no bounded plan. Walking the primary
key newest first checks a few hundred thousand rows before it has its 3,000 newest matches;
the plain GIN index of ``0002_search`` returns a bitmap of *every* match, each fetched from the
heap before the newest can be picked (40–160 ms per side at 1M posts / 2.9M replies).

With ``btree_gin`` (PostgreSQL's contrib, a trusted extension: a database owner may create
it), a GIN index over ``(id / 16384, vector)``, an *id bucket* then the words, replaces that
index (GIN answers a query on ``vector`` alone from it as well): the search asks for the
matches in the newest few buckets only (GIN intersects the bucket's entries with the word's),
and only those are fetched. Without the extension the plain index stays and the search asks
for the rest at once, as before; ``search._pg_strategy`` finds out which is there. Installed
later: run this file's ``BUCKETS_UP`` and ``PLAIN_DROP`` by hand (docs/OPERATIONS.md).

The reply side table also keeps each reply's ``post_id`` and ``state`` (the trigger follows
changes of either), so the newest matching *published* replies come with their posts from the
same index query; the search no longer looks up thousands of replies by id in
``community_comment`` to learn their posts (8–23 ms at 2.9M replies).

Nothing on SQLite (FTS5 returns rowids newest first already).
"""

import importlib

from django.db import DatabaseError, migrations, transaction

# ``search.PG_BUCKET``: written out, so this migration stays as it ran whatever the code does
# later (``test_search_pg_spans`` checks the two agree).
PG_BUCKET = 16384

COMMENT_UPKEEP = (
    "CREATE OR REPLACE FUNCTION community_comment_search_upkeep() RETURNS trigger "
    "LANGUAGE plpgsql AS $$ DECLARE c regconfig; BEGIN "
    "IF TG_OP = 'DELETE' THEN "
    "DELETE FROM community_comment_search WHERE comment_id = OLD.id; RETURN OLD; END IF; "
    # Moderation changes the state only: the vector stays.
    "IF TG_OP = 'UPDATE' AND NEW.body IS NOT DISTINCT FROM OLD.body THEN "
    "UPDATE community_comment_search SET post_id = NEW.post_id, state = NEW.state "
    "WHERE comment_id = NEW.id; IF FOUND THEN RETURN NEW; END IF; END IF; "
    "SELECT community_search_cfg(p.language) INTO c FROM community_post p "
    "WHERE p.id = NEW.post_id; "
    "c := coalesce(c, 'simple'::regconfig); "
    "INSERT INTO community_comment_search (comment_id, post_id, state, cfg, vector) "
    "VALUES (NEW.id, NEW.post_id, NEW.state, c, to_tsvector(c, apiary_fts_text(NEW.body))) "
    "ON CONFLICT (comment_id) DO UPDATE SET post_id = EXCLUDED.post_id, "
    "state = EXCLUDED.state, cfg = EXCLUDED.cfg, vector = EXCLUDED.vector; "
    "RETURN NEW; END $$"
)
# A fresh fill of the reply side table (the benchmarks' bulk loads; the migration itself
# updates the rows in place).
COMMENT_FILL = (
    "INSERT INTO community_comment_search (comment_id, post_id, state, cfg, vector) "
    "SELECT c.id, c.post_id, c.state, community_search_cfg(p.language), "
    "to_tsvector(community_search_cfg(p.language), apiary_fts_text(c.body)) "
    "FROM community_comment c JOIN community_post p ON p.id = c.post_id"
)

PG_UP = [
    "ALTER TABLE community_comment_search ADD COLUMN post_id bigint, ADD COLUMN state varchar(16)",
    "UPDATE community_comment_search s SET post_id = c.post_id, state = c.state "
    "FROM community_comment c WHERE c.id = s.comment_id",
    COMMENT_UPKEEP,
    "DROP TRIGGER IF EXISTS community_comment_search_iu ON community_comment",
    "CREATE TRIGGER community_comment_search_iu AFTER INSERT OR UPDATE OF body, state, post_id "
    "ON community_comment FOR EACH ROW EXECUTE FUNCTION community_comment_search_upkeep()",
]
BUCKETS_UP = [
    "CREATE INDEX community_post_search_recent ON community_post_search "
    f"USING gin ((post_id / {PG_BUCKET}), vector)",
    "CREATE INDEX community_comment_search_recent ON community_comment_search "
    f"USING gin ((comment_id / {PG_BUCKET}), vector)",
]
PLAIN_DROP = [
    "DROP INDEX IF EXISTS community_post_search_fts",
    "DROP INDEX IF EXISTS community_comment_search_fts",
]
PG_DOWN = [
    "CREATE INDEX IF NOT EXISTS community_post_search_fts ON community_post_search "
    "USING gin (vector)",
    "CREATE INDEX IF NOT EXISTS community_comment_search_fts ON community_comment_search "
    "USING gin (vector)",
    "DROP INDEX IF EXISTS community_post_search_recent",
    "DROP INDEX IF EXISTS community_comment_search_recent",
    "DROP TRIGGER IF EXISTS community_comment_search_iu ON community_comment",
    "CREATE TRIGGER community_comment_search_iu AFTER INSERT OR UPDATE OF body "
    "ON community_comment FOR EACH ROW EXECUTE FUNCTION community_comment_search_upkeep()",
    # then 0002's function (below), which writes only the three columns left
    "ALTER TABLE community_comment_search DROP COLUMN post_id, DROP COLUMN state",
]


def _upkeep_0002() -> str:
    first = importlib.import_module("apiary.community.migrations.0002_search")
    return next(s for s in first.PG_UP if "community_comment_search_upkeep() RETURNS" in s)


def extension_create(schema_editor, name: str) -> bool:
    """``CREATE EXTENSION name`` when the server has it and lets this role create it (in a
    savepoint: a refusal must not abort the migration)."""
    with schema_editor.connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_available_extensions WHERE name = %s", [name])
        if cursor.fetchone() is None:
            return False
    try:
        with transaction.atomic(using=schema_editor.connection.alias):
            schema_editor.execute(f"CREATE EXTENSION IF NOT EXISTS {name}", params=None)
    except DatabaseError:
        return False
    return True


def newest_indexes_create(schema_editor) -> str:
    """The bucket indexes when btree_gin can be had (see above); returns the strategy."""
    if not extension_create(schema_editor, "btree_gin"):
        return "plain"
    for sql in [*BUCKETS_UP, *PLAIN_DROP]:
        schema_editor.execute(sql, params=None)
    return "buckets"


def _up(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        for sql in PG_UP:
            schema_editor.execute(sql, params=None)
        newest_indexes_create(schema_editor)


def _down(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        for sql in [*PG_DOWN, _upkeep_0002()]:
            schema_editor.execute(sql, params=None)


class Migration(migrations.Migration):
    dependencies = [("community", "0008_pinned_index")]

    operations = [migrations.RunPython(_up, _down, elidable=False)]
