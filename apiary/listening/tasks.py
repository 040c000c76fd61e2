"""Background tasks of listening (django-tasks, database queue); each is idempotent.

``identity_suggest`` looks for near matches (same name and city, handle variants) between
authors of new mentions that no consented identity resolved and the customers; what it finds
goes to the review queue (``customers.services.resolution.author_suggest``), never linked
automatically. It runs off the stream's hot path: the consumer only enqueues it.
"""

from __future__ import annotations

import logging

from django_tasks import task

logger = logging.getLogger(__name__)

MAX_AUTHORS_PER_BATCH = 50


@task()
def identity_suggest(authors: list[dict]) -> int:
    from apiary.customers.services.resolution import AuthorRef, author_suggest

    created = 0
    for a in authors:
        try:
            created += len(author_suggest(author=AuthorRef(**a)))
        except Exception:  # one odd author must not stop the others
            logger.exception("identity suggestion failed for %s", a.get("handle"))
    return created


def enqueue_identity_suggestions(enriched, result) -> None:
    """``after_store`` hook: unresolved authors with a name (the signal near matches need)."""
    seen: set[tuple[str, str]] = set()
    authors = []
    for e in enriched:
        r = e.raw
        if e.customer_id is not None or r.key not in result.ids or not r.author_handle:
            continue
        if not r.author_name:
            continue
        key = (r.platform, r.author_handle)
        if key in seen:
            continue
        seen.add(key)
        authors.append(
            {
                "platform": r.platform,
                "handle": r.author_handle,
                "display_name": r.author_name,
                "profile_url": r.author_url,
                "location": r.author_location,
            }
        )
        if len(authors) >= MAX_AUTHORS_PER_BATCH:
            break
    if authors:
        # Inside the storage transaction, not on commit: the queue is a table of this database,
        # so the task row commits with the mentions (or not at all), and the worker needs no
        # second write transaction per batch. As an on-commit callback it was one: ~13% of a
        # SQLite ingest worker's time went to waiting for the write lock again for it.
        identity_suggest.enqueue(authors)
