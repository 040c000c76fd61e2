"""Listening: sources, the durable outbox stream, enriched mentions, queries and rollups.

Writes go through ``services/``; reads through ``selectors.py``. The mention table is written in
bulk with plain SQL (``services/store.py``) because it is the pipeline's hot path; the ORM
models here define the schema and serve every read.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class SourceKind(models.TextChoices):
    WEBHOOK = "webhook", _("Webhook (push)")
    FILE = "file", _("File import")
    RSS = "rss", _("RSS / Atom feed")
    MASTODON = "mastodon", _("Mastodon")
    BLUESKY = "bluesky", _("Bluesky Jetstream")
    REPLAY = "replay", _("Demo replay")


# Kinds that run a connector loop in a worker (the others are pushed to us).
RUNNING_KINDS = frozenset(
    {SourceKind.RSS, SourceKind.MASTODON, SourceKind.BLUESKY, SourceKind.REPLAY}
)


class SourceStatus(models.TextChoices):
    ACTIVE = "active", _("Active")
    PAUSED = "paused", _("Paused")


class Source(models.Model):
    name = models.CharField(max_length=200)
    kind = models.CharField(max_length=20, choices=SourceKind.choices)
    config = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=10, choices=SourceStatus.choices, default="active")
    # Webhook sources: SHA-256 of the token (the token itself is shown once, at creation).
    token_digest = models.CharField(max_length=64, blank=True, db_index=True)
    token_prefix = models.CharField(max_length=16, blank=True)
    # Where the connector resumes (feed ETag, Mastodon last id, Jetstream time_us, …).
    cursor = models.JSONField(default=dict, blank=True)
    # Which worker runs the connector, until when: one runner per source across processes.
    runner = models.CharField(max_length=100, blank=True)
    lease_until = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    last_event_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    last_error_at = models.DateTimeField(null=True, blank=True)
    error_count = models.PositiveIntegerField(default=0)
    rejected_count = models.PositiveBigIntegerField(default=0)
    received_count = models.PositiveBigIntegerField(default=0)
    # Median seconds between a post's own time and our receipt, over the last batch.
    lag_seconds = models.FloatField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    deleted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["name", "id"]

    def __str__(self) -> str:
        return self.name


class SourceMinute(models.Model):
    """Events received per source per minute: the "events/min" figure, without scanning mentions."""

    source = models.ForeignKey(Source, on_delete=models.CASCADE, related_name="minutes")
    minute = models.DateTimeField()
    received = models.PositiveIntegerField(default=0)
    rejected = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["source", "minute"], name="listening_source_minute")
        ]

    def __str__(self) -> str:
        return f"{self.source_id}@{self.minute:%Y-%m-%d %H:%M}"


class OutboxEntry(models.Model):
    """The durable in-process stream: a received mention waits here until it is stored.

    A row is written in the same transaction that accepts the mention (webhook answer,
    connector cursor), and deleted in the same transaction that stores the mention, so a crash
    anywhere in between leaves it here to be processed again (at-least-once); the unique
    ``(platform, external_id)`` on mentions makes the retry harmless. ``available_at`` is a
    lease: a consumer that claims a batch pushes it into the future; if the consumer dies, the
    lease runs out and another takes the batch.
    """

    platform = models.CharField(max_length=20)
    external_id = models.CharField(max_length=255)
    payload = models.TextField()
    enqueued_at = models.DateTimeField()
    available_at = models.DateTimeField()
    attempts = models.PositiveIntegerField(default=0)
    # A batch that failed ``MAX_ATTEMPTS`` times is parked here instead of blocking the stream.
    failed_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)

    class Meta:
        indexes = [
            # Claims walk this in id order and stop after a batch, however long the backlog:
            # an index led by available_at made each claim scan and sort every ready row.
            models.Index(
                fields=["id"],
                condition=models.Q(failed_at__isnull=True),
                name="listening_outbox_ready",
            ),
            models.Index(fields=["platform", "external_id"], name="listening_outbox_key"),
        ]

    def __str__(self) -> str:
        return f"outbox {self.platform}:{self.external_id}"


class QueryKind(models.TextChoices):
    BRAND = "brand", _("Brand")
    COMPETITOR = "competitor", _("Competitor")
    TOPIC = "topic", _("Topic")


class ListeningQuery(models.Model):
    """A saved brand / competitor / topic query in the language of ``listening/queries.py``."""

    name = models.CharField(max_length=120, unique=True)
    kind = models.CharField(max_length=12, choices=QueryKind.choices)
    text = models.TextField()
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["kind", "name"]

    def __str__(self) -> str:
        return self.name


class Sentiment(models.TextChoices):
    POSITIVE = "positive", _("Positive")
    NEUTRAL = "neutral", _("Neutral")
    NEGATIVE = "negative", _("Negative")


class Intent(models.TextChoices):
    PURCHASE = "purchase", _("Purchase")
    SUPPORT = "support", _("Support")
    NONE = "none", _("None")


class Mention(models.Model):
    platform = models.CharField(max_length=20)
    external_id = models.CharField(max_length=255)
    source = models.ForeignKey(
        Source,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        db_index=False,  # the (source, created_at) index below serves it; one less to maintain
    )
    text = models.TextField()
    url = models.CharField(max_length=2000, blank=True)
    created_at = models.DateTimeField(db_index=True)
    received_at = models.DateTimeField()
    stored_at = models.DateTimeField()
    author_handle = models.CharField(max_length=300, blank=True)
    author_name = models.CharField(max_length=300, blank=True)
    author_url = models.CharField(max_length=2000, blank=True)
    author_followers = models.BigIntegerField(null=True, blank=True)
    author_location = models.CharField(max_length=300, blank=True)
    parent_external_id = models.CharField(max_length=255, blank=True)
    quote_external_id = models.CharField(max_length=255, blank=True)
    language = models.CharField(max_length=8)
    language_confidence = models.FloatField(default=0.0)
    sentiment = models.CharField(max_length=8, choices=Sentiment.choices)
    sentiment_score = models.FloatField(default=0.0)
    sentiment_confidence = models.FloatField(default=0.0)
    intent = models.CharField(max_length=8, choices=Intent.choices)
    intent_cues = models.JSONField(default=list, blank=True)
    # Matching query ids (denormalised for display); MentionMatch is the indexed form.
    query_ids = models.JSONField(default=list, blank=True)
    lat = models.FloatField(null=True, blank=True)
    lon = models.FloatField(null=True, blank=True)
    country = models.CharField(max_length=2, blank=True)
    region = models.CharField(max_length=20, blank=True)
    region_name = models.CharField(max_length=120, blank=True)
    city = models.CharField(max_length=120, blank=True)
    place_confidence = models.FloatField(null=True, blank=True)
    place_source = models.CharField(max_length=12, blank=True)
    customer = models.ForeignKey(
        "customers.Customer",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="mentions",
        db_index=False,  # the (customer, created_at) index below serves it
    )
    raw = models.JSONField(default=dict, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["platform", "external_id"], name="listening_mention_key"
            )
        ]
        indexes = [
            models.Index(fields=["customer", "created_at"], name="listening_mention_customer"),
            models.Index(fields=["source", "created_at"], name="listening_mention_source"),
            # Search (issue 5; why each one: docs "Search indexes"). The full-text index and the
            # reach index (DESC NULLS LAST differs per vendor) are raw SQL in 0002_search.
            models.Index(fields=["country", "created_at"], name="listening_mention_country"),
            models.Index(fields=["region", "created_at"], name="listening_mention_region"),
            models.Index(fields=["city", "created_at"], name="listening_mention_city"),
            models.Index(fields=["platform", "created_at"], name="listening_mention_platform"),
            models.Index(
                fields=["lat", "lon"],
                condition=models.Q(lat__isnull=False),
                name="listening_mention_latlon",
            ),
            models.Index(
                fields=["platform", "parent_external_id"],
                condition=~models.Q(parent_external_id=""),
                name="listening_mention_parent",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.platform}:{self.external_id}"


class MentionMatch(models.Model):
    """One row per (mention, matching query): "mentions of this competitor" is an index scan."""

    mention = models.ForeignKey(Mention, on_delete=models.CASCADE, related_name="matches")
    query = models.ForeignKey(ListeningQuery, on_delete=models.CASCADE, related_name="matches")
    created_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["mention", "query"], name="listening_match_key")
        ]
        indexes = [models.Index(fields=["query", "created_at"], name="listening_match_query_time")]

    def __str__(self) -> str:
        return f"{self.mention_id}~{self.query_id}"


class MentionRollup(models.Model):
    """Hourly counts by query, platform, language, sentiment, intent and country.

    ``query_id`` 0 is "all mentions". Updated in the same transaction that stores the mentions,
    counting only rows actually inserted, so re-delivered batches never count twice. Charts
    read this, not the mention table.
    """

    hour = models.DateTimeField()
    query_id = models.BigIntegerField(default=0)
    platform = models.CharField(max_length=20)
    language = models.CharField(max_length=8)
    sentiment = models.CharField(max_length=8)
    intent = models.CharField(max_length=8)
    country = models.CharField(max_length=2, blank=True)
    count = models.PositiveBigIntegerField(default=0)
    reach = models.PositiveBigIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=[
                    "hour",
                    "query_id",
                    "platform",
                    "language",
                    "sentiment",
                    "intent",
                    "country",
                ],
                name="listening_rollup_key",
            )
        ]
        # The key leads with the hour (for the writers' upserts); charts ask for one query
        # over an hour range.
        indexes = [models.Index(fields=["query_id", "hour"], name="listening_rollup_query")]

    def __str__(self) -> str:
        return f"{self.hour:%Y-%m-%d %H}h q{self.query_id}: {self.count}"


class MentionRollupDay(models.Model):
    """Daily counts by query, platform, language, sentiment and country (no intent).

    The hourly table grows with its seven dimensions almost as fast as the mentions do (at
    2,000 mentions an hour nearly every mention opens its own combination), so charts over
    weeks and months read this one: a 90-day brand chart sums a few thousand rows instead of
    a few million. ``week`` (the Monday) is stored so weekly buckets are a plain ``GROUP BY``
    on both backends (SQLite has no date truncation function of its own). Written in the
    same transaction as the hourly table, counting only inserted rows; ``insight.py`` reads
    whole days here and the partial days at a window's edges from the hourly table.
    """

    day = models.DateTimeField()  # midnight UTC
    week = models.DateTimeField()  # Monday midnight UTC of ``day``
    query_id = models.BigIntegerField(default=0)
    platform = models.CharField(max_length=20)
    language = models.CharField(max_length=8)
    sentiment = models.CharField(max_length=8)
    country = models.CharField(max_length=2, blank=True)
    count = models.PositiveBigIntegerField(default=0)
    reach = models.PositiveBigIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["day", "week", "query_id", "platform", "language", "sentiment", "country"],
                name="listening_rollup_day_key",
            )
        ]
        indexes = [
            # Every chart filters one or a few queries over a day range.
            models.Index(fields=["query_id", "day"], name="listening_rollup_day_query"),
        ]

    def __str__(self) -> str:
        return f"{self.day:%Y-%m-%d} q{self.query_id}: {self.count}"


class TermRollup(models.Model):
    """Mentions per day using a term, by query (``query_id`` 0 = all mentions).

    ``term`` is the folded, stemmed key (``#tag`` and ``@handle`` keep their sign); ``display``
    is the first surface form seen, for showing and searching. Written by the ``terms_rollup``
    task (``trends.py``) from a mention-id watermark, never on the ingestion hot path; requests
    read only this table. ``sample_mention_id`` is the newest mention counted for the row.
    """

    day = models.DateField()
    query_id = models.BigIntegerField(default=0)
    term = models.CharField(max_length=100)
    kind = models.CharField(max_length=8)  # word | hashtag | handle
    display = models.CharField(max_length=100)
    count = models.PositiveBigIntegerField(default=0)
    sample_mention_id = models.BigIntegerField(null=True, blank=True)

    class Meta:
        constraints = [
            # Also the window scan: (query_id, day range) → rows to group by term.
            models.UniqueConstraint(
                fields=["query_id", "day", "term"], name="listening_termrollup_key"
            )
        ]
        indexes = [
            # Baseline of a few candidate terms: (query_id, term, day range) seeks.
            models.Index(fields=["query_id", "term", "day"], name="listening_termrollup_term")
        ]

    def __str__(self) -> str:
        return f"{self.day} q{self.query_id} {self.term}: {self.count}"


class TrendWatermark(models.Model):
    """How far the term rollup has read the mention table (one row per ``name``)."""

    name = models.CharField(max_length=40, unique=True)
    last_mention_id = models.BigIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.name}@{self.last_mention_id}"


class TopicCluster(models.Model):
    """One cluster of similar mentions from one clustering run over a query's recent sample.

    A run (``query_id``, ``window_start``, ``window_end``) replaces an earlier run of the same
    query ending on the same day, so there is one run per query per day to look back on.
    """

    query_id = models.BigIntegerField(default=0)
    window_start = models.DateTimeField()
    window_end = models.DateTimeField()
    computed_at = models.DateTimeField()
    rank = models.PositiveIntegerField(default=0)
    label = models.CharField(max_length=300)
    terms = models.JSONField(default=list, blank=True)
    size = models.PositiveIntegerField(default=0)
    sample_size = models.PositiveIntegerField(default=0)
    positive = models.PositiveIntegerField(default=0)
    neutral = models.PositiveIntegerField(default=0)
    negative = models.PositiveIntegerField(default=0)
    # Representative mentions, the closest to the cluster's centre first.
    mention_ids = models.JSONField(default=list, blank=True)
    is_new = models.BooleanField(default=False)

    class Meta:
        ordering = ["query_id", "-window_end", "rank"]
        indexes = [
            models.Index(fields=["query_id", "window_end"], name="listening_topic_query_end")
        ]

    def __str__(self) -> str:
        return f"q{self.query_id} {self.window_end:%Y-%m-%d}: {self.label}"


# --- Search (issue 5): saved searches, tags, relevance feedback ---------------------------------


class SavedSearch(models.Model):
    """A user's named search: ``params`` is validated by ``search.SearchParams`` (API = UI)."""

    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="saved_searches"
    )
    name = models.CharField(max_length=120)
    params = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name", "id"]
        constraints = [
            models.UniqueConstraint(fields=["owner", "name"], name="listening_saved_search_name")
        ]

    def __str__(self) -> str:
        return self.name


