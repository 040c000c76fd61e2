"""Issue 7, community search: full-text indexes over posts (title, body) and comments (body), and
the indexes a search narrowed by filters only (no words) walks newest first.

The full-text DDL differs per database and runs in ``RunPython`` (checks the vendor); none of it
is in the Django models (only ``community/search.py``'s SQL reads it). Both are kept by database
triggers, so every way a row is written (services, the demo, bulk loads in benchmarks, the admin)
keeps the index right, and a post's visibility is never stored in it: it is decided at query time
by ``access.posts_visible``.

- **SQLite**: external-content FTS5 tables (``community_post_fts``, ``community_comment_fts``,
  the text stored once, in the content tables) with the same ``unicode61 remove_diacritics 2``
  tokenizer as listening, and ``fts5vocab`` tables over them: stemming happens at query time,
  where ``search_text`` expands a word into the indexed words with the same Snowball stem.
- **PostgreSQL**: side tables ``community_post_search`` / ``community_comment_search`` holding
  ``(id, cfg, vector)`` with a GIN index. ``cfg`` is the text-search configuration of the post's
  language (``english`` / ``russian`` / ``spanish``, ``simple`` otherwise), so the stored lexemes
  are stemmed in the post's own language; the text first goes through listening's
  ``apiary_fts_text()`` (same lower-casing, diacritic folding and token boundaries as FTS5). A
  side table and not a generated column on ``community_post``: a generated column is recomputed
  on *every* update of the row, and counters (views, comments, reactions) update posts all the
  time.
"""

from django.db import migrations

POST_SQLITE_UP = [
    "CREATE VIRTUAL TABLE community_post_fts USING fts5("
    "title, body, content='community_post', content_rowid='id', "
    "tokenize='unicode61 remove_diacritics 2')",
    "CREATE VIRTUAL TABLE community_post_fts_vocab USING fts5vocab(community_post_fts, 'row')",
    "CREATE TRIGGER community_post_fts_ai AFTER INSERT ON community_post BEGIN "
    "INSERT INTO community_post_fts(rowid, title, body) VALUES (new.id, new.title, new.body); END",
    "CREATE TRIGGER community_post_fts_ad AFTER DELETE ON community_post BEGIN "
    "INSERT INTO community_post_fts(community_post_fts, rowid, title, body) "
    "VALUES ('delete', old.id, old.title, old.body); END",
    "CREATE TRIGGER community_post_fts_au AFTER UPDATE OF title, body ON community_post BEGIN "
    "INSERT INTO community_post_fts(community_post_fts, rowid, title, body) "
    "VALUES ('delete', old.id, old.title, old.body); "
    "INSERT INTO community_post_fts(rowid, title, body) VALUES (new.id, new.title, new.body); END",
    "INSERT INTO community_post_fts(community_post_fts) VALUES ('rebuild')",
    "CREATE VIRTUAL TABLE community_comment_fts USING fts5("
    "body, content='community_comment', content_rowid='id', "
    "tokenize='unicode61 remove_diacritics 2')",
    "CREATE VIRTUAL TABLE community_comment_fts_vocab USING fts5vocab("
    "community_comment_fts, 'row')",
    "CREATE TRIGGER community_comment_fts_ai AFTER INSERT ON community_comment BEGIN "
    "INSERT INTO community_comment_fts(rowid, body) VALUES (new.id, new.body); END",
    "CREATE TRIGGER community_comment_fts_ad AFTER DELETE ON community_comment BEGIN "
    "INSERT INTO community_comment_fts(community_comment_fts, rowid, body) "
    "VALUES ('delete', old.id, old.body); END",
    "CREATE TRIGGER community_comment_fts_au AFTER UPDATE OF body ON community_comment BEGIN "
    "INSERT INTO community_comment_fts(community_comment_fts, rowid, body) "
    "VALUES ('delete', old.id, old.body); "
    "INSERT INTO community_comment_fts(rowid, body) VALUES (new.id, new.body); END",
    "INSERT INTO community_comment_fts(community_comment_fts) VALUES ('rebuild')",
]
SQLITE_DOWN = [
    "DROP TRIGGER IF EXISTS community_comment_fts_au",
    "DROP TRIGGER IF EXISTS community_comment_fts_ad",
    "DROP TRIGGER IF EXISTS community_comment_fts_ai",
    "DROP TABLE IF EXISTS community_comment_fts_vocab",
    "DROP TABLE IF EXISTS community_comment_fts",
    "DROP TRIGGER IF EXISTS community_post_fts_au",
    "DROP TRIGGER IF EXISTS community_post_fts_ad",
    "DROP TRIGGER IF EXISTS community_post_fts_ai",
    "DROP TABLE IF EXISTS community_post_fts_vocab",
    "DROP TABLE IF EXISTS community_post_fts",
]

