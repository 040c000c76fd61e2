"""Streaming order files: CSV and JSON Lines in, an :class:`ImportReport` out.

Files are read line by line and written in batches, so memory stays flat whatever the size.
Every line is decoded on its own: one stray Latin-1 byte rejects that line, not the file.
A file-level problem (no header, missing columns) rejects the whole file before anything is
written. Rows with the same ``external_id`` in one file: the later one wins.
"""

from __future__ import annotations

import csv
import itertools
import json
import secrets
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any, BinaryIO

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import DataError, IntegrityError, connection
from django.utils import timezone
from django.utils.translation import gettext as _

from apiary.customers.models import ImportJob
from apiary.customers.services.orders import (
    ValidOrder,
    order_row_validate,
    orders_upsert,
    validation_reason,
)

REQUIRED_COLUMNS = ("external_id", "ordered_at", "currency", "total")
CUSTOMER_COLUMNS = ("customer_external_id", "customer_email")
KNOWN_COLUMNS = frozenset(
    (*REQUIRED_COLUMNS, *CUSTOMER_COLUMNS, "items", "channel", "referral_code")
)
DELIMITERS = (",", ";", "\t")
CSV_SUFFIXES = frozenset({".csv", ".tsv", ".txt"})
JSONL_SUFFIXES = frozenset({".jsonl", ".ndjson", ".json"})

SQLITE_IMPORT_CACHE_KB = 65536
csv.field_size_limit(10 * 1024 * 1024)  # an items column can be long; a line never exceeds this


class ImportFileError(Exception):
    """The file as a whole cannot be imported (nothing was written)."""


@dataclass(frozen=True, slots=True)
class RowError:
    reason: str


@dataclass
class ImportReport:
    processed: int = 0
    created: int = 0
    updated: int = 0
    rejected: int = 0
    errors: list[dict] = field(default_factory=list)  # [{"line", "reason"}], capped
    file_error: str | None = None
    bytes_read: int = 0
    max_errors_kept: int = 1000

    def reject(self, line: int, reason: str) -> None:
        self.rejected += 1
        if len(self.errors) < self.max_errors_kept:
            self.errors.append({"line": line, "reason": reason})


class _Lines:
    """Numbered, decoded lines of a binary file; counts bytes for the progress bar."""

    def __init__(self, raw_lines: Iterable[bytes]) -> None:
        self.raw_lines = iter(raw_lines)
        self.number = 0
        self.bytes_read = 0
        # For csv.reader (see texts): undecodable line numbers, and where the record began.
        self.bad: list[int] = []
        self.first = 0
        self.fresh = True

    def __iter__(self) -> Iterator[tuple[int, str | None]]:
        for raw in self.raw_lines:
            self.number += 1
            self.bytes_read += len(raw)
            if self.number == 1 and raw.startswith(b"\xef\xbb\xbf"):
                raw = raw[3:]
            try:
                yield self.number, raw.decode("utf-8")
            except UnicodeDecodeError:
                yield self.number, None

    def texts(self) -> Iterator[str]:
        """The remaining lines as text only, as csv.reader wants them; undecodable ones are set
        aside in ``bad`` (reported in order by iter_csv)."""
        for raw in self.raw_lines:
            self.number += 1
            self.bytes_read += len(raw)
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError:
                self.bad.append(self.number)
                continue
            if self.fresh:
                self.first, self.fresh = self.number, False
            yield text


def _not_utf8() -> RowError:
    return RowError(_("not valid UTF-8"))


def _header_columns(header: str, known=None) -> tuple[str, list[str]]:
    """Pick the delimiter whose split names the most known columns."""
    known = KNOWN_COLUMNS if known is None else known
    best: tuple[int, int, str, list[str]] | None = None
    for delimiter in DELIMITERS:
        columns = [c.strip().lower() for c in next(csv.reader([header], delimiter=delimiter))]
        score = (len(known.intersection(columns)), len(columns))
        if best is None or score > best[:2]:
            best = (*score, delimiter, columns)
    return best[2], best[3]


