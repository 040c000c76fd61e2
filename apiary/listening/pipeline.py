"""The enrichment pipeline: batch in, batch out, one pure stage after another.

    dedup → language → sentiment → queries → intent → place → identity

Each stage is a module of its own, testable alone (``language.py``, ``sentiment/``,
``queries.py``, ``intent.py``, ``place.py``, ``customers.services.resolution``). This module
only wires them: :func:`enrich` takes raw mentions plus the two pieces of state the stages need
(the compiled :class:`QueryBook` and the :class:`IdentityIndex`) and returns
:class:`EnrichedMention` objects for ``services/store.py`` to write. No database access here:
the caller loads the state (``PipelineState``) and refreshes it when queries or identities
change. ``classify`` is the same code path for ``apiary classify``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from .intent import classify_intents
from .language import detect_languages
from .place import Place, PlaceInput, resolve_places
from .queries import MatchDoc, QueryBook
from .raw import RawMention
from .sentiment import score_sentiments


@dataclass(slots=True)
class EnrichedMention:
    raw: RawMention
    language: str
    language_confidence: float
    sentiment: str
    sentiment_score: float
    sentiment_confidence: float
    intent: str
    intent_cues: list[str]
    query_ids: list[int] = field(default_factory=list)
    place: Place | None = None
    customer_id: int | None = None


def dedup(batch: Sequence[RawMention]) -> list[RawMention]:
    """Drop repeats of ``(platform, external_id)`` inside one batch; the first one wins.

    Repeats across batches are the store's job (``ON CONFLICT DO NOTHING``)."""
    seen: set[tuple[str, str]] = set()
    out = []
    for mention in batch:
        if mention.key not in seen:
            seen.add(mention.key)
            out.append(mention)
    return out


def classify(texts: Sequence[str], hints: Sequence[str | None] | None = None) -> list[dict]:
    """Language, sentiment and intent for bare texts: what ``apiary classify`` prints."""
    languages = detect_languages(list(texts), hints=list(hints) if hints is not None else None)
    codes = [r.code for r in languages]
    sentiments = score_sentiments(list(texts), codes)
    intents = classify_intents(list(texts), languages=codes)
    return [
        {
            "language": lang.code,
            "language_confidence": round(lang.confidence, 3),
            "sentiment": sent.label,
            "sentiment_score": round(sent.score, 4),
            "intent": intent.intent,
        }
        for lang, sent, intent in zip(languages, sentiments, intents, strict=True)
    ]


def enrich(
    batch: Sequence[RawMention],
    *,
    book: QueryBook | None = None,
    identities=None,
) -> list[EnrichedMention]:
    mentions = dedup(batch)
    if not mentions:
        return []
    texts = [m.text for m in mentions]

    languages = detect_languages(texts, hints=[m.language_hint or None for m in mentions])
    codes = [r.code for r in languages]
    sentiments = score_sentiments(texts, codes)
    intents = classify_intents(texts, languages=codes)

    # Place runs before the queries here (the guide lists it after): a query may filter on
    # ``country:``, which only the place stage knows.
    places = resolve_places(
        [
            PlaceInput(
                text=m.text,
                profile_location=m.author_location,
                lat=m.lat,
                lon=m.lon,
                language=codes[i],
            )
            for i, m in enumerate(mentions)
        ]
    )
    query_ids: list[list[int]] = [[] for _ in mentions]
    if book is not None and len(book):
        for i, m in enumerate(mentions):
            place = places[i]
            doc = MatchDoc(
                text=m.text,
                language=codes[i],
                platform=m.platform,
                country=place.country.lower() if place is not None else "",
            )
            query_ids[i] = [int(qid) for qid, _kind in book.match(doc)]

    customers: list[int | None] = [None] * len(mentions)
    if identities is not None:
        from apiary.customers.services.resolution import AuthorRef

        customers = identities.resolve_many(
            AuthorRef(
                platform=m.platform,
                handle=m.author_handle,
                display_name=m.author_name,
                profile_url=m.author_url,
                location=m.author_location,
            )
            for m in mentions
        )

    return [
        EnrichedMention(
            raw=m,
            language=languages[i].code,
            language_confidence=languages[i].confidence,
            sentiment=sentiments[i].label,
            sentiment_score=sentiments[i].score,
            sentiment_confidence=sentiments[i].confidence,
            intent=intents[i].intent,
            intent_cues=list(intents[i].cues),
            query_ids=query_ids[i],
            place=places[i],
            customer_id=customers[i],
        )
        for i, m in enumerate(mentions)
    ]