PG_UP = [
    # A post's language → its text-search configuration ("en-GB" counts as "en").
    "CREATE OR REPLACE FUNCTION community_search_cfg(lang text) RETURNS regconfig "
    "LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$ "
    "SELECT CASE lower(split_part(coalesce(lang, ''), '-', 1)) "
    "WHEN 'en' THEN 'english'::regconfig WHEN 'ru' THEN 'russian'::regconfig "
    "WHEN 'es' THEN 'spanish'::regconfig ELSE 'simple'::regconfig END $$",
    "CREATE TABLE community_post_search ("
    "post_id bigint PRIMARY KEY, cfg regconfig NOT NULL, vector tsvector NOT NULL)",
    "CREATE INDEX community_post_search_fts ON community_post_search USING gin (vector)",
    # The title weighs more than the body in ts_rank (weight A vs B).
    "CREATE OR REPLACE FUNCTION community_post_search_upkeep() RETURNS trigger "
    "LANGUAGE plpgsql AS $$ DECLARE c regconfig; BEGIN "
    "IF TG_OP = 'DELETE' THEN "
    "DELETE FROM community_post_search WHERE post_id = OLD.id; RETURN OLD; END IF; "
    "c := community_search_cfg(NEW.language); "
    "INSERT INTO community_post_search (post_id, cfg, vector) VALUES (NEW.id, c, "
    "setweight(to_tsvector(c, apiary_fts_text(NEW.title)), 'A') || "
    "setweight(to_tsvector(c, apiary_fts_text(NEW.body)), 'B')) "
    "ON CONFLICT (post_id) DO UPDATE SET cfg = EXCLUDED.cfg, vector = EXCLUDED.vector; "
    "RETURN NEW; END $$",
    "CREATE TRIGGER community_post_search_iu AFTER INSERT OR UPDATE OF title, body, language "
    "ON community_post FOR EACH ROW EXECUTE FUNCTION community_post_search_upkeep()",
    "CREATE TRIGGER community_post_search_d AFTER DELETE ON community_post "
    "FOR EACH ROW EXECUTE FUNCTION community_post_search_upkeep()",
    # TRUNCATE (test database flushes) fires no row trigger.
    "CREATE OR REPLACE FUNCTION community_post_search_truncate() RETURNS trigger "
    "LANGUAGE plpgsql AS $$ BEGIN TRUNCATE community_post_search; RETURN NULL; END $$",
    "CREATE TRIGGER community_post_search_t AFTER TRUNCATE ON community_post "
    "FOR EACH STATEMENT EXECUTE FUNCTION community_post_search_truncate()",
    "INSERT INTO community_post_search (post_id, cfg, vector) "
    "SELECT id, community_search_cfg(language), "
    "setweight(to_tsvector(community_search_cfg(language), apiary_fts_text(title)), 'A') || "
    "setweight(to_tsvector(community_search_cfg(language), apiary_fts_text(body)), 'B') "
    "FROM community_post",
    # Comments are stemmed in their post's language.
    "CREATE TABLE community_comment_search ("
    "comment_id bigint PRIMARY KEY, cfg regconfig NOT NULL, vector tsvector NOT NULL)",
    "CREATE INDEX community_comment_search_fts ON community_comment_search USING gin (vector)",
    "CREATE OR REPLACE FUNCTION community_comment_search_upkeep() RETURNS trigger "
    "LANGUAGE plpgsql AS $$ DECLARE c regconfig; BEGIN "
    "IF TG_OP = 'DELETE' THEN "
    "DELETE FROM community_comment_search WHERE comment_id = OLD.id; RETURN OLD; END IF; "
    "SELECT community_search_cfg(p.language) INTO c FROM community_post p "
    "WHERE p.id = NEW.post_id; "
    "c := coalesce(c, 'simple'::regconfig); "
    "INSERT INTO community_comment_search (comment_id, cfg, vector) VALUES (NEW.id, c, "
    "to_tsvector(c, apiary_fts_text(NEW.body))) "
    "ON CONFLICT (comment_id) DO UPDATE SET cfg = EXCLUDED.cfg, vector = EXCLUDED.vector; "
    "RETURN NEW; END $$",
    "CREATE TRIGGER community_comment_search_iu AFTER INSERT OR UPDATE OF body "
    "ON community_comment FOR EACH ROW EXECUTE FUNCTION community_comment_search_upkeep()",
    "CREATE TRIGGER community_comment_search_d AFTER DELETE ON community_comment "
    "FOR EACH ROW EXECUTE FUNCTION community_comment_search_upkeep()",
    "CREATE OR REPLACE FUNCTION community_comment_search_truncate() RETURNS trigger "
    "LANGUAGE plpgsql AS $$ BEGIN TRUNCATE community_comment_search; RETURN NULL; END $$",
    "CREATE TRIGGER community_comment_search_t AFTER TRUNCATE ON community_comment "
    "FOR EACH STATEMENT EXECUTE FUNCTION community_comment_search_truncate()",
    "INSERT INTO community_comment_search (comment_id, cfg, vector) "
    "SELECT c.id, community_search_cfg(p.language), "
    "to_tsvector(community_search_cfg(p.language), apiary_fts_text(c.body)) "
    "FROM community_comment c JOIN community_post p ON p.id = c.post_id",
]
PG_DOWN = [
    "DROP TRIGGER IF EXISTS community_comment_search_t ON community_comment",
    "DROP TRIGGER IF EXISTS community_comment_search_d ON community_comment",
    "DROP TRIGGER IF EXISTS community_comment_search_iu ON community_comment",
    "DROP FUNCTION IF EXISTS community_comment_search_truncate()",
    "DROP FUNCTION IF EXISTS community_comment_search_upkeep()",
    "DROP TABLE IF EXISTS community_comment_search",
    "DROP TRIGGER IF EXISTS community_post_search_t ON community_post",
    "DROP TRIGGER IF EXISTS community_post_search_d ON community_post",
    "DROP TRIGGER IF EXISTS community_post_search_iu ON community_post",
    "DROP FUNCTION IF EXISTS community_post_search_truncate()",
    "DROP FUNCTION IF EXISTS community_post_search_upkeep()",
    "DROP TABLE IF EXISTS community_post_search",
    "DROP FUNCTION IF EXISTS community_search_cfg(text)",
]