def _check_columns(columns: list[str]) -> None:
    missing = [c for c in REQUIRED_COLUMNS if c not in columns]
    if not any(c in columns for c in CUSTOMER_COLUMNS):
        missing.append(" or ".join(CUSTOMER_COLUMNS))
    if missing:
        hint = ""
        if len(columns) == 1:
            hint = " " + _("The header has only one column: separate columns with , ; or a tab.")
        raise ImportFileError(
            _("Missing required columns: %(columns)s.") % {"columns": ", ".join(missing)} + hint
        )


def iter_csv(
    fileobj: BinaryIO | Iterable[bytes],
    lines: _Lines | None = None,
    *,
    known_columns=None,
    check_columns=None,
):
    """Yield ``(line_number, dict | RowError)`` per record; raises ImportFileError for the file.

    The delimiter (``,`` ``;`` or tab) is guessed from the header, which is required. Orders'
    columns by default; another importer (mentions) passes its own ``known_columns`` and
    ``check_columns(columns)`` (raising ImportFileError).
    """
    lines = lines or _Lines(fileobj)
    header = None
    for number, text in lines:
        if text is None:
            raise ImportFileError(
                _("The header line (line %(n)d) is not valid UTF-8.") % {"n": number}
            )
        if text.strip():
            header = text
            break
    if header is None:
        raise ImportFileError(_("The file is empty: a header line with column names is needed."))
    delimiter, columns = _header_columns(header, known_columns)
    (check_columns or _check_columns)(columns)
    width = len(columns)

    reader = csv.reader(lines.texts(), delimiter=delimiter)
    while True:
        try:
            values = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            lines.fresh = True
            yield lines.first, RowError(_("not valid CSV (%(error)s)") % {"error": exc})
            continue
        if lines.bad:
            for bad in lines.bad:
                yield bad, _not_utf8()
            lines.bad.clear()
        lines.fresh = True
        if len(values) != width:
            if not values or (len(values) == 1 and not values[0].strip()):
                continue  # a blank line
            yield (
                lines.first,
                RowError(
                    _("expected %(expected)d columns, found %(found)d")
                    % {"expected": width, "found": len(values)}
                ),
            )
            continue
        yield lines.first, dict(zip(columns, values, strict=True))
    for bad in lines.bad:
        yield bad, _not_utf8()


def iter_jsonl(
    fileobj: BinaryIO | Iterable[bytes], lines: _Lines | None = None, *, what: str = "order"
):
    """Yield ``(line_number, dict | RowError)``: one JSON object per line, blank lines skipped."""
    for number, text in lines or _Lines(fileobj):
        if text is None:
            yield number, _not_utf8()
            continue
        if not text.strip():
            continue
        try:
            value = json.loads(text, parse_float=Decimal if what == "order" else float)
        except ValueError as exc:
            yield number, RowError(_("not valid JSON (%(error)s)") % {"error": exc})
            continue
        if not isinstance(value, dict):
            if what == "order":
                yield number, RowError(_("must be a JSON object, one order per line"))
            else:
                yield number, RowError(_("must be a JSON object, one mention per line"))
            continue
        yield number, value


def _guess_format(name: str, first_line: bytes) -> str:
    suffix = Path(name).suffix.lower()
    if suffix in CSV_SUFFIXES:
        return "csv"
    if suffix in JSONL_SUFFIXES:
        return "jsonl"
    return "jsonl" if first_line.lstrip(b"\xef\xbb\xbf \t").startswith(b"{") else "csv"


