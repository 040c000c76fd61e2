"""`apiary import KIND FILE`: import a file with a progress bar and a final report.

    apiary import orders orders.csv [--format csv|jsonl] [--batch-size 20000]

Exit code 0 when the file was processed (even with rejected rows), 1 when it could not be read
at all. Each importable kind is one entry in ``IMPORTERS`` (orders, mentions).
"""

from __future__ import annotations

import gc
import os
import sys
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.utils.module_loading import import_string
from tqdm import tqdm

# kind -> dotted path of a function(*, fileobj, fmt, batch_size, progress) -> report with
# processed / created / updated / rejected / errors [{line, reason}] / file_error.
IMPORTERS: dict[str, str] = {
    "orders": "apiary.customers.importers.orders_import",
    "mentions": "apiary.listening.importers.mentions_import",
}
SHOWN_ERRORS = 50


class Command(BaseCommand):
    help = (
        "Import a file (orders or mentions: CSV or JSON Lines) and print a report of rejected "
        "lines."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("kind", choices=sorted(IMPORTERS), help="what the file holds")
        parser.add_argument("file", help="path of the file to import")
        parser.add_argument(
            "--format",
            dest="fmt",
            choices=["csv", "jsonl"],
            default=None,
            help="file format (default: guessed from the name, then the content)",
        )
        parser.add_argument(
            "--batch-size",
            type=int,
            default=20000,
            help="rows per transaction (default 20000: on SQLite every commit rewrites the index "
            "pages it touched, so fewer, larger batches import much faster)",
        )

    def handle(self, *args, kind: str, file: str, fmt: str | None, batch_size: int, **options):
        if batch_size < 1:
            raise CommandError("--batch-size must be at least 1.", returncode=2)
        importer = import_string(IMPORTERS[kind])
        path = Path(file)
        try:
            fileobj = path.open("rb")
            size = path.stat().st_size
        except OSError as exc:
            raise CommandError(
                f"Cannot read {file}: {exc.strerror or exc}.", returncode=1
            ) from None
        # The bar goes to stderr so the report on stdout stays clean for pipes and logs.
        out = getattr(self.stderr, "_out", sys.stderr)
        with fileobj, tqdm(total=size, unit="B", unit_scale=True, desc=path.name, file=out) as bar:

            def progress(report) -> None:
                bar.update(report.bytes_read - bar.n)
                bar.set_postfix(rows=report.processed, rejected=report.rejected, refresh=False)

            # Objects alive now (Django, the app) never become garbage during the import; freezing
            # them keeps the cyclic GC from rescanning them for every batch (~5% of the run).
            gc.freeze()
            try:
                report = importer(
                    fileobj=fileobj, fmt=fmt, batch_size=batch_size, progress=progress
                )
            finally:
                gc.unfreeze()
        if report.file_error:
            raise CommandError(f"{file} was not imported: {report.file_error}", returncode=1)
        from apiary.accounts.services import audit_record

        # Same trail as an upload from the web page: who imported what (the OS user runs the CLI).
        audit_record(
            actor=None,
            action=f"{kind}.import",
            target_type="file",
            target_id=os.path.basename(file)[:64],
            summary=f"CLI: {report.created} created, {report.updated} updated, "
            f"{report.rejected} rejected",
        )
        self._print_report(kind, file, report)

    def _print_report(self, kind: str, file: str, report) -> None:
        summary = getattr(report, "summary", None)
        if summary is not None:
            self.stdout.write(summary(kind, file))
        else:
            self.stdout.write(
                f"Imported {kind} from {file}: {report.processed} rows read, "
                f"{report.created} created, {report.updated} updated, {report.rejected} rejected."
            )
        if not report.rejected:
            return
        self.stdout.write("Rejected lines:")
        for error in report.errors[:SHOWN_ERRORS]:
            self.stdout.write(f"  line {error['line']}: {error['reason']}")
        rest = report.rejected - min(len(report.errors), SHOWN_ERRORS)
        if rest > 0:
            self.stdout.write(f"  … and {rest} more rejected lines.")