class MentionTag(models.Model):
    """A team-visible tag on a mention; ``user`` is who put it there."""

    mention = models.ForeignKey(Mention, on_delete=models.CASCADE, related_name="tags")
    tag = models.CharField(max_length=50)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["mention", "tag"], name="listening_mention_tag_key")
        ]
        # "tag:x" in search is ``mention_id IN (…tag = x)``: an index range, never a table scan.
        indexes = [models.Index(fields=["tag", "mention"], name="listening_tag_mention")]

    def __str__(self) -> str:
        return f"{self.mention_id}#{self.tag}"


class MentionIrrelevant(models.Model):
    """Relevance feedback: this mention does not belong to this query's results."""

    mention = models.ForeignKey(Mention, on_delete=models.CASCADE, related_name="irrelevant_marks")
    query = models.ForeignKey(
        ListeningQuery, on_delete=models.CASCADE, related_name="irrelevant_marks"
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["mention", "query"], name="listening_irrelevant_key")
        ]
        indexes = [models.Index(fields=["query", "mention"], name="listening_irrelevant_query")]

    def __str__(self) -> str:
        return f"{self.mention_id}!~{self.query_id}"


# --- Map rollups (issue 5, map at scale) ---------------------------------------------------

# The map's grid: a cell at zoom z is 45° / 2**z (``geo.cell_for_zoom``). Cells are stored at
# zoom GEO_CELL_ZOOM, so every coarser zoom's cell is exactly 2**(GEO_CELL_ZOOM - z) stored
# cells a side (an integer division in SQL); a 0.1° grid would not nest in 45° / 2**z.
GEO_CELL_ZOOM = 9
GEO_CELL_DEG = 45.0 / 2**GEO_CELL_ZOOM  # 0.087890625° (exact in binary), about 9.8 km