# Filters without words (``in:space``, ``type:idea``, ``before:``/``after:``) walk published
# posts newest first; these let both databases stop after the window instead of sorting every
# post of a space or a type. (The author filter has ``(author, state, -published_at)`` already.)
INDEXES_UP = [
    "CREATE INDEX community_post_published ON community_post (state, published_at, id)",
    "CREATE INDEX community_post_space_published ON community_post "
    "(space_id, state, published_at, id)",
    "CREATE INDEX community_post_type_published ON community_post (type, state, published_at, id)",
]
INDEXES_DOWN = [
    "DROP INDEX IF EXISTS community_post_type_published",
    "DROP INDEX IF EXISTS community_post_space_published",
    "DROP INDEX IF EXISTS community_post_published",
]


def _run(schema_editor, statements):
    for sql in statements:
        schema_editor.execute(sql, params=None)


def search_up(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "sqlite":
        _run(schema_editor, POST_SQLITE_UP)
    elif vendor == "postgresql":
        _run(schema_editor, PG_UP)
    else:  # pragma: no cover
        raise RuntimeError(f"full-text search is not implemented for {vendor}")
    _run(schema_editor, INDEXES_UP)


def search_down(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    _run(schema_editor, INDEXES_DOWN)
    _run(schema_editor, SQLITE_DOWN if vendor == "sqlite" else PG_DOWN)


class Migration(migrations.Migration):
    dependencies = [
        ("community", "0001_initial"),
        # apiary_fts_text(): the fold-and-split function listening's full text uses.
        ("listening", "0002_search"),
    ]

    operations = [migrations.RunPython(search_up, search_down, elidable=False)]
