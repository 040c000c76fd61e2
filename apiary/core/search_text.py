"""Full-text search text rules, shared by SQLite FTS5 and PostgreSQL so both find the same rows.

Used by listening (mention search) and community (post search); ``apiary.listening.search_text``
re-exports these names for the code and migrations that import them from there.

One tokenisation on both backends:

* lower-case, drop combining marks, fold Latin diacritics (``café`` = ``cafe``, ``niño`` =
  ``nino``) with exactly the table SQLite's ``unicode61 remove_diacritics 2`` tokenizer applies
  (``FOLD_FROM``/``FOLD_TO`` were generated from FTS5 itself; PostgreSQL applies the same table
  with ``translate()`` in ``apiary_fts_text()``, see listening migration ``0002_search``).
  Cyrillic is not folded by FTS5, so ``ё`` and ``е`` stay different on both.
* a token is a run of letters and digits; everything else (punctuation, ``_``, ``#``, emoji)
  separates tokens. PostgreSQL's parser would keep ``northwind.com`` or ``foo-bar`` as one
  token, so its input is first turned into letters-and-spaces by the same rule.
* the ``simple`` configuration on PostgreSQL: no stemming and no stop words, because FTS5 has
  none either and the text mixes en/ru/es in one column (a language-specific stemmer would give
  a second, different result set).

User input is never handed to FTS5 or ``to_tsquery`` as syntax. ``parse_query`` reads words,
``"phrases"``, ``prefix*`` and ``-exclusions``; everything else (``NEAR``, ``AND``/``OR``/``NOT``,
parentheses, quotes inside words, ``'``) is plain text, and the MATCH / tsquery strings are built
from the resulting tokens only (tokens contain nothing but letters and digits).

Changing ``FOLD_FROM``/``FOLD_TO`` needs a new migration: the PostgreSQL index is built with them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from django.utils.translation import gettext as _

FOLD_FROM = (
    "àáâãäåçèéêëìíîïñòóôõöùúûüýÿāăąćĉċčďēĕėęěĝğġģĥĩīĭįĵķĺļľńņňōŏőŕŗřśŝşšţťũūŭůűųŵŷźżžſơưǎǐǒǔǖǘǚ"
    "ǜǟǧǩǫǭǰǵǹǻȁȃȅȇȉȋȍȏȑȓȕȗșțȟȧȩȫȭȯȱȳḁḃḅḇḉḋḍḏḑḓḕḗḙḛḝḟḡḣḥḧḩḫḭḯḱḳḵḷḹḻḽḿṁṃṅṇṉṋṍṏṑṓṕṗṙṛṝṟṡṣṥṧṩṫ"
    "ṭṯṱṳṵṷṹṻṽṿẁẃẅẇẉẋẍẏẑẓẕẖẗẘẙẛạảấầẩẫậắằẳẵặẹẻẽếềểễệỉịọỏốồổỗộớờởỡợụủứừửữựỳỵỷỹ"
)
FOLD_TO = (
    "aaaaaaceeeeiiiinooooouuuuyyaaaccccdeeeeegggghiiiijklllnnnooorrrssssttuuuuuuwyzzzsouaiouuuu"
    "uagkoojgnaaaeeiioorruusthaeooooyabbbcdddddeeeeefghhhhhiikkkllllmmmnnnnoooopprrrrsssssttttuu"
    "uuuvvwwwwwxxyzzzhtwysaaaaaaaaaaaaeeeeeeeeiioooooooooooouuuuuuuyyyy"
)
# Combining marks (U+0300–U+036F): FTS5 drops them, so text typed in decomposed form (NFD)
# matches its composed form. PostgreSQL deletes them with the same translate().
COMBINING = "".join(chr(c) for c in range(0x300, 0x370))
assert len(FOLD_FROM) == len(FOLD_TO)

_TABLE = str.maketrans(FOLD_FROM, FOLD_TO, COMBINING)
_TOKEN = re.compile(r"[^\W_]+")

MAX_QUERY_CHARS = 500
MAX_TERMS = 16
MIN_PREFIX = 2


class QuerySyntaxError(ValueError):
    """The search text cannot be read (e.g. an unclosed quote); the message says why."""


def fold(text: str) -> str:
    return text.lower().translate(_TABLE)


def tokens(text: str) -> list[str]:
    """The index's tokens of ``text`` (folded), in order."""
    return _TOKEN.findall(fold(text))


