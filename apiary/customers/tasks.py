"""Background tasks of the customers app (django-tasks, database queue).

Every task is idempotent: running an import job again re-imports its file, and orders are
upserted by external id, so the second run changes nothing but the counters.
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django_tasks import task

from apiary.accounts.services import audit_record
from apiary.customers.models import ImportJob

logger = logging.getLogger(__name__)


def _runner(kind: str):
    from apiary.customers.importers import orders_import

    # One entry per importable kind; a later issue adds "mentions" here.
    return {"orders": orders_import}.get(kind)


@task()
def import_job_run(job_id: int) -> str:
    job = ImportJob.objects.select_related("created_by").filter(pk=job_id).first()
    if job is None:
        return "missing"
    # The report's reasons are stored as text: write them in the language of who uploaded.
    language = getattr(job.created_by, "language", "") or settings.LANGUAGE_CODE
    with translation.override(language):
        return _run(job)


def _run(job: ImportJob) -> str:
    run = _runner(job.kind)
    ImportJob.objects.filter(pk=job.pk).update(
        status=ImportJob.Status.RUNNING,
        started_at=timezone.now(),
        finished_at=None,
        processed=0,
        created=0,
        updated=0,
        rejected=0,
        errors=[],
        message="",
    )
    if run is None:
        return _finish(job, ImportJob.Status.FAILED, _("Unknown import kind: %s") % job.kind)

    def progress(report) -> None:
        # Counters only: the page polls them; the error list is written once at the end.
        ImportJob.objects.filter(pk=job.pk).update(
            processed=report.processed,
            created=report.created,
            updated=report.updated,
            rejected=report.rejected,
        )

    try:
        with open(job.path, "rb") as fileobj:
            report = run(fileobj=fileobj, progress=progress)
    except OSError as exc:
        return _finish(
            job, ImportJob.Status.FAILED, _("The uploaded file cannot be read: %s") % exc.strerror
        )
    except Exception:
        logger.exception("Import job %s failed", job.pk)
        _finish(job, ImportJob.Status.FAILED, _("The import stopped with an internal error."))
        raise
    ImportJob.objects.filter(pk=job.pk).update(
        processed=report.processed,
        created=report.created,
        updated=report.updated,
        rejected=report.rejected,
        errors=report.errors,
    )
    audit_record(
        actor=job.created_by,
        action=f"{job.kind}.import",
        target_type="import_job",
        target_id=job.pk,
        summary=f"{job.filename}: {report.created} created, {report.updated} updated, "
        f"{report.rejected} rejected",
    )
    if report.file_error:
        return _finish(job, ImportJob.Status.FAILED, report.file_error)
    return _finish(job, ImportJob.Status.DONE, "")


def _finish(job: ImportJob, status: str, message: str) -> str:
    ImportJob.objects.filter(pk=job.pk).update(
        status=status, message=message[:500], finished_at=timezone.now()
    )
    return status