def geo_cell(lat: float, lon: float) -> tuple[int, int]:
    """The stored cell of a position: counted from the south pole and the antimeridian, so
    indexes are never negative and integer division is a floor on every backend. ``int()``
    truncates, which is the floor of these non-negative numbers, and is what the SQL in the
    backfill (``CAST(… AS INTEGER)`` / ``floor``) computes from the same division."""
    return int((lat + 90.0) / GEO_CELL_DEG), int((lon + 180.0) / GEO_CELL_DEG)


class MentionRegionDay(models.Model):
    """Mentions per UTC day by query (0 = all), country, region and sentiment: the region
    choropleth. Only mentions with a country are counted (``region`` may be empty: "somewhere
    in that country"). Written in the store transaction, counting only inserted rows."""

    day = models.DateTimeField()  # midnight UTC
    query_id = models.BigIntegerField(default=0)
    country = models.CharField(max_length=2)
    region = models.CharField(max_length=20, blank=True)
    sentiment = models.CharField(max_length=8)
    count = models.PositiveBigIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["day", "query_id", "country", "region", "sentiment"],
                name="listening_region_day_key",
            )
        ]
        indexes = [models.Index(fields=["query_id", "day"], name="listening_region_day_query")]

    def __str__(self) -> str:
        return f"{self.day:%Y-%m-%d} q{self.query_id} {self.country}/{self.region}: {self.count}"


