"""Community search: full text over posts (title, body) and their comments, filters typed in the
box or given as parameters, facets by space, type and tag, relevance or newest first.

**Permission-aware in SQL.** Every row, count and facet comes from one window of posts filtered
by :func:`access.posts_visible` (and ``state = published``: drafts, pending, hidden and removed
posts are never search results, not even for their authors or moderators). A comment counts
only when it is published and its post is in that window. So a closed or secret space's words
find nothing, count nothing and name no space for an outsider, and a member who leaves stops
finding them at the next request (the membership cache is per request).

**Bounded, whatever the words.** (Sizes below; see docs/ARCHITECTURE.md "Community search".)

1. The words become the ids of their newest ``SCAN_CAP`` matching posts and ``SCAN_CAP``
   matching comments (on PostgreSQL published ones, with their posts): ids only (FTS5 returns
   rowids newest first, one query each; PostgreSQL walks the newest ids, then asks its GIN
   index for the newest id buckets only, ``_pg_newest``). Relevance
   (bm25 / ts_rank) is computed for the newest ``RANK_WINDOW`` of them only.
2. One query keeps the visible, published posts among those (and the posts of the published
   comments) that pass the filters: the newest ``WINDOW`` of them are *the results*. The ids
   are written into the SQL as integer literals (``in_ids``) and, on SQLite, the post table is
   read ``NOT INDEXED`` so the ids drive the query (``_id_driven_rows``). Without words the
   filters alone pick the newest ``WINDOW`` published posts through the
   ``community_post_*published`` indexes (a rare tag's ``(tag, post)`` ids drive instead).
3. Counts and facets are computed over the window (``WINDOW+``: "1000+"); the page is sorted
   and sliced from it (``offset`` < ``WINDOW``), then only the page's posts are loaded, with
   their space, author and tags (a fixed number of queries, whatever the page size).
"""

from __future__ import annotations

import re
import sys
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from time import monotonic
from urllib.parse import urlencode

from django.core.exceptions import EmptyResultSet
from django.db import DatabaseError, connection
from django.db.models import BooleanField, Count, Exists, OuterRef, Prefetch, Q
from django.db.models.expressions import RawSQL
from django.urls import reverse
from django.utils.dateparse import parse_datetime
from django.utils.safestring import SafeString
from django.utils.translation import gettext as _

from apiary.community import access
from apiary.community import search_text as st
from apiary.community.models import (
    Comment,
    CommentState,
    IdeaStatus,
    Post,
    PostState,
    PostTag,
    PostType,
    Profile,
    Space,
    Tag,
)
from apiary.community.selectors import comment_url
from apiary.core.db import local_settings, read_parallel
from apiary.core.search_text import MAX_QUERY_CHARS, ParsedQuery, QuerySyntaxError

SCAN_CAP = 3_000  # newest full-text matches read per index (posts; comments)
WINDOW = 1_000  # visible matches counted, faceted, sorted and paged
RANK_WINDOW = 1_000  # relevance computed for the newest 1k matches of each index
DEFAULT_LIMIT = 20
MAX_LIMIT = 50
FACET_SIZE = 12
COMMENT_WEIGHT = 0.5  # a post found through a reply ranks below one found by its own text
SORTS = ("relevance", "newest")
SORT_ALIASES = {"latest": "newest", "new": "newest", "relevance": "relevance", "newest": "newest"}
ANSWERED = ("answered", "solved")
UNANSWERED = ("unanswered", "unsolved")
PARAMS = ("q", "space", "tag", "type", "author", "status", "before", "after", "sort")
LIST_PARAMS = ("space", "tag", "type", "author")
PAGING = ("limit", "offset")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


class SearchError(Exception):
    """Bad search input; ``field`` names the parameter, the message says what to do."""

    def __init__(self, field: str, message: str, code: str = "invalid_query") -> None:
        super().__init__(message)
        self.field = field
        self.message = message
        self.code = code

    @property
    def errors(self) -> list[dict]:
        return [{"field": self.field, "message": self.message, "type": self.code}]


@dataclass
class SearchParams:
    """What a search asks for: the box as typed plus explicit filters (page links, API)."""

    q: str = ""
    words: ParsedQuery | None = None
    spaces: list[str] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)
    types: list[str] = field(default_factory=list)
    authors: list[str] = field(default_factory=list)
    status: str | None = None
    before: date | None = None
    after: date | None = None
    sort: str = "relevance"
    # The explicit (non-box) parameters, to rebuild links that keep them.
    explicit: dict = field(default_factory=dict)
    driving_ids: bool = False  # set by the search: a rare tag's post ids drive the window

    @property
    def has_filters(self) -> bool:
        return bool(
            self.spaces
            or self.tags
            or self.types
            or self.authors
            or self.status
            or self.before
            or self.after
        )

    @property
    def is_empty(self) -> bool:
        return self.words is None and not self.has_filters

    @property
    def effective_sort(self) -> str:
        return self.sort if self.words is not None else "newest"

    def as_query(self, **changes) -> dict:
        """GET parameters of this search; ``changes`` replace (None removes) a parameter."""
        data = {"q": self.q, **self.explicit}
        data.update(changes)
        return {k: v for k, v in data.items() if v not in (None, "", [], ())}

    def url(self, **changes) -> str:
        return "?" + urlencode(self.as_query(**changes), doseq=True)


def _clean_slug(value: str) -> str:
    return value.strip().lstrip("#@").lower()


