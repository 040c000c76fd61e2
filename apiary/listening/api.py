"""Listening API: the mentions webhook (per-source token), mentions, sources, queries and
stream status. Handlers only translate HTTP; writes go through ``services``."""

import json
from datetime import datetime
from typing import Any, Literal

from django.utils.translation import gettext as _
from ninja import Field, Query, Router, Schema, Status

from apiary.accounts.access import Perm, api_require
from apiary.core.errors import ApiError
from apiary.core.schemas import StrictIn

from . import search, selectors
from .models import ListeningQuery, Mention, SavedSearch, Source
from .services import ingest
from .services import queries as query_services
from .services import search as search_services
from .services import sources as source_services
from .stream.base import StreamUnavailable

router = Router(tags=["listening"])


# --- Webhook --------------------------------------------------------------------------------


class ItemResultOut(Schema):
    index: int
    status: Literal["accepted", "duplicate", "rejected"]
    platform: str | None = None
    external_id: str | None = None
    reasons: list[str] | None = None


class WebhookOut(Schema):
    accepted: int
    duplicates: int
    rejected: int
    results: list[ItemResultOut]


def _source_token(request) -> str:
    header = request.headers.get("Authorization", "")
    if header.lower().startswith("bearer "):
        return header[7:].strip()
    return request.headers.get("X-Apiary-Source-Token", "").strip()