class _CellDay(models.Model):
    """The columns of a daily grid-cell rollup (fine and coarse levels share them)."""

    day = models.DateTimeField()  # midnight UTC
    query_id = models.BigIntegerField(default=0)
    cell_lat = models.IntegerField()
    cell_lon = models.IntegerField()
    country = models.CharField(max_length=2, blank=True)
    sentiment = models.CharField(max_length=8)
    count = models.PositiveBigIntegerField(default=0)
    lat_sum = models.FloatField(default=0.0)
    lon_sum = models.FloatField(default=0.0)

    class Meta:
        abstract = True

    def __str__(self) -> str:
        return f"{self.day:%Y-%m-%d} q{self.query_id} {self.cell_lat}:{self.cell_lon}: {self.count}"


class MentionCellDay(_CellDay):
    """Mentions with coordinates per UTC day by query (0 = all), grid cell (``geo_cell``),
    country and sentiment, with the sums of their latitudes and longitudes (a cluster's
    position is ``lat_sum / count``, at any coarser zoom too). ``country`` lets a country's
    map show only its own clusters; a cell is split only where a border crosses it."""

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["day", "query_id", "cell_lat", "cell_lon", "country", "sentiment"],
                name="listening_cell_day_key",
            )
        ]
        indexes = [
            models.Index(fields=["query_id", "day"], name="listening_cell_day_query"),
            # The edge strips of a coarse-zoom box (geo._cells_from_rollups): per day, the
            # cells of a band of longitudes. A band of latitudes seeks the unique key instead.
            models.Index(fields=["day", "query_id", "cell_lon"], name="listening_cell_day_lon"),
        ]


# The coarse level of the same grid: zoom GEO_COARSE_ZOOM (45° / 2**4 = 2.8125°). A coarse
# cell is exactly 2**GEO_COARSE_SHIFT fine cells a side, ``coarse = fine >> GEO_COARSE_SHIFT``
# (fine indexes are never negative, so that is also ``fine // 32`` and SQL's integer division).
GEO_COARSE_ZOOM = 4
GEO_COARSE_SHIFT = GEO_CELL_ZOOM - GEO_COARSE_ZOOM  # 5


class MentionCoarseCellDay(_CellDay):
    """``MentionCellDay`` regrouped into coarse cells (``GEO_COARSE_ZOOM``), same columns: the
    world and continent views (zoom ≤ 4) read about 3× fewer rows for all mentions (each cell
    keeps a row per sentiment and country). Written next to the fine rows in the store
    transaction from the same per-batch counts, so the two always agree."""

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["day", "query_id", "cell_lat", "cell_lon", "country", "sentiment"],
                name="listening_coarse_day_key",
            )
        ]
        indexes = [models.Index(fields=["query_id", "day"], name="listening_coarse_day_query")]
