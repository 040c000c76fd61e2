"""The import page: upload → background job → report; and the job task itself."""

from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from apiary.accounts.models import AuditEntry, Role
from apiary.customers.models import ImportJob, Order
from apiary.customers.tasks import import_job_run

pytestmark = pytest.mark.django_db

CSV = (
    b"external_id;customer_email;ordered_at;currency;total\n"
    b"V1;ann@x.io;2024-03-01;EUR;10.00\n"
    b"V2;bob@x.io;2024-03-02;EUR;-2\n"
    b"V3;cy@x.io;2024-03-03;GBP;7\n"
)


@pytest.fixture(autouse=True)
def _uploads_and_tasks(settings, tmp_path):
    settings.APIARY_UPLOAD_DIR = tmp_path / "uploads"
    settings.TASKS = {"default": {"BACKEND": "django_tasks.backends.immediate.ImmediateBackend"}}


@pytest.fixture
def staff(make_user):
    def login(role=Role.CARE_AGENT):
        client = Client()
        client.force_login(make_user(role))
        return client

    return login


def upload(client, name="orders.csv", content=CSV):
    return client.post(reverse("customers:import"), {"file": SimpleUploadedFile(name, content)})


def test_upload_runs_the_import_and_the_job_page_shows_the_report(
    staff, settings, django_capture_on_commit_callbacks
):
    # given
    client = staff()
    # when
    with django_capture_on_commit_callbacks(execute=True):
        res = upload(client)
    # then
    job = ImportJob.objects.get()
    assert res.status_code == 302
    assert res.url == reverse("customers:import_job", args=[job.pk])
    assert job.status == ImportJob.Status.DONE
    assert (job.processed, job.created, job.updated, job.rejected) == (3, 2, 0, 1)
    assert job.errors == [{"line": 3, "reason": "total: must not be negative (got -2)"}]
    stored = Path(job.path)
    assert stored.parent == Path(settings.APIARY_UPLOAD_DIR)
    assert stored.name != "orders.csv" and stored.suffix == ".csv"
    assert stored.read_bytes() == CSV
    assert job.filename == "orders.csv"
    assert set(Order.objects.values_list("external_id", flat=True)) == {"V1", "V3"}
    audit = AuditEntry.objects.get(action="orders.import")
    assert (audit.actor, audit.target_id) == (job.created_by, str(job.pk))
    assert audit.summary == "orders.csv: 2 created, 0 updated, 1 rejected"
    page = client.get(res.url)
    assert page.status_code == 200
    html = page.content.decode()
    assert "total: must not be negative (got -2)" in html
    assert 'hx-trigger="every 1s"' not in html  # finished: no more polling
    assert "orders.csv" in client.get(reverse("customers:import")).content.decode()


def test_a_queued_job_polls_with_htmx_and_answers_a_fragment(staff):
    # given
    job = ImportJob.objects.create(kind="orders", filename="big.csv", path="/nonexistent")
    client = staff()
    # when
    full = client.get(reverse("customers:import_job", args=[job.pk]))
    fragment = client.get(reverse("customers:import_job", args=[job.pk]), HTTP_HX_REQUEST="true")
    # then
    assert full.status_code == fragment.status_code == 200
    assert "<html" in full.content.decode()
    body = fragment.content.decode()
    assert "<html" not in body
    assert 'hx-trigger="every 1s"' in body
    assert f'hx-get="{reverse("customers:import_job", args=[job.pk])}"' in body


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("orders.xlsx", b"PK\x03\x04", "Upload a CSV"),
        ("orders.csv", b"PK\x03\x04\x00\x00zip", "This is not a text file"),
        ("orders.csv", b"", "The file is empty."),
    ],
)
def test_bad_uploads_are_refused_with_a_reason(staff, name, content, message):
    # when
    res = upload(staff(), name=name, content=content)
    # then
    assert res.status_code == 400
    assert message in res.content.decode()
    assert not ImportJob.objects.exists()


def test_an_upload_above_the_size_limit_is_refused(staff, settings):
    settings.APIARY_MAX_BODY_BYTES = 100
    res = upload(staff(), content=CSV * 3)
    assert res.status_code == 413
    assert not ImportJob.objects.exists()


def test_posting_without_a_file_says_so(staff):
    res = staff().post(reverse("customers:import"), {})
    assert res.status_code == 400
    assert "Choose a file" in res.content.decode()


@pytest.mark.parametrize("role", [Role.ANALYST, Role.COMMUNITY_MANAGER, Role.MEMBER])
def test_roles_without_customers_edit_get_403(staff, role):
    # given
    client = staff(role)
    job = ImportJob.objects.create(kind="orders", filename="x.csv")
    # then
    assert client.get(reverse("customers:import")).status_code == 403
    assert upload(client).status_code == 403
    assert client.get(reverse("customers:import_job", args=[job.pk])).status_code == 403
    assert ImportJob.objects.count() == 1


def test_anonymous_visitors_are_sent_to_log_in():
    res = Client().get(reverse("customers:import"))
    assert res.status_code == 302
    assert "/accounts/login/" in res.url


def test_running_a_job_again_reimports_idempotently(tmp_path):
    # given
    path = tmp_path / "again.csv"
    path.write_bytes(CSV)
    job = ImportJob.objects.create(kind="orders", filename="again.csv", path=str(path))
    import_job_run.call(job.pk)
    # when
    import_job_run.call(job.pk)
    # then
    job.refresh_from_db()
    assert job.status == ImportJob.Status.DONE
    assert (job.processed, job.created, job.updated, job.rejected) == (3, 0, 2, 1)
    assert Order.objects.count() == 2


def test_a_job_whose_file_is_gone_or_unreadable_fails_with_a_message(tmp_path):
    # given
    gone = ImportJob.objects.create(kind="orders", filename="a.csv", path=str(tmp_path / "no"))
    bad = tmp_path / "bad.csv"
    bad.write_bytes(b"foo,bar\n1,2\n")
    broken = ImportJob.objects.create(kind="orders", filename="bad.csv", path=str(bad))
    # when
    import_job_run.call(gone.pk)
    import_job_run.call(broken.pk)
    # then
    gone.refresh_from_db()
    broken.refresh_from_db()
    assert gone.status == broken.status == ImportJob.Status.FAILED
    assert gone.message.startswith("The uploaded file cannot be read")
    assert broken.message.startswith("Missing required columns")
    assert gone.finished_at is not None