def _items(body: bytes) -> list[Any]:
    # surrogateescape: invalid UTF-8 inside one item's string is rejected with that item alone
    # (raw_mention_validate sees the lone surrogates), instead of failing the whole batch.
    try:
        data = json.loads(body.decode("utf-8", errors="surrogateescape"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise ApiError(
            400, "malformed_body", _("The request body is not valid JSON. (%s)") % exc
        ) from None
    if isinstance(data, dict) and "mentions" in data:
        unknown = set(data) - {"mentions"}
        if unknown:
            raise ApiError(
                400, "malformed_body", _("Unknown top-level keys: %s") % ", ".join(sorted(unknown))
            )
        data = data["mentions"]
    if isinstance(data, dict):
        data = [data]
    if not isinstance(data, list):
        raise ApiError(
            400, "malformed_body", _('Send a mention object, a list, or {"mentions": [...]}.')
        )
    if not data:
        raise ApiError(400, "empty_batch", _("The batch holds no mentions."))
    if len(data) > ingest.MAX_BATCH:
        raise ApiError(
            413,
            "batch_too_large",
            _("At most %(max)d mentions per request (got %(n)d).")
            % {"max": ingest.MAX_BATCH, "n": len(data)},
        )
    return data


@router.post("/mentions", auth=None, response={200: WebhookOut, 207: WebhookOut})
def mentions_webhook(request):
    """Push mentions with a webhook source's token (`Authorization: Bearer src_…`).

    Answers one result per item: `accepted` (durably queued for enrichment), `duplicate`
    (already stored, queued, or repeated in this batch) or `rejected` with reasons. 200 when
    nothing was rejected, 207 when some items were."""
    source = source_services.source_by_token(_source_token(request))
    if source is None:
        raise ApiError(401, "invalid_source_token", _("A valid source token is required."))
    if source.status != "active":
        raise ApiError(409, "source_paused", _("This source is paused; resume it to send."))
    items = _items(request.body)
    try:
        results = ingest.mentions_receive(source=source, items=items)
    except StreamUnavailable as exc:
        # Nothing was acknowledged: the sender keeps the batch and retries, nothing is lost.
        raise ApiError(
            503,
            "stream_unavailable",
            _("The ingestion stream is unavailable; retry later. (%s)") % exc,
        ) from None
    counts = {"accepted": 0, "duplicate": 0, "rejected": 0}
    for r in results:
        counts[r.status] += 1
    body = {
        "accepted": counts["accepted"],
        "duplicates": counts["duplicate"],
        "rejected": counts["rejected"],
        "results": [r.as_dict() for r in results],
    }
    return Status(207 if counts["rejected"] else 200, body)


# --- Mentions ------------------------------------------------------------------------------


class MentionOut(Schema):
    id: int
    platform: str
    external_id: str
    source_id: int | None
    text: str
    url: str
    created_at: datetime
    received_at: datetime
    stored_at: datetime
    author_handle: str
    author_name: str
    author_url: str
    author_followers: int | None
    author_location: str
    parent_external_id: str
    quote_external_id: str
    language: str
    language_confidence: float
    sentiment: str
    sentiment_score: float
    intent: str
    intent_cues: list[str]
    query_ids: list[int]
    lat: float | None
    lon: float | None
    country: str
    region: str
    region_name: str
    city: str
    place_confidence: float | None
    place_source: str
    customer_id: int | None
    rank: float | None = Field(None, description="relevance (sort=relevance only)")


def _search_params_doc() -> list[dict]:
    """OpenAPI entries for the search parameters (parsed by ``search.params_from_query``)."""
    out = []
    for name, info in search.SearchParams.model_fields.items():
        many = name in search.LIST_FIELDS
        schema: dict = (
            {"type": "array", "items": {"type": "string"}} if many else {"type": "string"}
        )
        out.append(
            {
                "in": "query",
                "name": name,
                "required": False,
                "schema": schema,
                "description": (info.description or "")
                + (" (repeat or comma-separate for any of)" if many else ""),
            }
        )
    out.append({"in": "query", "name": "cursor", "required": False, "schema": {"type": "string"}})
    out.append(
        {
            "in": "query",
            "name": "limit",
            "required": False,
            "schema": {"type": "integer", "minimum": 1, "maximum": search.MAX_LIMIT},
        }
    )
    return out


def _search_error(exc: search.SearchParamsError) -> ApiError:
    return ApiError(422, exc.code, str(exc), errors=exc.errors)


def _require_customer_view(request, params: search.SearchParams) -> None:
    if params.reads_customer_data:
        api_require(request, Perm.CUSTOMERS_VIEW)


class MentionSearchOut(Schema):
    items: list[MentionOut]
    count: int = Field(description=f"matches, at most {search.COUNT_CAP}")
    count_capped: bool = Field(description="count is a lower bound (show it as 1000+)")
    text_window_full: bool = Field(
        description=f"full text: more than the newest {search.FTS_WINDOW} matches exist; "
        "older ones are not searched (narrow the text or the dates)"
    )
    limit: int
    sort: str
    next_cursor: str | None = Field(description="pass as cursor for the next page; null at the end")


@router.get(
    "/mentions",
    response=MentionSearchOut,
    openapi_extra={"parameters": _search_params_doc()},
)
def mention_list(request):
    """Search stored mentions: full text, query/kind, enrichment, dates, customer/segment,
    influence, place (country, region, city, radius, box), tags. Sorted by `time` (newest
    first), `reach` or `relevance`; keyset pages (`next_cursor`)."""
    api_require(request, Perm.LISTENING_VIEW)
    try:
        params, paging = search.params_from_query(request.GET)
        _require_customer_view(request, params)
        page = search.search_page(params, cursor=paging.cursor, limit=paging.limit)
    except search.SearchParamsError as exc:
        raise _search_error(exc) from None
    return {
        "items": page.items,
        "count": page.count,
        "count_capped": page.count_capped,
        "text_window_full": page.text_window_full,
        "limit": page.limit,
        "sort": page.sort,
        "next_cursor": page.next_cursor,
    }


class MentionBriefOut(Schema):
    id: int
    platform: str
    external_id: str
    text: str
    created_at: datetime
    author_handle: str
    author_name: str
    language: str
    sentiment: str


class ThreadOut(Schema):
    parent: MentionBriefOut | None
    replies: list[MentionBriefOut]


class MatchedQueryOut(Schema):
    id: int
    name: str
    kind: str
    irrelevant: bool


class MentionDetailOut(MentionOut):
    sentiment_confidence: float
    matched_queries: list[MatchedQueryOut]
    tags: list[str]
    thread: ThreadOut
    similar: list[MentionBriefOut]


def _mention(mention_id: int) -> Mention:
    mention = Mention.objects.filter(pk=mention_id).first() if 0 < mention_id < 2**63 else None
    if mention is None:
        raise ApiError(404, "not_found", _("No such mention."))
    return mention


@router.get("/mentions/{mention_id}", response=MentionDetailOut)
def mention_detail(request, mention_id: int):
    """One mention with its enrichment, matched queries, tags, thread and similar mentions."""
    api_require(request, Perm.LISTENING_VIEW)
    mention = _mention(mention_id)
    return {
        **{f: getattr(mention, f) for f in MentionOut.model_fields if f != "rank"},
        "sentiment_confidence": mention.sentiment_confidence,
        "matched_queries": search.mention_queries(mention),
        "tags": search.mention_tags(mention),
        "thread": search.mention_thread(mention),
        "similar": search.mention_similar(mention),
    }


class TagIn(StrictIn):
    tag: str = Field(..., max_length=50)


class TagsOut(Schema):
    mention_id: int
    tags: list[str]


@router.post("/mentions/{mention_id}/tags", response={201: TagsOut})
def mention_tag_add(request, mention_id: int, payload: TagIn):
    user = api_require(request, Perm.LISTENING_VIEW)
    mention = _mention(mention_id)
    search_services.mention_tag_add(mention=mention, tag=payload.tag, actor=user)
    return Status(201, {"mention_id": mention.pk, "tags": search.mention_tags(mention)})


@router.delete("/mentions/{mention_id}/tags", response=TagsOut)
def mention_tag_remove(request, mention_id: int, tag: str | None = None):
    """Remove a tag: `?tag=…` or a JSON body `{"tag": "…"}`."""
    api_require(request, Perm.LISTENING_VIEW)
    mention = _mention(mention_id)
    if tag is None and request.body:
        try:
            tag = TagIn.model_validate(json.loads(request.body)).tag
        except (ValueError, TypeError):
            raise ApiError(422, "validation_error", _('Send {"tag": "…"} or ?tag=…')) from None
    if not tag:
        raise ApiError(422, "validation_error", _("tag: This field is required."))
    if not search_services.mention_tag_remove(mention=mention, tag=tag):
        raise ApiError(404, "not_found", _("This mention has no such tag."))
    return {"mention_id": mention.pk, "tags": search.mention_tags(mention)}


class IrrelevantIn(StrictIn):
    query_id: int = Field(..., ge=1, le=2**53)


class IrrelevantOut(Schema):
    mention_id: int
    query_id: int
    created_at: datetime


@router.post("/mentions/{mention_id}/irrelevant", response={201: IrrelevantOut})
def mention_irrelevant(request, mention_id: int, payload: IrrelevantIn):
    """Mark a mention irrelevant to one of the queries that matched it: it leaves that
    query's search results, and the queries page counts it."""
    user = api_require(request, Perm.LISTENING_VIEW)
    mention = _mention(mention_id)
    mark = search_services.mention_mark_irrelevant(
        mention=mention, query=_query(payload.query_id), actor=user
    )
    return Status(
        201, {"mention_id": mention.pk, "query_id": mark.query_id, "created_at": mark.created_at}
    )


@router.delete("/mentions/{mention_id}/irrelevant", response={204: None})
def mention_irrelevant_undo(request, mention_id: int, query_id: int = Query(..., ge=1)):
    api_require(request, Perm.LISTENING_VIEW)
    mention = _mention(mention_id)
    search_services.mention_unmark_irrelevant(mention=mention, query=_query(query_id))
    return Status(204, None)


# --- Saved searches ------------------------------------------------------------------------


class SavedSearchOut(Schema):
    id: int
    name: str
    params: dict
    query_string: str = Field(description="the params as a URL query (for /listening/?…)")
    created_at: datetime
    updated_at: datetime


class SavedSearchIn(StrictIn):
    name: str = Field(..., max_length=120)
    params: dict = Field(default_factory=dict)


def _saved_out(saved: SavedSearch) -> dict:
    return {
        "id": saved.pk,
        "name": saved.name,
        "params": saved.params,
        "query_string": search.params_validate(saved.params).urlencode(),
        "created_at": saved.created_at,
        "updated_at": saved.updated_at,
    }


@router.get("/listening/saved-searches", response=list[SavedSearchOut])
def saved_search_list(request):
    """Your saved searches (each user sees only their own)."""
    user = api_require(request, Perm.LISTENING_VIEW)
    return [_saved_out(s) for s in SavedSearch.objects.filter(owner=user)]


@router.post("/listening/saved-searches", response={201: SavedSearchOut})
def saved_search_create(request, payload: SavedSearchIn):
    """Save a search under a name (the same name again overwrites it). `params` are the
    search parameters of GET /mentions (without cursor/limit), validated the same way."""
    user = api_require(request, Perm.LISTENING_VIEW)
    saved = search_services.saved_search_create(
        owner=user, name=payload.name, params=payload.params
    )
    return Status(201, _saved_out(saved))


@router.delete("/listening/saved-searches/{saved_id}", response={204: None})
def saved_search_delete(request, saved_id: int):
    user = api_require(request, Perm.LISTENING_VIEW)
    saved = SavedSearch.objects.filter(pk=saved_id, owner=user).first() if saved_id > 0 else None
    if saved is None:
        raise ApiError(404, "not_found", _("No such saved search."))
    search_services.saved_search_delete(saved=saved, actor=user)
    return Status(204, None)


# --- Sources -------------------------------------------------------------------------------


class SourceOut(Schema):
    id: int
    name: str
    kind: str
    status: str
    health: str
    config: dict
    cursor: dict
    token_prefix: str
    last_event_at: datetime | None
    events_per_minute: float
    lag_seconds: float | None
    last_error: str
    last_error_at: datetime | None
    error_count: int
    received_count: int
    rejected_count: int
    created_at: datetime


class SourceCreatedOut(SourceOut):
    token: str | None = Field(None, description="webhook sources only; shown once")


class SourceIn(StrictIn):
    name: str = Field(..., max_length=200)
    kind: Literal["webhook", "rss", "mastodon", "bluesky", "replay"]
    config: dict = Field(default_factory=dict)


class SourcePatch(StrictIn):
    name: str | None = Field(None, max_length=200)
    config: dict | None = None


def _secret_free(config: dict) -> dict:
    return {k: ("***" if "token" in k or "secret" in k else v) for k, v in (config or {}).items()}


def _source_out(source: Source, rates: dict[int, float] | None = None) -> dict:
    rates = rates if rates is not None else selectors.source_events_per_minute([source.pk])
    return {
        "id": source.pk,
        "name": source.name,
        "kind": source.kind,
        "status": source.status,
        "health": selectors.source_health(source),
        "config": _secret_free(source.config),
        "cursor": {k: v for k, v in (source.cursor or {}).items() if k not in ("seen", "recent")},
        "token_prefix": source.token_prefix,
        "last_event_at": source.last_event_at,
        "events_per_minute": rates.get(source.pk, 0.0),
        "lag_seconds": source.lag_seconds,
        "last_error": source.last_error,
        "last_error_at": source.last_error_at,
        "error_count": source.error_count,
        "received_count": source.received_count,
        "rejected_count": source.rejected_count,
        "created_at": source.created_at,
    }


def _source(source_id: int) -> Source:
    source = selectors.source_get(source_id)
    if source is None:
        raise ApiError(404, "not_found", _("No such source."))
    return source


@router.get("/listening/sources", response=list[SourceOut])
def source_list(request):
    api_require(request, Perm.LISTENING_VIEW)
    sources = list(selectors.source_list())
    rates = selectors.source_events_per_minute([s.pk for s in sources])
    return [_source_out(s, rates) for s in sources]


@router.post("/listening/sources", response={201: SourceCreatedOut})
def source_create(request, payload: SourceIn):
    user = api_require(request, Perm.LISTENING_MANAGE)
    source, token = source_services.source_create(
        name=payload.name, kind=payload.kind, config=payload.config, actor=user
    )
    return Status(201, {**_source_out(source), "token": token})


@router.get("/listening/sources/{source_id}", response=SourceOut)
def source_detail(request, source_id: int):
    api_require(request, Perm.LISTENING_VIEW)
    return _source_out(_source(source_id))


@router.patch("/listening/sources/{source_id}", response=SourceOut)
def source_update(request, source_id: int, payload: SourcePatch):
    user = api_require(request, Perm.LISTENING_MANAGE)
    data = payload.model_dump(exclude_unset=True)
    source = source_services.source_update(source=_source(source_id), actor=user, **data)
    return _source_out(source)


@router.post("/listening/sources/{source_id}/pause", response=SourceOut)
def source_pause(request, source_id: int):
    user = api_require(request, Perm.LISTENING_MANAGE)
    return _source_out(
        source_services.source_status_set(source=_source(source_id), status="paused", actor=user)
    )


@router.post("/listening/sources/{source_id}/resume", response=SourceOut)
def source_resume(request, source_id: int):
    user = api_require(request, Perm.LISTENING_MANAGE)
    return _source_out(
        source_services.source_status_set(source=_source(source_id), status="active", actor=user)
    )


class TokenOut(Schema):
    token: str


@router.post("/listening/sources/{source_id}/token", response=TokenOut)
def source_token(request, source_id: int):
    user = api_require(request, Perm.LISTENING_MANAGE)
    return {"token": source_services.source_token_rotate(source=_source(source_id), actor=user)}


@router.delete("/listening/sources/{source_id}", response={204: None})
def source_delete(request, source_id: int):
    user = api_require(request, Perm.LISTENING_MANAGE)
    source_services.source_delete(source=_source(source_id), actor=user)
    return Status(204, None)


# --- Queries -------------------------------------------------------------------------------


class QueryOut(Schema):
    id: int
    name: str
    kind: str
    text: str
    active: bool
    created_at: datetime
    updated_at: datetime


class QueryIn(StrictIn):
    name: str = Field(..., max_length=120)
    kind: Literal["brand", "competitor", "topic"]
    text: str = Field(..., max_length=4000)


class QueryPatch(StrictIn):
    name: str | None = Field(None, max_length=120)
    kind: Literal["brand", "competitor", "topic"] | None = None
    text: str | None = Field(None, max_length=4000)
    active: bool | None = None


def _query(query_id: int) -> ListeningQuery:
    query = ListeningQuery.objects.filter(pk=query_id).first()
    if query is None:
        raise ApiError(404, "not_found", _("No such query."))
    return query


@router.get("/listening/queries", response=list[QueryOut])
def query_list(request, kind: Literal["brand", "competitor", "topic"] | None = None):
    api_require(request, Perm.LISTENING_VIEW)
    return list(selectors.query_list(kind=kind))


@router.post("/listening/queries", response={201: QueryOut})
def query_create(request, payload: QueryIn):
    user = api_require(request, Perm.LISTENING_MANAGE)
    return Status(201, query_services.query_create(actor=user, **payload.model_dump()))


@router.patch("/listening/queries/{query_id}", response=QueryOut)
def query_update(request, query_id: int, payload: QueryPatch):
    user = api_require(request, Perm.LISTENING_MANAGE)
    return query_services.query_update(
        query=_query(query_id), actor=user, **payload.model_dump(exclude_unset=True)
    )


@router.delete("/listening/queries/{query_id}", response={204: None})
def query_delete(request, query_id: int):
    user = api_require(request, Perm.LISTENING_MANAGE)
    query_services.query_delete(query=_query(query_id), actor=user)
    return Status(204, None)


# --- Classifier and stream -----------------------------------------------------------------


class ClassifyIn(StrictIn):
    texts: list[str] = Field(..., min_length=1, max_length=1000)
    languages: list[str | None] | None = None


class ClassifyOut(Schema):
    language: str
    language_confidence: float
    sentiment: str
    sentiment_score: float
    intent: str


@router.post("/listening/classify", response=list[ClassifyOut])
def classify(request, payload: ClassifyIn):
    """The pipeline's language, sentiment and intent for bare texts (like `apiary classify`)."""
    api_require(request, Perm.LISTENING_VIEW)
    from .pipeline import classify as run

    if payload.languages is not None and len(payload.languages) != len(payload.texts):
        raise ApiError(422, "invalid", _("languages must have one entry per text."))
    if any(len(t) > 20_000 for t in payload.texts):
        raise ApiError(422, "invalid", _("Each text may have at most 20,000 characters."))
    return run(payload.texts, payload.languages)


class StreamOut(Schema):
    stream: str
    kind: str
    pending: int | None
    failed: int
    mentions: int


@router.get("/listening/stream", response=StreamOut)
def stream_status(request):
    api_require(request, Perm.LISTENING_VIEW)
    return selectors.stream_status()
