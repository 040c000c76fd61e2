"""Demo listening: brand, competitor and topic queries, four sources (the live replay of
generated mentions, a webhook, a paused review feed, a paused Bluesky Jetstream), and 30 days of
enriched mention history — a calm baseline, competitor stories and a few negative spikes — some
of it written by demo customers' own linked accounts, so profiles show their mentions.

History goes through the real pipeline (``consumer.process_mentions``): every mention is
enriched and stored exactly as a live one would be, rollups included.
"""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from apiary.customers.models import SocialIdentity
from apiary.listening.connectors.replay import COMPETITORS, generate_mentions
from apiary.listening.consumer import PipelineState, process_mentions
from apiary.listening.models import ListeningQuery, Mention, Source
from apiary.listening.services.queries import query_create
from apiary.listening.services.sources import source_create

HISTORY_DAYS = 30
HISTORY_MENTIONS = 24_000
LINKED_SHARE = 0.03  # of history mentions written by a demo customer's consented account
MARKER_NAME = "Northwind Coffee Roasters"

QUERIES = [
    (
        MARKER_NAME,
        "brand",
        'northwind OR "north wind" OR #northwindcoffee OR @northwindcoffee OR нортвинд',
    ),
    ("Blue Harbor Coffee", "competitor", '"blue harbor" OR #blueharborcoffee OR #blueharbor'),
    ("Café Aurora", "competitor", '"café aurora" OR #cafeaurora OR #caféaurora'),
    ("Кофе Лисица", "competitor", '"кофе лисица" OR "лисица кофе" OR #кофелисица'),
    (
        "Delivery problems",
        "topic",
        "(delivery OR доставк* OR entrega OR pedido OR заказ) AND "
        "(late OR never OR lost OR опозда* OR пришёл OR llega OR tarde OR retraso)",
    ),
    ("Espresso", "topic", "espresso OR эспрессо OR expreso OR #espresso"),
    ("Prices", "topic", "price* OR expensive OR цен* OR дорого OR precio* OR caro"),
    ("Subscriptions", "topic", "subscription OR подписк* OR suscripci*"),
]


def run(ctx) -> str:
    rng = random.Random(f"{ctx.seed}:listening")
    created_queries = 0
    for name, kind, text in QUERIES:
        if not ListeningQuery.objects.filter(name=name).exists():
            query_create(name=name, kind=kind, text=text)
            created_queries += 1

    sources = _sources(ctx.seed)
    replay = sources["Live social replay"]
    if Mention.objects.filter(source=replay).exists():
        return (
            f"already loaded ({Mention.objects.count()} mentions); {created_queries} queries added"
        )
    stored = _history(rng, ctx.seed, replay)
    # Trending terms and topics from the start; the background tasks keep them fresh.
    from apiary.listening.trends import trends_refresh

    trends_refresh()
    return (
        f"{len(QUERIES)} queries ({created_queries} new), {len(sources)} sources, "
        f"{stored} mentions of history"
    )


def _sources(seed: int) -> dict[str, Source]:
    wanted = [
        (
            "Live social replay",
            "replay",
            {
                "seed": seed,
                "rate_per_minute": 20,
                "spike_every_minutes": 20,
                "spike_minutes": 3,
                "spike_multiplier": 8,
            },
            "active",
        ),
        ("Shop reviews webhook", "webhook", {"default_platform": "trustpilot"}, "active"),
        (
            "Trustpilot reviews (RSS)",
            "rss",
            {
                "url": "https://www.trustpilot.com/review/northwind.example/rss",
                "interval_seconds": 900,
                "platform": "trustpilot",
            },
            "paused",  # no Internet in the demo: shown paused, ready to point at a real feed
        ),
        (
            "Bluesky firehose",
            "bluesky",
            {
                "url": "wss://jetstream2.us-east.bsky.network/subscribe",
                "keywords": ["northwind", "coffee", "кофе", "café"],
            },
            "paused",
        ),
    ]
    out = {}
    for name, kind, config, status in wanted:
        source = Source.objects.filter(name=name, deleted_at__isnull=True).first()
        if source is None:
            source, _token = source_create(name=name, kind=kind, config=config)
            if status != "active":
                source.status = status
                source.save(update_fields=["status"])
        out[name] = source
    return out


def _history(rng: random.Random, seed: int, replay: Source) -> int:
    now = timezone.now().replace(second=0, microsecond=0)
    start = now - timedelta(days=HISTORY_DAYS)
    minutes = HISTORY_DAYS * 24 * 60
    mentions = list(
        generate_mentions(
            seed + 1,
            0,
            HISTORY_MENTIONS,
            t0=start,
            rate_per_minute=HISTORY_MENTIONS / minutes,
            # A few stories and spikes over the month, not one every 20 minutes.
            spike_every_minutes=minutes / 4,
            spike_minutes=240,
            spike_multiplier=6,
            competitors=COMPETITORS,
            source_id=replay.pk,
        )
    )
    identities = list(
        SocialIdentity.objects.filter(withdrawn_at__isnull=True).values_list("platform", "handle")
    )
    # The generator's spikes and stories speed the clock up, so a fixed count ends early;
    # stretch the times linearly to fill the whole month, up to a few minutes ago.
    first, last = mentions[0].created_at, mentions[-1].created_at
    end = now - timedelta(minutes=5)
    scale = (end - start) / (last - first) if last > first else 1

    def stretch(at):
        return start + (at - first) * scale

    out = []
    for m in mentions:
        at = stretch(m.created_at)
        m = replace(m, external_id=f"history-{m.external_id}", created_at=at, received_at=at)
        if identities and rng.random() < LINKED_SHARE:
            platform, handle = rng.choice(identities)
            m = replace(m, platform=platform, author_handle=handle)
        out.append(m)
    state = PipelineState()
    stored = 0
    for i in range(0, len(out), 2000):
        with transaction.atomic():
            stored += process_mentions(out[i : i + 2000], state=state).inserted
    return stored
