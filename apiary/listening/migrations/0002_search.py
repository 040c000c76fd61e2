"""Issue 5, search: full-text index (FTS5 / PostgreSQL tsvector), place and reach indexes, saved
searches, mention tags and relevance feedback.

The full-text DDL differs per database and runs in ``RunPython`` (checks the vendor): an FTS5
table with triggers on SQLite, a generated ``search_vector`` column with a GIN index on
PostgreSQL (not in the Django model: only search.py's SQL reads it). The fold table is a frozen
copy of ``search_text.FOLD_FROM``/``FOLD_TO`` (a test checks they agree).
"""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

FOLD_FROM = (
    "àáâãäåçèéêëìíîïñòóôõöùúûüýÿāăąćĉċčďēĕėęěĝğġģĥĩīĭįĵķĺļľńņňōŏőŕŗřśŝşšţťũūŭůűųŵŷźżž"
    "ſơưǎǐǒǔǖǘǚǜǟǧǩǫǭǰǵǹǻȁȃȅȇȉȋȍȏȑȓȕȗșțȟȧȩȫȭȯȱȳḁḃḅḇḉḋḍḏḑḓḕḗḙḛḝḟḡḣḥḧḩḫḭḯḱḳḵḷḹḻḽḿṁṃṅṇṉṋ"
    "ṍṏṑṓṕṗṙṛṝṟṡṣṥṧṩṫṭṯṱṳṵṷṹṻṽṿẁẃẅẇẉẋẍẏẑẓẕẖẗẘẙẛạảấầẩẫậắằẳẵặẹẻẽếềểễệỉịọỏốồổỗộớờởỡợụủứừ"
    "ửữựỳỵỷỹ"
)
FOLD_TO = (
    "aaaaaaceeeeiiiinooooouuuuyyaaaccccdeeeeegggghiiiijklllnnnooorrrssssttuuuuuuwyzzz"
    "souaiouuuuuagkoojgnaaaeeiioorruusthaeooooyabbbcdddddeeeeefghhhhhiikkkllllmmmnnnn"
    "oooopprrrrsssssttttuuuuuvvwwwwwxxyzzzhtwysaaaaaaaaaaaaeeeeeeeeiioooooooooooouuuu"
    "uuuyyyy"
)
COMBINING = "".join(chr(c) for c in range(0x300, 0x370))

SQLITE_UP = [
    # External content: the text is stored once (in listening_mention); FTS5 keeps only its index.
    "CREATE VIRTUAL TABLE listening_mention_fts USING fts5("
    "text, content='listening_mention', content_rowid='id', "
    "tokenize='unicode61 remove_diacritics 2')",
    "CREATE TRIGGER listening_mention_fts_ai AFTER INSERT ON listening_mention BEGIN "
    "INSERT INTO listening_mention_fts(rowid, text) VALUES (new.id, new.text); END",
    "CREATE TRIGGER listening_mention_fts_ad AFTER DELETE ON listening_mention BEGIN "
    "INSERT INTO listening_mention_fts(listening_mention_fts, rowid, text) "
    "VALUES ('delete', old.id, old.text); END",
    "CREATE TRIGGER listening_mention_fts_au AFTER UPDATE OF text ON listening_mention BEGIN "
    "INSERT INTO listening_mention_fts(listening_mention_fts, rowid, text) "
    "VALUES ('delete', old.id, old.text); "
    "INSERT INTO listening_mention_fts(rowid, text) VALUES (new.id, new.text); END",
    "INSERT INTO listening_mention_fts(listening_mention_fts) VALUES ('rebuild')",
    # Reach sort: followers DESC walks this backwards; SQLite sorts NULL lowest, so unknown
    # follower counts come last, as on PostgreSQL's DESC NULLS LAST.
    "CREATE INDEX listening_mention_reach ON listening_mention (author_followers, id)",
]
SQLITE_DOWN = [
    "DROP INDEX IF EXISTS listening_mention_reach",
    "DROP TRIGGER IF EXISTS listening_mention_fts_au",
    "DROP TRIGGER IF EXISTS listening_mention_fts_ad",
    "DROP TRIGGER IF EXISTS listening_mention_fts_ai",
    "DROP TABLE IF EXISTS listening_mention_fts",
]


# Characters the fold table changes (Latin-1 … Latin Extended Additional, combining marks):
# translate() compares every character with the whole table, so it only runs on text that has
# one of them (most mentions are plain ASCII or Cyrillic).
PG_FOLDABLE = "[\u00c0-\u024f\u1e00-\u1eff\u0300-\u036f]"