@dataclass(frozen=True)
class Term:
    """One thing to look for: a single token, or several in a row (a phrase)."""

    tokens: tuple[str, ...]
    prefix: bool = False  # last token is a prefix (``espres*``)


@dataclass
class ParsedQuery:
    include: list[Term] = field(default_factory=list)
    exclude: list[Term] = field(default_factory=list)

    def fts5(self) -> str:
        """An FTS5 MATCH expression: every term ANDed, then each exclusion NOTed."""
        parts = [_fts5_term(t) for t in self.include]
        expr = " AND ".join(parts)
        if len(parts) > 1 and self.exclude:
            expr = f"({expr})"
        for t in self.exclude:
            expr = f"{expr} NOT {_fts5_term(t)}"
        return expr

    def tsquery(self) -> str:
        """A ``to_tsquery('simple', …)`` string with the same meaning as ``fts5()``."""
        parts = [_ts_term(t) for t in self.include]
        parts += [f"!{_ts_term(t)}" for t in self.exclude]
        return " & ".join(parts)

    def words(self) -> list[str]:
        return [tok for t in self.include for tok in t.tokens]


def _fts5_term(term: Term) -> str:
    # Tokens are letters and digits only, so double quotes cannot be broken out of.
    body = '"' + " ".join(term.tokens) + '"'
    return body + " *" if term.prefix else body


def _ts_term(term: Term) -> str:
    words = [f"'{tok}'" for tok in term.tokens]
    if term.prefix:
        words[-1] += ":*"
    if len(words) == 1:
        return words[0]
    return "(" + " <-> ".join(words) + ")"


# A quoted phrase, or a bare chunk up to the next space or quote; a leading "-" excludes.
_CHUNK = re.compile(r'(-?)"([^"]*)"|(\S+)')


def parse_query(text: str) -> ParsedQuery:
    """Read the search box. Raises ``QuerySyntaxError`` for input that cannot mean anything."""
    if len(text) > MAX_QUERY_CHARS:
        raise QuerySyntaxError(
            _("At most %(n)d characters in the search text.") % {"n": MAX_QUERY_CHARS}
        )
    if text.count('"') % 2:
        raise QuerySyntaxError(_('A quote (") is not closed.'))
    parsed = ParsedQuery()
    for match in _CHUNK.finditer(text):
        negate, phrase, bare = match.group(1), match.group(2), match.group(3)
        prefix = False
        if bare is not None:
            negate = "-" if bare.startswith("-") and len(bare) > 1 else ""
            chunk = bare[1:] if negate else bare
            stripped = chunk.rstrip("*")
            toks = tokens(stripped)
            # "espres*" searches words starting with "espres"; "a*" would match half the table.
            prefix = stripped != chunk and len(toks) == 1 and len(toks[0]) >= MIN_PREFIX
        else:
            toks = tokens(phrase)
        if not toks:
            continue
        # AND/OR/NOT/NEAR are ordinary words here (FTS5 never sees them unquoted).
        # "foo-bar" or "o'neil" are several tokens in a row: a phrase, as the index stores it.
        term = Term(tuple(toks), prefix)
        (parsed.exclude if negate else parsed.include).append(term)
    if len(parsed.include) + len(parsed.exclude) > MAX_TERMS:
        raise QuerySyntaxError(_("At most %(n)d search terms.") % {"n": MAX_TERMS})
    if not parsed.include:
        if parsed.exclude:
            raise QuerySyntaxError(_("Give at least one word to look for, not only exclusions."))
        raise QuerySyntaxError(_("The search text has no letters or digits to look for."))
    return parsed
