"""The import page: upload an orders file, then watch its job (htmx polling) and read the report.

The import itself runs in the background (``tasks.import_job_run``); the page only stores the
file outside the web root and shows the job's counters as batches complete.
"""

from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.cache import patch_vary_headers
from django.utils.translation import gettext as _

from apiary.accounts.access import Perm, permission_required
from apiary.customers.importers import CSV_SUFFIXES, JSONL_SUFFIXES, import_job_create
from apiary.customers.models import ImportJob

RECENT_JOBS = 10
SNIFF_BYTES = 4096
_ACTIVE = (ImportJob.Status.QUEUED, ImportJob.Status.RUNNING)


def _upload_problem(upload) -> str | None:
    """Why this upload cannot be an orders file, or None. Checks name, size and first bytes."""
    if upload is None:
        return _("Choose a file to upload.")
    suffix = Path(upload.name).suffix.lower()
    if suffix not in CSV_SUFFIXES | JSONL_SUFFIXES:
        return _("Upload a CSV (.csv, .tsv, .txt) or JSON Lines (.jsonl, .ndjson, .json) file.")
    if upload.size > settings.APIARY_MAX_BODY_BYTES:
        return _("The file is too large (limit %(limit)s bytes).") % {
            "limit": settings.APIARY_MAX_BODY_BYTES
        }
    if upload.size == 0:
        return _("The file is empty.")
    head = next(upload.chunks(SNIFF_BYTES), b"")[:SNIFF_BYTES]
    upload.seek(0)
    # Text files never hold NUL bytes; spreadsheets, archives and images always do.
    if b"\x00" in head:
        return _(
            "This is not a text file. Export the orders as CSV or JSON Lines "
            "(a spreadsheet file cannot be read)."
        )
    return None


@permission_required(Perm.CUSTOMERS_EDIT)
def import_page(request: HttpRequest) -> HttpResponse:
    error = None
    status = 200
    if request.method == "POST":
        upload = request.FILES.get("file")
        error = _upload_problem(upload)
        if error is None:
            job = import_job_create(upload=upload, kind="orders", user=request.user)
            return redirect("customers:import_job", job_id=job.pk)
        status = 400
    return _page(request, error=error, status=status)


def _page(request: HttpRequest, *, status: int = 200, **extra) -> HttpResponse:
    # One template for both pages: the upload form, the job being watched, the recent jobs.
    context = {
        "error": None,
        "job": None,
        "jobs": ImportJob.objects.select_related("created_by")[:RECENT_JOBS],
        "max_bytes": settings.APIARY_MAX_BODY_BYTES,
        "section": "customers",
        **extra,
    }
    return render(request, "customers/import.html", context, status=status)


@permission_required(Perm.CUSTOMERS_EDIT)
def import_job(request: HttpRequest, job_id: int) -> HttpResponse:
    job = get_object_or_404(ImportJob, pk=job_id)
    context = {"job": job, "polling": job.status in _ACTIVE}
    if getattr(request, "htmx", False):
        response = render(request, "customers/_import_job.html", context)
    else:
        response = _page(request, **context)
    patch_vary_headers(response, ["HX-Request"])
    return response
