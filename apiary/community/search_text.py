"""Community search text: the query box's filters, stemming, the database match strings and safe
highlighted snippets.

Words are read by :mod:`apiary.core.search_text` (the same reader as listening: words,
``"phrases"``, ``prefix*``, ``-exclusions``; everything else is plain text, so quotes, ``*``,
``NEAR``, ``'`` or emoji can never become database syntax). On top of that the box takes
Discourse-style filters (:func:`split_filters`).

**Stemming, the same meaning on both databases.** PostgreSQL stores each post's lexemes stemmed
in the post's language (``english``/``russian``/``spanish``, ``simple`` otherwise; migration
``0002_search``) and analyses the query once per configuration, each against the posts of that
configuration. SQLite's FTS5 has no Russian or Spanish stemmer, so the index holds the words as
written (folded) and the query is expanded instead: a word becomes every indexed word with the
same Snowball stem (PostgreSQL's stemmers are Snowball too), found in the ``fts5vocab`` table by
the stem's prefix. ``cafeterías`` then finds ``cafetería`` and ``кофейни`` finds ``кофейня`` on
both.

**Snippets are built from escaped text only**: every piece of the post is passed through
``escape`` and the only markup added is ``<mark>``, so a post's text can never inject HTML.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from functools import lru_cache

import snowballstemmer
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext as _

from apiary.core import search_text as core
from apiary.core.search_text import ParsedQuery, QuerySyntaxError, Term

# Stems shorter than this are not expanded by prefix (``go`` would pull in half the vocabulary).
MIN_STEM = 3
# At most this many indexed words per query word (SQLite expansion), most frequent first.
MAX_EXPANSION = 40
VOCAB_SCAN = 400
PG_CONFIGS = ("simple", "english", "russian", "spanish")

_STEMMERS = {
    lang: snowballstemmer.stemmer(lang).stemWord for lang in ("english", "russian", "spanish")
}
_CYRILLIC = re.compile(r"[\u0400-\u04ff]")


def _languages(word: str) -> tuple[str, ...]:
    # Cyrillic words only have Russian stems; Latin words may be English or Spanish.
    return ("russian",) if _CYRILLIC.search(word) else ("english", "spanish")


@lru_cache(maxsize=50_000)
def stems(word: str) -> frozenset[tuple[str, str]]:
    """``{(language, stem)}`` of a folded token, for the languages its script may be."""
    return frozenset((lang, _STEMMERS[lang](word)) for lang in _languages(word))


def same_stem(word: str, other: str) -> bool:
    return word == other or bool(stems(word) & stems(other))


def _common_prefix(a: str, b: str) -> str:
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return a[:n]


def stem_prefix(word: str) -> str:
    """The shortest prefix every indexed form with one of ``word``'s stems starts with (Snowball
    stems mostly cut a suffix; ``happy`` → ``happi`` shares ``happ``)."""
    prefix = word
    for _lang, stem in stems(word):
        prefix = _common_prefix(prefix, stem)
    return prefix


# --- the query box's filters ------------------------------------------------------------------

FILTER_KEYS = {
    "in": "space",
    "space": "space",
    "tag": "tag",
    "tags": "tag",
    "type": "type",
    "status": "status",
    "author": "author",
    "by": "author",
    "user": "author",
    "before": "before",
    "after": "after",
    "order": "sort",
    "sort": "sort",
}
_FILTER = re.compile(r"^([a-z]+):(\S+)$", re.IGNORECASE)
_SHORT = re.compile(r"^([#@])([\w][\w.\-]*)$")
_CHUNK = re.compile(r'-?"[^"]*"|\S+')


@dataclass
class BoxFilters:
    """Filters typed into the search box, as raw strings (``search.py`` validates them)."""

    values: dict[str, list[str]] = field(default_factory=dict)

    def add(self, name: str, value: str) -> None:
        self.values.setdefault(name, []).append(value)


def split_filters(text: str) -> tuple[str, BoxFilters]:
    """Take ``in:space``, ``tag:x`` / ``#x``, ``type:idea``, ``status:answered``, ``@handle`` /
    ``author:handle``, ``before:2026-01-31``, ``after:…`` and ``order:latest`` out of the box;
    the rest is the text to look for. A quoted phrase is never a filter, and an unknown
    ``word:word`` (``ratio 3:1``, ``http://…``) stays text."""
    if text.count('"') % 2:
        raise QuerySyntaxError(_('A quote (") is not closed.'))
    found = BoxFilters()
    rest: list[str] = []
    for match in _CHUNK.finditer(text):
        chunk = match.group(0)
        named = _FILTER.match(chunk)
        short = _SHORT.match(chunk)
        if named and named.group(1).lower() in FILTER_KEYS:
            found.add(FILTER_KEYS[named.group(1).lower()], named.group(2))
        elif short:
            found.add("tag" if short.group(1) == "#" else "author", short.group(2))
        else:
            rest.append(chunk)
    return " ".join(rest), found


def parse_words(text: str) -> ParsedQuery | None:
    """The words part of the box; None when it holds no letters or digits at all (emoji or
    punctuation only: ``search.py`` says so when there is no filter either). Raises
    ``QuerySyntaxError`` for text that cannot mean anything (only ``-exclusions``, too long)."""
    if not core.tokens(text):
        return None
    return core.parse_query(text)


def parse_date(value: str, field_name: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise QuerySyntaxError(
            _("%(name)s needs a date such as 2026-01-31.") % {"name": field_name}
        ) from None


# --- match strings ----------------------------------------------------------------------------


def _fts5_quote(tokens) -> str:
    # Tokens hold only letters and digits, so a double quote cannot be broken out of.
    return '"' + " ".join(tokens) + '"'


def fts5_match(parsed: ParsedQuery, expansions: dict[str, list[str]]) -> str:
    """An FTS5 MATCH expression: each term ANDed, a single word OR-ed with its indexed forms of
    the same stem (``expansions``), exclusions NOTed (with their forms too)."""

    def term(t: Term) -> str:
        if t.prefix:
            return _fts5_quote(t.tokens) + " *"
        if len(t.tokens) > 1:
            return _fts5_quote(t.tokens)
        word = t.tokens[0]
        forms = [word, *(f for f in expansions.get(word, ()) if f != word)]
        if len(forms) == 1:
            return _fts5_quote(forms)
        return "(" + " OR ".join(_fts5_quote([f]) for f in forms) + ")"

    expr = " AND ".join(term(t) for t in parsed.include)
    if len(parsed.include) > 1 and parsed.exclude:
        expr = f"({expr})"
    for t in parsed.exclude:
        expr = f"{expr} NOT {term(t)}"
    return expr


def expandable_words(parsed: ParsedQuery) -> list[str]:
    """Single words (not phrases, not prefixes) whose stems are worth expanding."""
    words = []
    for t in [*parsed.include, *parsed.exclude]:
        if not t.prefix and len(t.tokens) == 1 and len(stem_prefix(t.tokens[0])) >= MIN_STEM:
            words.append(t.tokens[0])
    return list(dict.fromkeys(words))


def choose_expansions(word: str, candidates: list[str]) -> list[str]:
    """Of the indexed words sharing ``word``'s stem prefix, those with one of its stems."""
    return [c for c in candidates if c != word and same_stem(word, c)][:MAX_EXPANSION]


def tsquery(parsed: ParsedQuery) -> str:
    """The ``to_tsquery(cfg, …)`` text; each configuration stems it in its own language."""
    return parsed.tsquery()


# --- highlighting -----------------------------------------------------------------------------

_TOKEN = re.compile(r"[^\W_]+")
_MD_IMAGE = re.compile(r"!\[([^\]]*)\]\([^)]*\)")
_MD_LINK = re.compile(r"\[([^\]]*)\]\([^)]*\)")
# Emphasis and code marks anywhere; heading, quote and list markers at the start of a line.
_MD_MARKS = re.compile(r"[*_`~|]+|^\s*(?:#{1,6}|>+|[-+])\s+", re.MULTILINE)
_SPACES = re.compile(r"\s+")


def plain(markdown_text: str) -> str:
    """Markdown source as readable plain text for snippets (links keep their words)."""
    text = _MD_IMAGE.sub(r"\1", markdown_text or "")
    text = _MD_LINK.sub(r"\1", text)
    text = _MD_MARKS.sub(" ", text)
    return _SPACES.sub(" ", text).strip()


@dataclass(frozen=True)
class Highlighter:
    words: frozenset[str]
    prefixes: tuple[str, ...]
    # token → hit? A page's snippets repeat their words; stems are compared once per token.
    _seen: dict[str, bool] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def for_query(cls, parsed: ParsedQuery | None) -> Highlighter:
        if parsed is None:
            return cls(frozenset(), ())
        words, prefixes = set(), []
        for t in parsed.include:
            if t.prefix:
                words.update(t.tokens[:-1])
                prefixes.append(t.tokens[-1])
            else:
                words.update(t.tokens)
        return cls(frozenset(words), tuple(prefixes))

    def hits(self, token: str) -> bool:
        found = self._seen.get(token)
        if found is None:
            folded = core.fold(token)
            found = (
                folded in self.words
                or any(folded.startswith(p) for p in self.prefixes)
                or any(same_stem(folded, w) for w in self.words if w[:2] == folded[:2])
            )
            self._seen[token] = found
        return found

    def mark(self, text: str) -> SafeString:
        """``text`` escaped, with the query's words (any form of the same stem) in ``<mark>``."""
        out, pos = [], 0
        for m in _TOKEN.finditer(text):
            if self.hits(m.group(0)):
                out.append(escape(text[pos : m.start()]))
                out.append("<mark>" + escape(m.group(0)) + "</mark>")
                pos = m.end()
        out.append(escape(text[pos:]))
        return mark_safe("".join(out))  # noqa: S308 (every piece above is escaped)

    def snippet(self, text: str, width: int = 240) -> SafeString:
        """About ``width`` characters of ``text`` around its first hit (its start if none)."""
        text = plain(text)
        if len(text) <= width:
            return self.mark(text)
        first = next((m.start() for m in _TOKEN.finditer(text) if self.hits(m.group(0))), 0)
        start = max(0, first - width // 3)
        if start:
            space = text.find(" ", start)
            start = space + 1 if 0 <= space < first else start
        end = min(len(text), start + width)
        if end < len(text):
            space = text.rfind(" ", start, end)
            end = space if space > first else end
        piece = self.mark(text[start:end])
        lead = "… " if start else ""
        tail = " …" if end < len(text) else ""
        return mark_safe(escape(lead) + piece + escape(tail))  # noqa: S308
