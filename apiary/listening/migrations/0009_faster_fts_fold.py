"""PostgreSQL: the same ``apiary_fts_text()`` result, computed about four times faster.

``translate()`` compares every character of its input with every character of its table, and
the fold table has about 400 (Latin-1 … Latin Extended Additional, plus the combining marks
it deletes). Storing a mention paid ~80 µs for that on each accented text — in a profile of
``benchmarks/ingest.py`` the generated ``search_vector`` column was 95 % of the cost of the
mention INSERT and the largest single item of PostgreSQL's CPU. Spanish, French or German
text almost always needs only the 28 Latin-1 letters of the table, so the function now
applies the Latin-1 part alone when the lower-cased text holds nothing from the rest
(U+0100–U+024F, U+1E00–U+1EFF, U+0300–U+036F). Since ``translate`` maps character by
character, that is the same result by construction, and
``tests/test_search_fold_pg.py`` checks it against the 0002 body on every table character.

Dropping ``STRICT`` lets the planner inline the SQL body (a NULL still gives NULL: every
branch is NULL on NULL input). Stored vectors need no rebuild: the output is unchanged.
Community search (its 0002) calls the same function.
"""

import importlib

from django.db import migrations

# The fold table as 0002 froze it (not the live ``search_text`` copy: a migration must keep
# meaning what it meant when it ran).
_0002 = importlib.import_module("apiary.listening.migrations.0002_search")
FOLD_FROM, FOLD_TO, COMBINING = _0002.FOLD_FROM, _0002.FOLD_TO, _0002.COMBINING
PG_FOLDABLE = _0002.PG_FOLDABLE  # text worth folding at all
BEYOND_LATIN1 = "[\u0100-\u024f\u1e00-\u1eff\u0300-\u036f]"  # needs the whole table


def _lit(s: str) -> str:
    return "'" + s.replace("'", "''") + "'"


def _latin1() -> tuple[str, str]:
    pairs = [(f, t) for f, t in zip(FOLD_FROM, FOLD_TO, strict=True) if ord(f) <= 0xFF]
    return "".join(f for f, _t in pairs), "".join(t for _f, t in pairs)


def function_sql() -> str:
    l1_from, l1_to = _latin1()
    return (
        "CREATE OR REPLACE FUNCTION apiary_fts_text(t text) RETURNS text "
        "LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$ "
        f"SELECT regexp_replace(CASE WHEN t !~ '{PG_FOLDABLE}' THEN lower(t) "
        f"WHEN lower(t) ~ '{BEYOND_LATIN1}' "
        f"THEN translate(lower(t), {_lit(FOLD_FROM + COMBINING)}, {_lit(FOLD_TO)}) "
        f"ELSE translate(lower(t), {_lit(l1_from)}, {_lit(l1_to)}) END, "
        "'[^[:alnum:]]+', ' ', 'g') $$"
    )


def function_sql_0002() -> str:
    """The body this migration replaces (for ``backwards`` and the equivalence test)."""
    return _0002._pg_up()[0]


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(function_sql(), params=None)


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(function_sql_0002(), params=None)


class Migration(migrations.Migration):
    dependencies = [("listening", "0008_outbox_queue_storage")]

    operations = [migrations.RunPython(forwards, backwards, elidable=False)]