def _type_value(value: str) -> str:
    v = value.strip().lower()
    if v not in PostType.values and v.endswith("s") and v[:-1] in PostType.values:
        v = v[:-1]
    if v not in PostType.values:
        raise SearchError(
            "type",
            _("Unknown type “%(value)s”; use one of: %(choices)s.")
            % {"value": value[:40], "choices": ", ".join(PostType.values)},
        )
    return v


def _status_value(value: str) -> str:
    v = value.strip().lower()
    valid = [*ANSWERED, *UNANSWERED, *IdeaStatus.values]
    if v not in valid:
        raise SearchError(
            "status",
            _("Unknown status “%(value)s”; use one of: %(choices)s.")
            % {"value": value[:40], "choices": ", ".join(valid)},
        )
    return v


def _sort_value(value: str) -> str:
    v = SORT_ALIASES.get(value.strip().lower())
    if v is None:
        raise SearchError(
            "sort", _("Sort by relevance or newest (got “%(value)s”).") % {"value": value[:40]}
        )
    return v


def _date_value(value: str, name: str) -> date:
    try:
        return st.parse_date(value.strip(), name)
    except QuerySyntaxError as exc:
        raise SearchError(name, str(exc)) from None


def params_build(
    *,
    q: str = "",
    space=(),
    tag=(),
    type=(),
    author=(),
    status: str | None = None,
    before: str | None = None,
    after: str | None = None,
    sort: str | None = None,
) -> SearchParams:
    """Validate a search: the box ``q`` (words and filters) and explicit parameters, combined
    with AND (several spaces, types or authors: any of them; several tags: all of them)."""
    # Control characters (a NUL byte would be refused by PostgreSQL) are no search text.
    q = _CONTROL.sub(" ", q or "")
    if len(q) > MAX_QUERY_CHARS:
        raise SearchError(
            "q", _("At most %(n)d characters in the search text.") % {"n": MAX_QUERY_CHARS}
        )
    try:
        text, box = st.split_filters(q)
        words = st.parse_words(text)
    except QuerySyntaxError as exc:
        raise SearchError("q", str(exc)) from None
    found = box.values
    explicit: dict = {}
    for name, value in (("space", space), ("tag", tag), ("type", type), ("author", author)):
        values = [v for v in ([value] if isinstance(value, str) else list(value)) if v]
        values = [_CONTROL.sub("", v) for v in values]
        if values:
            explicit[name] = values
            found.setdefault(name, []).extend(values)
    for name, value in (("status", status), ("before", before), ("after", after)):
        value = _CONTROL.sub("", value or "")
        if value:
            explicit[name] = value
            found.setdefault(name, []).append(value)
    if sort:
        explicit["sort"] = sort
        found.setdefault("sort", []).append(sort)
    for name in ("status", "before", "after", "sort"):
        if len(set(found.get(name, []))) > 1:
            raise SearchError(name, _("Give %(name)s once.") % {"name": name})
    params = SearchParams(
        q=q,
        words=words,
        spaces=list(dict.fromkeys(_clean_slug(v) for v in found.get("space", []))),
        tags=list(dict.fromkeys(_clean_slug(v) for v in found.get("tag", []))),
        types=list(dict.fromkeys(_type_value(v) for v in found.get("type", []))),
        authors=list(dict.fromkeys(_clean_slug(v) for v in found.get("author", []))),
        status=_status_value(found["status"][0]) if found.get("status") else None,
        before=_date_value(found["before"][0], "before") if found.get("before") else None,
        after=_date_value(found["after"][0], "after") if found.get("after") else None,
        sort=_sort_value(found["sort"][0]) if found.get("sort") else "relevance",
        explicit=explicit,
    )
    if params.before and params.after and params.after >= params.before:
        raise SearchError("before", _("before must be later than after."))
    if q.strip() and params.words is None and not params.has_filters:
        raise SearchError("q", _("The search text has no letters or digits to look for."))
    return params


def params_from_query(querydict) -> tuple[SearchParams, int, int]:
    """GET parameters (page and API alike): ``q``, the filters (list ones repeated or
    comma-separated), ``sort``, ``limit`` (1–50) and ``offset`` (below the window)."""
    unknown = sorted(set(querydict) - set(PARAMS) - set(PAGING))
    if unknown:
        raise SearchError(
            unknown[0],
            _("Unknown parameter(s): %(names)s.") % {"names": ", ".join(unknown)},
            "unknown_filter",
        )
    data: dict = {}
    for key in PARAMS:
        values = [v.strip() for v in querydict.getlist(key) if v.strip()]
        if key in LIST_PARAMS:
            data[key] = [p.strip() for v in values for p in v.split(",") if p.strip()]
        elif len(values) > 1:
            raise SearchError(key, _("Give %(name)s once.") % {"name": key})
        elif values:
            data[key] = values[0]
    limit = _int_param(querydict, "limit", DEFAULT_LIMIT, 1, MAX_LIMIT)
    offset = _int_param(querydict, "offset", 0, 0, WINDOW - 1)
    return params_build(**data), limit, offset


