"""``apiary import mentions FILE``: CSV or JSON Lines, as common listening tools export them.

Columns / keys (names are case-insensitive; common export names are accepted as aliases):

=====================  =================================================================
``platform``           required unless ``--platform`` is given (bluesky, x, vk, news, …)
``external_id``        required (aliases: ``id``, ``post_id``, ``tweet_id``, ``guid``)
``text``               required (``content``, ``message``, ``snippet``, ``full_text``, ``body``)
``created_at``         required (``date``, ``published``, ``published_at``, ``timestamp``)
``author_handle``      (``author``, ``username``, ``screen_name``, ``user``)
``author_name``        (``display_name``, ``name``)
``author_followers``   (``followers``, ``followers_count``)
``author_location``    (``location``, ``user_location``)
``author_url``, ``url`` (``link``, ``permalink``), ``language`` (``lang``), ``lat``, ``lon``
(``latitude``, ``longitude``), ``parent_external_id`` (``in_reply_to``), ``quote_external_id``
=====================  =================================================================

JSON Lines may also use the webhook's nested shape (``"author": {...}``). Other columns are kept
in ``raw``. Each line is validated like a webhook item; a bad line is reported with its number
and reason and the good ones still land; repeats are counted as duplicates. With the default
stream the command stores the mentions itself before it returns; with NATS the workers do.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, BinaryIO

from django.utils.translation import gettext as _

from apiary.customers.importers import (
    ImportFileError,
    ImportReport,
    RowError,
    _guess_format,
    _Lines,
    iter_csv,
    iter_jsonl,
)

from .raw import Rejected, now, raw_mention_validate
from .stream.base import StreamUnavailable

ALIASES = {
    "id": "external_id",
    "post_id": "external_id",
    "tweet_id": "external_id",
    "guid": "external_id",
    "content": "text",
    "message": "text",
    "snippet": "text",
    "full_text": "text",
    "body": "text",
    "date": "created_at",
    "published": "created_at",
    "published_at": "created_at",
    "timestamp": "created_at",
    "author": "author_handle",
    "username": "author_handle",
    "screen_name": "author_handle",
    "user": "author_handle",
    "handle": "author_handle",
    "display_name": "author_name",
    "name": "author_name",
    "followers": "author_followers",
    "followers_count": "author_followers",
    "location": "author_location",
    "user_location": "author_location",
    "link": "url",
    "permalink": "url",
    "lang": "language",
    "latitude": "lat",
    "longitude": "lon",
    "in_reply_to": "parent_external_id",
}
TOP = {"platform", "external_id", "text", "created_at", "url", "language", "lat", "lon"}
TOP |= {"parent_external_id", "quote_external_id"}
AUTHOR = {
    "author_handle": "handle",
    "author_name": "name",
    "author_url": "url",
    "author_followers": "followers",
    "author_location": "location",
}
KNOWN = frozenset(TOP | set(AUTHOR) | set(ALIASES))


@dataclass
class MentionImportReport(ImportReport):
    duplicates: int = 0
    queued: int = 0

    def summary(self, kind: str, file: str) -> str:
        return (
            f"Imported {kind} from {file}: {self.processed} rows read, {self.created} stored, "
            f"{self.duplicates} duplicates, {self.queued} queued for the workers, "
            f"{self.rejected} rejected."
        )


def _check(columns: list[str]) -> None:
    canon = {ALIASES.get(c, c) for c in columns}
    missing = [c for c in ("external_id", "text", "created_at") if c not in canon]
    if missing:
        raise ImportFileError(
            _("Missing required columns: %(columns)s.") % {"columns": ", ".join(missing)}
        )


def row_to_item(row: dict[str, Any], platform: str | None) -> dict[str, Any]:
    """A flat export row (or a webhook-shaped object) → the webhook item shape."""
    if isinstance(row.get("author"), dict):  # already nested
        return row
    item: dict[str, Any] = {}
    author: dict[str, Any] = {}
    extra: dict[str, Any] = {}
    for key, value in row.items():
        name = ALIASES.get(key.strip().lower(), key.strip().lower())
        if value == "" or value is None:
            continue
        if name in AUTHOR:
            author[AUTHOR[name]] = value
        elif name in TOP:
            item[name] = value
        elif name != "raw":
            extra[key] = value
    if author:
        item["author"] = author
    if extra:
        item["raw"] = extra
    if platform and "platform" not in item:
        item["platform"] = platform
    return item


def mentions_import(
    *,
    fileobj: BinaryIO,
    fmt: str | None = None,
    batch_size: int = 5000,
    progress: Callable[[ImportReport], Any] | None = None,
    platform: str | None = None,
    max_errors_kept: int = 1000,
) -> MentionImportReport:
    from django.db import transaction

    from .consumer import handle_batch
    from .models import Mention
    from .services.ingest import keys_present, known_keys
    from .services.sources import file_source_get, source_received
    from .stream import get_stream

    report = MentionImportReport(max_errors_kept=max_errors_kept)
    first = fileobj.readline()
    fmt = fmt or _guess_format(getattr(fileobj, "name", "") or "", first)
    if fmt not in ("csv", "jsonl"):
        raise ValueError(f"unknown format {fmt!r}")
    lines = _Lines(itertools.chain([first] if first else [], fileobj))
    if fmt == "csv":
        rows = iter_csv(fileobj, lines=lines, known_columns=KNOWN, check_columns=_check)
    else:
        rows = iter_jsonl(fileobj, lines=lines, what="mention")
    source = file_source_get()
    stream = get_stream()
    received_at = now()
    batch: list = []
    seen: set = set()
    batch_size = max(1, min(batch_size, 20_000))

    def flush() -> None:
        report.bytes_read = lines.bytes_read
        if batch:
            existing = known_keys([m.key for m in batch])
            fresh = [m for m in batch if m.key not in existing]
            report.duplicates += len(batch) - len(fresh)
            with transaction.atomic():
                stream.publish(fresh)
                source_received(source_id=source.pk, received=len(fresh))
            if stream.transactional:
                # Drain what we queued so the command returns with the mentions stored.
                while stream.process_once(handle_batch, batch_size=1000):
                    pass
                report.created += len(keys_present(Mention, [m.key for m in fresh]))
            else:
                report.queued += len(fresh)
            batch.clear()
        if progress is not None:
            progress(report)

    try:
        for line, row in rows:
            report.processed += 1
            if row.__class__ is RowError:
                report.reject(line, row.reason)
                continue
            try:
                mention = raw_mention_validate(
                    row_to_item(row, platform), received_at=received_at, source_id=source.pk
                )
            except Rejected as exc:
                report.reject(line, "; ".join(exc.reasons))
                continue
            if mention.key in seen:
                report.duplicates += 1
                continue
            seen.add(mention.key)
            if len(seen) > 1_000_000:  # bound memory on huge files; the store dedups anyway
                seen.clear()
            batch.append(mention)
            if len(batch) >= batch_size:
                flush()
        flush()
    except ImportFileError as exc:
        report.file_error = str(exc)
        return report
    except StreamUnavailable as exc:
        report.file_error = _(
            "The ingestion stream is unavailable (%(error)s); lines up to %(line)d were queued. "
            "Importing the file again later is safe: repeats are skipped."
        ) % {"error": exc, "line": report.processed}
        return report
    if report.rejected:
        source_received(source_id=source.pk, received=0, rejected=report.rejected)
    return report