def _pg_up():
    fold_from = (FOLD_FROM + COMBINING).replace("'", "''")
    fold_to = FOLD_TO.replace("'", "''")
    return [
        # Same tokens as FTS5 unicode61: lower-case, the same diacritic folding, and anything
        # that is not a letter or digit becomes a space (so the parser cannot keep "a.com" or
        # "foo-bar" whole). IMMUTABLE so a generated column and an index can use it.
        "CREATE OR REPLACE FUNCTION apiary_fts_text(t text) RETURNS text "
        "LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$ "
        f"SELECT regexp_replace(CASE WHEN t ~ '{PG_FOLDABLE}' "
        f"THEN translate(lower(t), '{fold_from}', '{fold_to}') ELSE lower(t) END, "
        "'[^[:alnum:]]+', ' ', 'g') $$",
        # A stored column, not an expression index alone: a search that walks the primary key
        # newest first (a common word) or rechecks a phrase reads the vector instead of
        # re-tokenising every text (measured 5 s instead of milliseconds at 1M rows). The
        # ingest path names its columns, so it needs no change.
        "ALTER TABLE listening_mention ADD COLUMN search_vector tsvector "
        "GENERATED ALWAYS AS (to_tsvector('simple'::regconfig, apiary_fts_text(text))) STORED",
        "CREATE INDEX listening_mention_fts ON listening_mention USING gin (search_vector)",
        "CREATE INDEX listening_mention_reach ON listening_mention "
        "(author_followers DESC NULLS LAST, id DESC)",
    ]


PG_DOWN = [
    "DROP INDEX IF EXISTS listening_mention_reach",
    "DROP INDEX IF EXISTS listening_mention_fts",
    "ALTER TABLE listening_mention DROP COLUMN IF EXISTS search_vector",
    "DROP FUNCTION IF EXISTS apiary_fts_text(text)",
]


def _run(schema_editor, statements):
    for sql in statements:
        schema_editor.execute(sql, params=None)


def fulltext_up(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "sqlite":
        _run(schema_editor, SQLITE_UP)
    elif vendor == "postgresql":
        _run(schema_editor, _pg_up())
    else:  # pragma: no cover
        raise RuntimeError(f"full-text search is not implemented for {vendor}")


def fulltext_down(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    _run(schema_editor, SQLITE_DOWN if vendor == "sqlite" else PG_DOWN)


class Migration(migrations.Migration):
    dependencies = [
        ("listening", "0001_initial"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name="SavedSearch",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("name", models.CharField(max_length=120)),
                ("params", models.JSONField(blank=True, default=dict)),
                ("created_at", models.DateTimeField(auto_now_add=True)),
                ("updated_at", models.DateTimeField(auto_now=True)),
                (
                    "owner",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="saved_searches",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
            ],
            options={
                "ordering": ["name", "id"],
                "constraints": [
                    models.UniqueConstraint(
                        fields=("owner", "name"), name="listening_saved_search_name"
                    )
                ],
            },
        ),
        migrations.CreateModel(
            name="MentionTag",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("tag", models.CharField(max_length=50)),
                ("created_at", models.DateTimeField(auto_now_add=True)),
                (
                    "mention",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="tags",
                        to="listening.mention",
                    ),
                ),
                (
                    "user",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
            ],
            options={
                "constraints": [
                    models.UniqueConstraint(
                        fields=("mention", "tag"), name="listening_mention_tag_key"
                    )
                ],
                "indexes": [models.Index(fields=["tag", "mention"], name="listening_tag_mention")],
            },
        ),
        migrations.CreateModel(
            name="MentionIrrelevant",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("created_at", models.DateTimeField(auto_now_add=True)),
                (
                    "mention",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="irrelevant_marks",
                        to="listening.mention",
                    ),
                ),
                (
                    "query",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="irrelevant_marks",
                        to="listening.listeningquery",
                    ),
                ),
                (
                    "user",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
            ],
            options={
                "constraints": [
                    models.UniqueConstraint(
                        fields=("mention", "query"), name="listening_irrelevant_key"
                    )
                ],
                "indexes": [
                    models.Index(fields=["query", "mention"], name="listening_irrelevant_query")
                ],
            },
        ),
        migrations.AddIndex(
            model_name="mention",
            index=models.Index(fields=["country", "created_at"], name="listening_mention_country"),
        ),
        migrations.AddIndex(
            model_name="mention",
            index=models.Index(fields=["region", "created_at"], name="listening_mention_region"),
        ),
        migrations.AddIndex(
            model_name="mention",
            index=models.Index(fields=["city", "created_at"], name="listening_mention_city"),
        ),
        migrations.AddIndex(
            model_name="mention",
            index=models.Index(
                fields=["platform", "created_at"], name="listening_mention_platform"
            ),
        ),
        migrations.AddIndex(
            model_name="mention",
            index=models.Index(
                condition=models.Q(("lat__isnull", False)),
                fields=["lat", "lon"],
                name="listening_mention_latlon",
            ),
        ),
        migrations.AddIndex(
            model_name="mention",
            index=models.Index(
                condition=models.Q(("parent_external_id", ""), _negated=True),
                fields=["platform", "parent_external_id"],
                name="listening_mention_parent",
            ),
        ),
        migrations.RunPython(fulltext_up, fulltext_down, elidable=False),
    ]