def orders_import(
    *,
    fileobj: BinaryIO,
    fmt: str | None = None,
    batch_size: int = 5000,
    progress: Callable[[ImportReport], Any] | None = None,
    max_errors_kept: int = 1000,
) -> ImportReport:
    """Import orders from a binary file object; good rows land even when others are rejected.

    Each batch is written in its own transaction. ``progress(report)`` runs after each batch.
    """
    report = ImportReport(max_errors_kept=max_errors_kept)
    first = fileobj.readline()
    fmt = fmt or _guess_format(getattr(fileobj, "name", "") or "", first)
    if fmt not in ("csv", "jsonl"):
        raise ValueError(f"unknown format {fmt!r}")
    lines = _Lines(itertools.chain([first] if first else [], fileobj))
    rows = (iter_csv if fmt == "csv" else iter_jsonl)(fileobj, lines=lines)
    batch: list[tuple[int, ValidOrder]] = []
    known_customers: dict[str, int] = {}

    def flush() -> None:
        report.bytes_read = lines.bytes_read
        if batch:
            _write_batch(batch, report, known_customers)
            batch.clear()
        if progress is not None:
            progress(report)

    # Parsing in a second thread while this one writes was tried: the GIL hand-offs around
    # every sqlite3 step / COPY row cost more than the overlap gained (benchmarks/orders_import.py).
    now = timezone.now()
    with _bulk_session():
        try:
            for line, row in rows:
                report.processed += 1
                if row.__class__ is RowError:
                    report.reject(line, row.reason)
                    continue
                try:
                    batch.append((line, order_row_validate(row, now=now)))
                except ValidationError as exc:
                    report.reject(line, validation_reason(exc))
                    continue
                if len(batch) >= batch_size:
                    flush()
        except ImportFileError as exc:
            report.file_error = str(exc)
            return report
        flush()
    return report


@contextmanager
def _bulk_session():
    """On SQLite, a larger page cache while importing — the order table's four secondary indexes
    are written in random order, and the default 2 MB cache makes that the import's main cost —
    and fewer WAL checkpoints (every 40 MB, not 4 MB): each rewrites the index pages the batches
    touched. Bounded (64 MB) and given back afterwards.

    On PostgreSQL, ``synchronous_commit = off`` for this session only: a batch's commit no longer
    waits for its WAL flush. A server crash can then lose the last fraction of a second of
    committed batches — never a partial batch — and re-running the import (orders are upserted
    by external id) restores them; the database itself stays consistent."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SET synchronous_commit TO off")
        try:
            yield
        finally:
            with connection.cursor() as cursor:
                cursor.execute("RESET synchronous_commit")
        return
    if connection.vendor != "sqlite":
        yield
        return
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA cache_size")
        cache = int(cursor.fetchone()[0])
        cursor.execute("PRAGMA wal_autocheckpoint")
        checkpoint = int(cursor.fetchone()[0])
        cursor.execute(f"PRAGMA cache_size = -{SQLITE_IMPORT_CACHE_KB}")
        cursor.execute("PRAGMA wal_autocheckpoint = 10000")
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute(f"PRAGMA cache_size = {cache}")
            cursor.execute(f"PRAGMA wal_autocheckpoint = {checkpoint}")


def _write_batch(
    batch: list[tuple[int, ValidOrder]], report: ImportReport, known: dict[str, int]
) -> None:
    try:
        result = orders_upsert(
            rows=[row for _line, row in batch],
            source="import",
            outcomes=False,
            known_customers=known,
        )
    except (IntegrityError, DataError):
        # Validation should have caught it; find the culprit row by row so the rest still lands.
        known.clear()  # the failed batch's new customers were rolled back with it
        for line, row in batch:
            try:
                one = orders_upsert(rows=[row], source="import", outcomes=False)
            except (IntegrityError, DataError) as exc:
                report.reject(line, _("could not be saved (%(error)s)") % {"error": exc})
            else:
                report.created += one.created
                report.updated += one.updated
        return
    report.created += result.created
    report.updated += result.updated


# --- Import jobs (the upload page) ------------------------------------------------------------


def upload_dir() -> Path:
    path = Path(settings.APIARY_UPLOAD_DIR)
    path.mkdir(parents=True, exist_ok=True)
    return path


def import_job_create(*, upload, kind: str, user) -> ImportJob:
    """Store an uploaded file under a random name outside the web root and queue its import.

    ``upload`` is a Django ``UploadedFile`` (already checked by the view). The task is enqueued
    when the transaction commits, so the worker never sees a job that is not there yet.
    """
    from django.db import transaction

    from apiary.customers.tasks import import_job_run

    suffix = Path(upload.name).suffix.lower()
    dest = upload_dir() / f"{kind}-{secrets.token_hex(16)}{suffix}"
    with dest.open("wb") as out:
        for chunk in upload.chunks():
            out.write(chunk)
    job = ImportJob.objects.create(
        kind=kind, filename=Path(upload.name).name[:255], path=str(dest), created_by=user
    )
    transaction.on_commit(lambda: import_job_run.enqueue(job.pk))
    return job
