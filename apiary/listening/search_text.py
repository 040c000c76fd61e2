"""The full-text rules moved to :mod:`apiary.core.search_text` when community search began to use
them too (one tokenisation and one query reader for every search in the product). Listening code,
its tests and migration ``0002_search`` keep importing them from here."""

from apiary.core.search_text import (  # noqa: F401 (re-exported)
    COMBINING,
    FOLD_FROM,
    FOLD_TO,
    MAX_QUERY_CHARS,
    MAX_TERMS,
    MIN_PREFIX,
    ParsedQuery,
    QuerySyntaxError,
    Term,
    fold,
    parse_query,
    tokens,
)
