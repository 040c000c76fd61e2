"""``apiary_fts_text()`` after migration 0009 gives exactly what the 0002 body gave.

The stored ``search_vector`` columns (mentions, community posts and comments) were built by the
old body and are not rebuilt, so any difference would make a stored text unfindable. The old
body is installed as a temporary function and both are compared on every character of the
fold table, in both cases, alone and mixed with Latin-1 accents, with combining marks,
Cyrillic and characters that only become foldable when lower-cased."""

from __future__ import annotations

import importlib

import pytest
from django.db import connection

from apiary.core.search_text import COMBINING, FOLD_FROM

fold = importlib.import_module("apiary.listening.migrations.0009_faster_fts_fold")

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(connection.vendor != "postgresql", reason="a PostgreSQL function"),
]


def _samples() -> list[str]:
    out = ["", "plain ascii Northwind.com foo-bar", "Привет, ёжик и йогурт", "ÅNGSTRÖM Å"]
    for ch in FOLD_FROM:
        out += [ch, ch.upper(), f"Café {ch} niño", f"x{ch.upper()}y ÁÉÍ", f"{ch}\u0301"]
    out += [f"e{m}" for m in COMBINING] + [f"ñ{m}" for m in COMBINING]
    out += ["Sevilla ESPAÑA 😀 ¡qué rico!", "Ærø ŒUVRE ß ẞ İstanbul", "Ǆemal ǅ ǆ", "\u212a Kelvin"]
    return out


def test_new_body_equals_the_old_one_on_every_fold_character():
    old = fold.function_sql_0002().replace(
        "FUNCTION apiary_fts_text(", "FUNCTION pg_temp.apiary_fts_text_0002("
    )
    samples = _samples()
    with connection.cursor() as cursor:
        cursor.execute(old)
        cursor.execute(
            "SELECT s, apiary_fts_text(s), pg_temp.apiary_fts_text_0002(s) "
            "FROM unnest(%s::text[]) AS s",
            [samples],
        )
        rows = cursor.fetchall()
        cursor.execute("SELECT apiary_fts_text(NULL) IS NULL")
        null_stays_null = cursor.fetchone()[0]
    assert len(rows) == len(samples) > 1000
    assert [r for r in rows if r[1] != r[2]] == []
    assert null_stays_null
    # The fast branch did run (and folded): a Latin-1-only text.
    assert {r[0]: r[1] for r in rows}["Sevilla ESPAÑA 😀 ¡qué rico!"] == (
        "sevilla espana que rico "
    )


def test_installed_function_is_the_0009_body():
    with connection.cursor() as cursor:
        cursor.execute("SELECT prosrc, proisstrict FROM pg_proc WHERE proname = 'apiary_fts_text'")
        src, strict = cursor.fetchone()
    assert "translate(lower(t), 'àáâãäåçèéêëìíîïñòóôõöùúûüýÿ'" in src
    assert strict is False
