"""Trending terms and topics API (``/api/v1/listening/trending``, ``/listening/topics``).

Numbers come from ``trends.py``, which reads only the ``TermRollup`` and ``TopicCluster``
tables through their indexes; handlers check input and translate HTTP, in the style of
``api_insight.py`` (unknown parameters are a 422).
"""

from datetime import datetime, timedelta
from typing import Literal

from ninja import Field, Query, Router, Schema

from apiary.accounts.access import Perm, api_require
from apiary.core.schemas import StrictIn

from . import insight, trends
from .api_insight import _no_unknown

router = Router(tags=["listening insight"])


class TrendingQuery(StrictIn):
    query_id: int = Field(0, ge=0, description="0 = all mentions")
    start: datetime | None = None
    end: datetime | None = None
    baseline_days: int = Field(trends.BASELINE_DAYS, ge=1, le=trends.MAX_BASELINE_DAYS)
    limit: int = Field(20, ge=1, le=trends.LIMIT_MAX)
    kind: Literal["all", "word", "hashtag", "handle"] = "all"


class TermOut(Schema):
    term: str = Field(description="a surface form, to show and to search for")
    key: str = Field(description="the rollup key (folded stem, #tag or @handle)")
    kind: str
    count: int = Field(description="mentions using the term in the window")
    baseline_per_day: float
    expected: float = Field(description="baseline_per_day × the window's elapsed days")
    score: float = Field(description="ln((count + 5) / (expected + 5))")
    sample_mention_id: int | None


class TrendingOut(Schema):
    query_id: int
    start: datetime
    end: datetime
    baseline_start: datetime
    baseline_days: int
    kind: str
    terms: list[TermOut]


class SentimentCountsOut(Schema):
    positive: int
    neutral: int
    negative: int


class TopicOut(Schema):
    id: int
    label: str
    terms: list[str]
    size: int
    share: float | None = Field(description="size / mentions in the clustered sample")
    sentiment: SentimentCountsOut
    net_sentiment: float | None
    representative_mention_ids: list[int]
    is_new: bool = Field(description="its label terms were absent in the 14 days before")
    window_start: datetime
    window_end: datetime
    computed_at: datetime


class TopicsQuery(StrictIn):
    query_id: int = Field(0, ge=0, description="0 = all mentions")
    start: datetime | None = None
    end: datetime | None = None
    limit: int = Field(10, ge=1, le=trends.CLUSTER_LIMIT_MAX)


class TopicsOut(Schema):
    query_id: int
    start: datetime
    end: datetime
    topics: list[TopicOut]


def _window(start: datetime | None, end: datetime | None) -> insight.Window:
    # The insight endpoints' defaults and messages (last 30 days, no zone = UTC).
    return insight.window(start, end)


@router.get("/listening/trending", response=TrendingOut)
def trending(request, q: Query[TrendingQuery]):
    """Rising terms, hashtags and handles of the window against the `baseline_days` before it
    (whole UTC days), best first; only terms used more than their baseline predicts."""
    api_require(request, Perm.LISTENING_VIEW)
    _no_unknown(request, TrendingQuery)
    win = _window(q.start, q.end)
    if q.query_id:
        insight.query_get(q.query_id)
    days = trends.day_window(win.start, win.end)
    terms = trends.trending_terms(
        query_id=q.query_id,
        start=win.start,
        end=win.end,
        baseline_days=q.baseline_days,
        limit=q.limit,
        kind=q.kind,
    )
    return {
        "query_id": q.query_id,
        "start": days.start,
        "end": days.end,
        "baseline_start": days.start - timedelta(days=q.baseline_days),
        "baseline_days": q.baseline_days,
        "kind": q.kind,
        "terms": terms,
    }


@router.get("/listening/topics", response=TopicsOut)
def topics(request, q: Query[TopicsQuery]):
    """Clusters of similar mentions (multilingual) with a label, size, sentiment mix,
    representative mentions and whether the topic is new: the latest clustering run ending
    in the window."""
    api_require(request, Perm.LISTENING_VIEW)
    _no_unknown(request, TopicsQuery)
    win = _window(q.start, q.end)
    if q.query_id:
        insight.query_get(q.query_id)
    found = trends.topic_clusters(query_id=q.query_id, start=win.start, end=win.end, limit=q.limit)
    return {"query_id": q.query_id, "start": win.start, "end": win.end, "topics": found}