def _int_param(querydict, name: str, default: int, lo: int, hi: int) -> int:
    raw = (querydict.get(name) or "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SearchError(name, _("Must be a whole number.")) from None
    if not lo <= value <= hi:
        raise SearchError(
            name,
            _("%(name)s must be between %(lo)d and %(hi)d.") % {"name": name, "lo": lo, "hi": hi},
        )
    return value


# --- the full-text indexes (migration 0002_search) --------------------------------------------

# Each configuration's tsquery is parsed once per search (``PG_TOP_IDS``) and passed back as a
# constant: written as ``to_tsquery(cfg, text)`` in the filter, it was parsed and stemmed again
# for every row the primary-key walk checks (a third of the walk for a word of middling
# frequency at a million posts: 54 → 30 ms). Configurations whose analysis of the words is the
# same share one arm of the OR (``_pg_match``): English and Russian stem Latin words alike, and
# each arm is a GIN scan of its own (two arms alike cost a reply search 22 ms of 60).
PG_IDS = (
    "SELECT {id}{more} FROM {table} WHERE ({match}){where} AND {id} > %s AND {id} <= %s "
    "ORDER BY {id} DESC LIMIT %s"
)
PG_BUCKET_IDS = (
    "SELECT {id}{more} FROM {table} WHERE ({match}){where} "
    "AND ({id} / {bucket}) = ANY(%s::bigint[]) AND {id} <= %s ORDER BY {id} DESC LIMIT %s"
)


@dataclass(frozen=True)
class _PgSide:
    table: str
    id: str
    more: str = ""  # more columns after the id
    where: str = ""  # more conditions

    def sql(self, template: str, match: str) -> str:
        """``PG_IDS`` / ``PG_BUCKET_IDS`` for this side and these arms (``_pg_match``)."""
        return template.format(
            id=self.id,
            more=self.more,
            where=self.where,
            table=self.table,
            match=match,
            bucket=PG_BUCKET,
        )


PG_POSTS = _PgSide("community_post_search", "post_id")
# Published replies only, with their posts (the side table keeps both: migration 0009).
_PUBLISHED = f" AND state = '{CommentState.PUBLISHED}'"
PG_COMMENTS = _PgSide("community_comment_search", "comment_id", ", post_id", _PUBLISHED)
# How the newest SCAN_CAP matches are found (``_pg_newest``), measured at 1M posts / 2.9M
# replies (docs/ARCHITECTURE.md "Community search"):
# 1. Walk the primary key down from the newest id, checking each row, over PG_WALK ids (a
#    forced walk, ``SET LOCAL enable_bitmapscan = off``: the planner otherwise ANDed the id range
#    with a GIN bitmap of *every* match of a common word, 35–80 ms instead of 4–13). A common
#    word has its 3,000 here; a walk of 5,000 ids costs a rare one 2–3 ms. When the rate seen
#    says PG_WALK_MORE more ids hold the rest, walk them too (a word in a third of the posts:
#    a few ms, where any index would first collect its hundreds of thousands of matches).
# 2. The rest, by the index migration 0009 could build (``_pg_strategy``):
#    - ``buckets``: id buckets (``id / PG_BUCKET``, the leading column of a btree_gin index):
#      one query for as many buckets as the match rate says will hold the rest (at least twice
#      the previous step's), fetching only the matches in them. A word of middling frequency
#      in replies went from 40–160 ms per side (a walk of a few hundred thousand rows, or a
#      bitmap of all its matches) to 20–60 ms; the cost still grows with the ids covered (each
#      bucket is a GIN scan of its own, ~0.6 ms for two common words). When fetching every
#      match left (as many as the rate says) costs less than the buckets' scans (a sparse word),
#      or no match has turned up in the newest ~350,000 ids, the rest is asked for at once.
#    - ``plain`` (no btree_gin): the rest at once, from the plain GIN index.
#    Tried and not kept (docs/ARCHITECTURE.md): a RUM index ordered by id, one partial index
#    per configuration, 65,536-id buckets.
PG_WALK = 5_000
PG_WALK_MORE = 40_000
PG_BUCKET = 16_384  # = the index expression of migration 0009 (a test checks them)
PG_BUCKET_MARGIN = 1.3  # ask for 30% more ids than the match rate says hold the rest
PG_EMPTY_BUCKETS = 16  # no match among the newest 5,000 + 21 buckets of ids: all the rest at once
# Measured costs (1M posts / 2.9M replies, 2 shared cores): a bucket's GIN scan for two common
# words, and fetching one matching row from the heap (OS page cache).
PG_BUCKET_SCAN_MS = 0.6
PG_ROW_MS = 0.005
PG_IO_CONCURRENCY = "128"  # effective_io_concurrency of the bucket queries' bitmap heap scans
PG_STRATEGIES = ("buckets", "plain")
_PG_STRATEGY_CACHE: dict[str, str] = {}
PG_TOP_IDS = (
    "SELECT (SELECT max(post_id) FROM community_post_search), "  # noqa: S608 (constants)
    "(SELECT max(comment_id) FROM community_comment_search), "
    + ", ".join(f"to_tsquery('{c}'::regconfig, %s)::text" for c in st.PG_CONFIGS)
)
# Each row's configuration picks its query from those PG_TOP_IDS parsed (to_tsquery(cfg, text)
# per row cost 1–2.5 ms more for 1,000 rows; same ranks). Constants of this module only.
_PG_QUERY_BY_CFG = (
    "CASE cfg "
    + " ".join(f"WHEN '{c}'::regconfig THEN %s::tsquery" for c in st.PG_CONFIGS)
    + " END"
)
PG_POST_RANKS = (
    f"SELECT post_id, CAST(ts_rank(vector, {_PG_QUERY_BY_CFG}) AS double precision) "  # noqa: S608
    "FROM community_post_search WHERE post_id = ANY(%s)"
)
PG_COMMENT_RANKS = (
    f"SELECT comment_id, CAST(ts_rank(vector, {_PG_QUERY_BY_CFG}) AS double precision) "  # noqa: S608
    "FROM community_comment_search WHERE comment_id = ANY(%s)"
)
SQLITE_POST_IDS = (
    "SELECT rowid, {rank} FROM community_post_fts WHERE community_post_fts MATCH %s "
    "ORDER BY rowid DESC LIMIT %s"
)
SQLITE_POST_RANK = "-bm25(community_post_fts, 5.0, 1.0)"  # title counts 5× the body
SQLITE_COMMENT_IDS = (
    "SELECT rowid, {rank} FROM community_comment_fts WHERE community_comment_fts MATCH %s "
    "ORDER BY rowid DESC LIMIT %s"
)
SQLITE_COMMENT_RANK = "-bm25(community_comment_fts)"
SQLITE_VOCAB = "SELECT term, cnt FROM {table} WHERE term >= %s AND term < %s LIMIT {n}"


def _next_prefix(prefix: str) -> str:
    return prefix[:-1] + chr(ord(prefix[-1]) + 1)


# Stem expansions found in the vocabularies, per word, for EXPANSION_TTL seconds: reading
# fts5vocab walks the vocabulary's prefix range in both tables (~40 ms for a common stem at a
# million posts). The query word itself is always searched, so a cached list can only be late
# by that long to add a brand-new inflected form of it. 0 turns it off (tests: every test has
# its own vocabulary).
EXPANSION_TTL = 0 if "pytest" in sys.modules else 300
_EXPANSION_CACHE: dict[tuple[str, str], tuple[float, list[str]]] = {}
_EXPANSION_CACHE_MAX = 2_000


def _sqlite_expansions(words: ParsedQuery) -> dict[str, list[str]]:
    """Indexed words sharing a Snowball stem with each query word (posts' and comments'
    vocabularies), in one query for the words not in the cache."""
    now = monotonic()
    db = str(connection.settings_dict["NAME"])
    out: dict[str, list[str]] = {}
    wanted = []
    for word in st.expandable_words(words):
        hit = _EXPANSION_CACHE.get((db, word)) if EXPANSION_TTL else None
        if hit is not None and hit[0] > now:
            out[word] = hit[1]
        else:
            wanted.append(word)
    if not wanted:
        return out
    parts, params = [], []
    for i, word in enumerate(wanted):
        prefix = st.stem_prefix(word)
        for table in ("community_post_fts_vocab", "community_comment_fts_vocab"):
            parts.append(
                f"SELECT {i}, term, cnt FROM ("  # noqa: S608 (constants and an int)
                + SQLITE_VOCAB.format(table=table, n=st.VOCAB_SCAN)
                + ")"
            )
            params += [prefix, _next_prefix(prefix)]
    with connection.cursor() as cur:
        cur.execute(" UNION ALL ".join(parts), params)
        rows = cur.fetchall()
    found: dict[int, Counter] = {}
    for i, term, cnt in rows:
        found.setdefault(i, Counter())[term] += cnt
    if len(_EXPANSION_CACHE) > _EXPANSION_CACHE_MAX:
        _EXPANSION_CACHE.clear()
    for i, word in enumerate(wanted):
        terms = [t for t, _n in found.get(i, Counter()).most_common()]
        out[word] = st.choose_expansions(word, terms)
        if EXPANSION_TTL:
            _EXPANSION_CACHE[(db, word)] = (now + EXPANSION_TTL, out[word])
    return out


@dataclass
class _Matches:
    post_ids: list[int]
    comment_ids: list[int]
    post_ranks: dict[int, float]
    comment_ranks: dict[int, float]
    # PostgreSQL: the matching replies are published ones, with their posts (comment → post).
    comment_posts: dict[int, int] | None = None
    pg_queries: list[str] = field(default_factory=list)  # per configuration (PG_TOP_IDS)


def _text_matches(words: ParsedQuery, *, ranked: bool) -> _Matches:
    """The newest ``SCAN_CAP`` posts and comments matching the words (ids only: cheap). With
    ``ranked``, on SQLite also the relevance of the newest ``RANK_WINDOW`` of each, from a
    second scan (bm25 costs ~10 µs a row: for the whole scan it would dominate the search);
    PostgreSQL ranks the same newest posts from their vectors (``_pg_ranks``), and the replies
    later, those of the window only."""
    if connection.vendor == "postgresql":
        tsq = st.tsquery(words)
        with connection.cursor() as cur:
            cur.execute(PG_TOP_IDS, [tsq] * len(st.PG_CONFIGS))
            top_post, top_comment, *queries = cur.fetchone()

        def post_side() -> tuple[list[int], dict[int, float]]:
            ids = [row[0] for row in _pg_newest(PG_POSTS, top_post or 0, queries)]
            # Ranked here, while the replies' side (usually the longer) is still looking: the
            # newest RANK_WINDOW, those SQLite ranks too.
            return ids, _pg_ranks(PG_POST_RANKS, queries, ids[:RANK_WINDOW]) if ranked else {}

        # The two sides at once (read_parallel): each is a few queries waiting on the index.
        (post_ids, post_ranks), comments = read_parallel(
            post_side, lambda: _pg_newest(PG_COMMENTS, top_comment or 0, queries)
        )
        return _Matches(
            post_ids, [c for c, _p in comments], post_ranks, {}, dict(comments), queries
        )
    match = st.fts5_match(words, _sqlite_expansions(words))

    def side(sql: str, rank: str) -> tuple[list[int], dict[int, float]]:
        """The ids of the newest matches, and the ranks of the newest of them."""
        try:
            with connection.cursor() as cur:
                cur.execute(sql.format(rank="0"), [match, SCAN_CAP])
                found = [int(r[0]) for r in cur.fetchall()]
                ranks = {}
                if ranked and found:
                    cur.execute(sql.format(rank=rank), [match, RANK_WINDOW])
                    ranks = {int(i): float(r) for i, r in cur.fetchall()}
        except DatabaseError:  # pragma: no cover - the MATCH text is built from tokens only
            raise SearchError("q", _("This search text cannot be searched.")) from None
        return found, ranks

    # The two sides at once (read_parallel): bm25 counts each word's rows in the whole index,
    # 15–30 ms per side for a common word.
    (post_ids, post_ranks), (comment_ids, comment_ranks) = read_parallel(
        lambda: side(SQLITE_POST_IDS, SQLITE_POST_RANK),
        lambda: side(SQLITE_COMMENT_IDS, SQLITE_COMMENT_RANK),
    )
    return _Matches(post_ids, comment_ids, post_ranks, comment_ranks)


def _pg_match(queries: list[str]) -> tuple[str, list[str]]:
    """The OR of one ``cfg … AND vector @@ query`` arm per distinct query (``queries`` in
    ``st.PG_CONFIGS`` order), and its parameters; configurations whose query is empty (stop
    words only) match nothing and are left out."""
    arms: dict[str, list[str]] = {}
    for cfg, query in zip(st.PG_CONFIGS, queries, strict=True):
        if query:
            arms.setdefault(query, []).append(cfg)
    sql = " OR ".join(
        "(cfg IN ({}) AND vector @@ %s::tsquery)".format(
            ", ".join(f"'{c}'::regconfig" for c in cfgs)  # code constants
        )
        for cfgs in arms.values()
    )
    return sql, list(arms)


def _pg_strategy() -> str:
    """Which newest-matches index migration 0009 built on this database (``PG_STRATEGIES``);
    looked up once per process and database."""
    name = str(connection.settings_dict["NAME"])
    found = _PG_STRATEGY_CACHE.get(name)
    if found is None:
        with connection.cursor() as cur:
            cur.execute(
                "SELECT indexname FROM pg_indexes WHERE tablename = 'community_post_search'"
            )
            names = {row[0] for row in cur.fetchall()}
        found = "buckets" if "community_post_search_recent" in names else "plain"
        _PG_STRATEGY_CACHE[name] = found
    return found


def _pg_newest(
    side: _PgSide, top: int, queries: list[str], strategy: str | None = None
) -> list[tuple]:
    """The rows (id first) of the newest ``SCAN_CAP`` matches of ``side`` (``PG_POSTS`` /
    ``PG_COMMENTS``) for the per-configuration tsqueries ``queries`` (``st.PG_CONFIGS`` order;
    ``top``: the newest id), newest first: a walk down from the newest ids, then the rest by
    ``strategy`` (default: the database's, ``_pg_strategy``)."""
    match, params = _pg_match(queries)
    if not match or not top:
        return []
    strategy = strategy or _pg_strategy()
    walk_sql = side.sql(PG_IDS, match)

    def walk(floor: int, ceiling: int, wanted: int) -> list[tuple]:
        # Inside a caller's transaction the planner chooses (local_settings); same answer.
        with (
            local_settings(savepoint=False, enable_bitmapscan="off"),
            connection.cursor() as cur,
        ):
            cur.execute(walk_sql, [*params, floor, ceiling, wanted])
            return cur.fetchall()

    floor = max(0, top - PG_WALK)
    rows = walk(floor, top, SCAN_CAP)
    looked_at, ceiling = top - floor, floor  # ids at or below the ceiling are still to see
    rate, wanted = len(rows) / looked_at, SCAN_CAP - len(rows)
    if wanted and ceiling > 0 and rate and wanted / rate <= PG_WALK_MORE:
        floor = max(0, ceiling - int(wanted / rate * PG_BUCKET_MARGIN) - 100)
        rows += walk(floor, ceiling, wanted)
        looked_at, ceiling = looked_at + ceiling - floor, floor
        wanted = SCAN_CAP - len(rows)
    if not wanted or ceiling <= 0:
        return rows
    return rows + _pg_buckets(side, match, params, ceiling, looked_at, len(rows), strategy)


def _pg_buckets(
    side: _PgSide, match: str, params: list, ceiling: int, looked_at: int, had: int, strategy: str
) -> list[tuple]:
    """The newest ``SCAN_CAP - had`` matches at or below ``ceiling`` (``had`` found among the
    ``looked_at`` newer ids): bucket by bucket (``buckets``), or all of them at once (``plain``,
    or when few are left)."""
    walk_sql, bucket_sql = side.sql(PG_IDS, match), side.sql(PG_BUCKET_IDS, match)
    found: list[tuple] = []
    buckets = 0
    while had + len(found) < SCAN_CAP and ceiling > 0:
        wanted = SCAN_CAP - had - len(found)
        rate = (had + len(found)) / looked_at
        if strategy != "buckets":
            few_left = True
        elif rate:
            buckets = max(int(wanted / rate * PG_BUCKET_MARGIN) // PG_BUCKET + 1, 2 * buckets)
            # Cheaper to fetch every match left (as many as the rate says) than to scan the
            # buckets and fetch the wanted ones? (a sparse word: 8,000 left against 85 buckets)
            every = rate * ceiling * PG_ROW_MS
            some = buckets * PG_BUCKET_SCAN_MS + wanted * PG_BUCKET_MARGIN * PG_ROW_MS
            few_left = every <= some
        else:  # nothing yet: a rare word, or one that was common long ago
            buckets = max(1, 4 * buckets)
            few_left = buckets > PG_EMPTY_BUCKETS
        high = ceiling // PG_BUCKET
        low = max(0, high - buckets + 1)
        if few_left or low == 0:
            # Everything below the ceiling at once: GIN's bitmap of the word's matches there
            # (a scan per bucket would cost more when they are few, or all asked for anyway).
            sql, args, floor = walk_sql, [*params, 0, ceiling, wanted], 0
        else:
            sql, args = bucket_sql, [*params, list(range(low, high + 1)), ceiling, wanted]
            floor = low * PG_BUCKET - 1
        # A bitmap, never the planner's primary-key walk: the rate says the walk would be long.
        # Its heap pages are read PG_IO_CONCURRENCY at a time (PostgreSQL 15's default is one
        # by one): pages not in memory are scattered reads, and SSD/network storage serves
        # many at once (measured, cold cache: a first search 250–470 → 145–290 ms).
        with (
            local_settings(
                savepoint=False,
                enable_indexscan="off",
                effective_io_concurrency=PG_IO_CONCURRENCY,
            ),
            connection.cursor() as cur,
        ):
            cur.execute(sql, args)
            found += cur.fetchall()
        looked_at, ceiling = looked_at + ceiling - floor, floor
    return found


def _pg_ranks(sql: str, queries: list[str], ids: list[int]) -> dict[int, float]:
    """ts_rank of ``ids`` for the per-configuration tsqueries ``queries`` (``PG_TOP_IDS``)."""
    if not ids:
        return {}
    with connection.cursor() as cur:
        cur.execute(sql, [*queries, ids])
        return {int(i): float(r) for i, r in cur.fetchall()}


# --- filters ----------------------------------------------------------------------------------


def _impossible():
    return Q(pk__in=[])


def in_ids(column: str, ids) -> RawSQL:
    """``column`` is one of the ids, written into the SQL: ``IN (1, 2, …)`` as integer literals
    on SQLite, ``= ANY('{1,2,…}'::bigint[])`` (one array literal) on PostgreSQL. Django prepares
    one parameter per element of an ``__in`` list (tens of µs each): for the thousands of ids of
    a search window that cost more than the query itself. PostgreSQL parses and plans an
    ``IN`` list of 6,000 literals in ~15 ms, the array in ~1 ms (measured on the search
    window at a million posts: 24.6 → 10.4 ms for the whole query)."""
    ints = ",".join(map(str, map(int, ids)))
    # Safe: ``column`` is a constant of this module and every id went through int().
    if connection.vendor == "postgresql":
        sql = f"{column} = ANY('{{{ints}}}'::bigint[])"
    else:
        sql = f"{column} IN ({ints or 'NULL'})"
    return RawSQL(sql, (), output_field=BooleanField())  # noqa: S611


def _id_driven_rows(qs) -> list[tuple]:
    """Rows of a ``values_list`` query whose posts are given by an id list. On SQLite, which has
    no statistics, the planner prefers any index on an equality (``posts_visible``'s
    ``state = 'published' OR …`` becomes a MULTI-INDEX OR over every published post) to the
    list's rowid lookups, so the query runs with ``NOT INDEXED`` on the post table: rowid
    lookups stay allowed, index walks do not. Rows of three columns (no date) get ``None``
    for a fourth."""
    if connection.vendor != "sqlite":
        rows = list(qs)
    else:
        try:
            sql, params = qs.query.sql_with_params()
        except EmptyResultSet:  # a filter that can match nothing (a missing space or tag)
            return []
        head = f'FROM "{Post._meta.db_table}" '
        sql = sql.replace(head, head + "NOT INDEXED ", 1)
        with connection.cursor() as cur:
            cur.execute(sql, params)
            rows = cur.fetchall()
        if rows and len(rows[0]) == 4:
            # The raw cursor gives SQLite's text for datetimes (stored as UTC).
            return [(pk, sid, kind, _utc(published)) for pk, sid, kind, published in rows]
    return [(*row, None) for row in rows] if rows and len(rows[0]) == 3 else rows


def _utc(value):
    if value is not None and not isinstance(value, datetime):
        value = parse_datetime(value)
    return value.replace(tzinfo=UTC) if value is not None and value.tzinfo is None else value


# Not "state = published" for queries driven by an id list: SQLite (no statistics) would walk
# the (state, published_at, id) index over every published post and test each against the list.
# NOT IN uses no index, so the ids drive; with posts_visible's own state rule it is the same set.
_UNPUBLISHED = [s for s in PostState.values if s != PostState.PUBLISHED]


def _tag_driven_ids(tag_ids) -> list[int] | None:
    """Without words the window walks published posts newest first and checks the filters on
    each: quick for a common tag, a walk of the whole table for a rare one. So a tag on at most
    ``SCAN_CAP`` posts drives the query with its ``(tag, post)`` ids instead."""
    for tag_id in tag_ids:
        tagged = list(
            PostTag.objects.filter(tag_id=tag_id)
            .order_by("-post_id")
            .values_list("post_id", flat=True)[: SCAN_CAP + 1]
        )
        if len(tagged) <= SCAN_CAP:
            return tagged
    return None


def _filtered_posts(user, params: SearchParams):
    """Published posts the viewer may read, narrowed by the filters. Names the viewer may not
    know (a secret space, a missing tag or person) simply match nothing, exactly like names
    that do not exist."""
    tag_ids = {}
    if params.tags:
        tag_ids = dict(Tag.objects.filter(slug__in=params.tags).values_list("slug", "pk"))
    driving = None
    if params.words is None and tag_ids and len(tag_ids) == len(params.tags):
        driving = _tag_driven_ids(tag_ids.values())
    if params.words is None and driving is None:
        qs = Post.objects.filter(state=PostState.PUBLISHED)  # walks the *_published indexes
    else:
        qs = Post.objects.exclude(state__in=_UNPUBLISHED)  # an id list drives (see above)
        if driving is not None:
            params.driving_ids = True
            qs = qs.filter(in_ids('"community_post"."id"', driving))
    if params.spaces:
        visible = access.space_visible_queryset(user)
        # A space's sub-spaces are searched with it (a sub-space of a secret space is secret
        # itself, so the visibility filter covers both).
        ids = list(
            visible.filter(
                Q(slug__in=params.spaces) | Q(parent__slug__in=params.spaces)
            ).values_list("pk", flat=True)
        )
        qs = qs.filter(space_id__in=ids) if ids else qs.filter(_impossible())
    if params.types:
        qs = qs.filter(type__in=params.types)
    if params.status in ANSWERED or params.status in UNANSWERED:
        qs = qs.filter(type=PostType.QUESTION, accepted_comment__isnull=params.status in UNANSWERED)
    elif params.status:
        qs = qs.filter(type=PostType.IDEA, idea_status=params.status)
    if params.authors:
        ids = list(
            Profile.objects.filter(handle__in=params.authors).values_list("user_id", flat=True)
        )
        qs = qs.filter(author_id__in=ids) if ids else qs.filter(_impossible())
    if params.tags:
        if len(tag_ids) < len(params.tags):
            qs = qs.filter(_impossible())
        for tag_id in tag_ids.values():
            qs = qs.filter(Exists(PostTag.objects.filter(post=OuterRef("pk"), tag_id=tag_id)))
    if params.after:
        qs = qs.filter(published_at__gte=datetime.combine(params.after, time.min, tzinfo=UTC))
    if params.before:
        qs = qs.filter(published_at__lt=datetime.combine(params.before, time.min, tzinfo=UTC))
    return access.posts_visible(user, qs)


# --- the answer -------------------------------------------------------------------------------


@dataclass
class Facet:
    key: str  # space slug, post type or tag slug
    label: str
    count: int
    selected: bool = False


@dataclass
class Hit:
    post: Post
    title_html: SafeString
    snippet_html: SafeString
    tags: list[Tag]
    comment: Comment | None = None  # set when the post was found through this reply
    rank: float | None = None

    @property
    def url(self) -> str:
        """The post, or the page of its thread that shows the reply it was found through."""
        if self.comment is not None:
            return comment_url(self.post.pk, self.comment.pk)
        return reverse("community:post", args=[self.post.pk])


@dataclass
class SearchResult:
    params: SearchParams
    hits: list[Hit]
    count: int
    count_capped: bool  # more than WINDOW visible matches: count is "1000+"
    facets: dict[str, list[Facet]]
    limit: int
    offset: int
    sort: str

    @property
    def count_label(self) -> str:
        return f"{self.count}+" if self.count_capped else str(self.count)

    @property
    def next_offset(self) -> int | None:
        nxt = self.offset + self.limit
        return nxt if nxt < self.count and nxt < WINDOW else None

    @property
    def prev_offset(self) -> int | None:
        return max(0, self.offset - self.limit) if self.offset else None


def empty_result(params: SearchParams, *, limit: int = DEFAULT_LIMIT) -> SearchResult:
    return SearchResult(
        params, [], 0, False, {"space": [], "type": [], "tag": []}, limit, 0, "relevance"
    )


def search(
    *, user, params: SearchParams, limit: int = DEFAULT_LIMIT, offset: int = 0
) -> SearchResult:
    """Run a search for ``user``. An empty search (no words, no filter) finds nothing."""
    if params.is_empty:
        return empty_result(params, limit=limit)
    sort = params.effective_sort
    posts = _filtered_posts(user, params)
    words = params.words
    matches = None
    via_comment: dict[int, list[int]] = {}  # post id → matching published comment ids
    if words is not None:
        matches = _text_matches(words, ranked=sort == "relevance")
        if matches.comment_posts is not None:
            published = matches.comment_posts.items()
        else:
            published = Comment.objects.filter(
                in_ids('"community_comment"."id"', matches.comment_ids),
                state=CommentState.PUBLISHED,
            ).values_list("pk", "post_id")
        for cid, pid in published:
            via_comment.setdefault(pid, []).append(cid)
        candidates = set(matches.post_ids) | set(via_comment)
        # Relevance orders by rank and id: the dates of 1,000 rows would be read and parsed for
        # nothing (~4 ms), so they are left out (None) unless the order is by date.
        columns = ("pk", "space_id", "type") + (("published_at",) if sort == "newest" else ())
        window = _id_driven_rows(
            posts.filter(in_ids('"community_post"."id"', candidates))
            .order_by("-pk")
            .values_list(*columns)[: WINDOW + 1]
        )
    else:
        newest = posts.order_by("-published_at", "-pk").values_list(
            "pk", "space_id", "type", "published_at"
        )[: WINDOW + 1]
        window = _id_driven_rows(newest) if params.driving_ids else list(newest)
    capped = len(window) > WINDOW
    window = window[:WINDOW]
    ids = [row[0] for row in window]
    window_comments = [c for pid in ids for c in via_comment.get(pid, ())]
    if matches is not None and sort == "relevance" and connection.vendor == "postgresql":
        # The same replies SQLite ranks: the window's among the newest RANK_WINDOW matches;
        # ranked while the facets are counted (read_parallel). Posts came ranked.
        rankable = set(matches.comment_ids[:RANK_WINDOW])
        rank_comments = [c for c in window_comments if c in rankable]
        facets, matches.comment_ranks = read_parallel(
            lambda: _facets(params, window, ids),
            lambda: _pg_ranks(PG_COMMENT_RANKS, matches.pg_queries, rank_comments),
        )
    else:
        facets = _facets(params, window, ids)

    ranks: dict[int, float] = {}
    best_comment: dict[int, int] = {}
    if matches is not None:
        post_hits = set(matches.post_ids)
        for pid in ids:
            comments = via_comment.get(pid, [])
            if comments:
                best_comment[pid] = max(
                    comments, key=lambda c: (matches.comment_ranks.get(c, 0.0), c)
                )
            if sort == "relevance":
                own = matches.post_ranks.get(pid, 0.0) if pid in post_hits else 0.0
                reply = COMMENT_WEIGHT * max(
                    (matches.comment_ranks.get(c, 0.0) for c in comments), default=0.0
                )
                ranks[pid] = max(own, reply)
        # A post found by its own text shows its own snippet; the reply only otherwise.
        best_comment = {p: c for p, c in best_comment.items() if p not in post_hits}
    if sort == "relevance" and words is not None:
        order = sorted(window, key=lambda r: (ranks.get(r[0], 0.0), r[0]), reverse=True)
    else:
        epoch = datetime.min.replace(tzinfo=UTC)
        order = sorted(window, key=lambda r: (r[3] or epoch, r[0]), reverse=True)
    page_ids = [r[0] for r in order[offset : offset + limit]]
    hits = _hits(page_ids, params, ranks, best_comment)
    return SearchResult(
        params=params,
        hits=hits,
        count=len(window),
        count_capped=capped,
        facets=facets,
        limit=limit,
        offset=offset,
        sort=sort,
    )


def _facets(params: SearchParams, window: list[tuple], ids: list[int]) -> dict[str, list[Facet]]:
    """Counts by space, type and tag over the window: only posts the viewer may read."""
    by_space = Counter(row[1] for row in window)
    by_type = Counter(row[2] for row in window)
    spaces = {
        s["pk"]: s for s in Space.objects.filter(pk__in=list(by_space)).values("pk", "slug", "name")
    }
    type_labels = dict(PostType.choices)
    tag_rows = (
        PostTag.objects.filter(in_ids('"community_posttag"."post_id"', ids))
        .values("tag__slug", "tag__name")
        .annotate(n=Count("pk"))
        .order_by("-n", "tag__slug")[:FACET_SIZE]
        if ids
        else []
    )
    return {
        "space": [
            Facet(spaces[sid]["slug"], spaces[sid]["name"], n, spaces[sid]["slug"] in params.spaces)
            for sid, n in sorted(by_space.items(), key=lambda kv: (-kv[1], kv[0]))[:FACET_SIZE]
            if sid in spaces
        ],
        "type": [
            Facet(t, str(type_labels.get(t, t)), n, t in params.types)
            for t, n in sorted(by_type.items(), key=lambda kv: (-kv[1], kv[0]))
        ],
        "tag": [
            Facet(r["tag__slug"], r["tag__name"], r["n"], r["tag__slug"] in params.tags)
            for r in tag_rows
        ],
    }


def _hits(
    page_ids: list[int],
    params: SearchParams,
    ranks: dict[int, float],
    best_comment: dict[int, int],
) -> list[Hit]:
    """The page's posts (space, author, tags preloaded) with highlighted title and snippet."""
    if not page_ids:
        return []
    found = (
        Post.objects.filter(pk__in=page_ids)
        .select_related("space", "author")
        .prefetch_related(
            Prefetch(
                "post_tags",
                queryset=PostTag.objects.select_related("tag").order_by("tag__slug"),
            )
        )
        .in_bulk()
    )
    chosen = [best_comment[p] for p in page_ids if p in best_comment]
    comments = (
        Comment.objects.filter(pk__in=chosen).select_related("author").in_bulk() if chosen else {}
    )
    marker = st.Highlighter.for_query(params.words)
    hits = []
    for pid in page_ids:
        post = found.get(pid)
        if post is None:  # deleted between the two queries
            continue
        comment = comments.get(best_comment.get(pid))
        text = comment.body if comment is not None else post.body
        hits.append(
            Hit(
                post=post,
                title_html=marker.mark(post.title),
                snippet_html=marker.snippet(text or post.excerpt),
                tags=[pt.tag for pt in post.post_tags.all()],
                comment=comment,
                rank=ranks.get(pid),
            )
        )
    return hits
