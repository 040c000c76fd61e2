"""`apiary import orders FILE`: report text and exit codes."""

import io

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from apiary.customers.models import Order

pytestmark = pytest.mark.django_db

HEADER = "external_id,customer_email,ordered_at,currency,total"


def run(*args):
    out, err = io.StringIO(), io.StringIO()
    call_command("import", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_import_prints_counts_and_rejected_lines(tmp_path):
    # given
    path = tmp_path / "orders.csv"
    path.write_bytes(
        (
            f"{HEADER}\n"
            "A1,a@x.io,2024-01-01,EUR,10\n"
            "A2,b@x.io,2024-01-01,EUR,-1\n"
            "A3,c@x.io,2024-01-01,EUR,3.5\n"
        ).encode()
        + b"A4,d@x.io,2024-01-01,EUR,1,\xff\n"
    )
    # when
    out, err = run("orders", str(path), "--batch-size", "2")
    # then
    assert f"Imported orders from {path}: 4 rows read, 2 created, 0 updated, 2 rejected." in out
    assert "  line 3: total: must not be negative (got -1)" in out
    assert "  line 5: not valid UTF-8" in out
    assert "orders.csv" in err  # the progress bar, on stderr
    assert Order.objects.count() == 2


def test_a_second_run_updates_instead_of_creating(tmp_path):
    path = tmp_path / "orders.jsonl"
    path.write_text(
        '{"external_id": "J1", "customer_email": "a@x.io", '
        '"ordered_at": "2024-01-01", "currency": "EUR", "total": "1"}\n'
    )
    run("orders", str(path))
    out, _err = run("orders", str(path), "--format", "jsonl")
    assert "1 rows read, 0 created, 1 updated, 0 rejected." in out
    assert "Rejected lines" not in out


def test_only_the_first_50_rejected_lines_are_printed(tmp_path):
    path = tmp_path / "orders.csv"
    path.write_text(HEADER + "\n" + "".join(f"B{i},a@x.io,2024-01-01,EUR,-1\n" for i in range(60)))
    out, _err = run("orders", str(path))
    assert "  line 51: " in out
    assert "  line 52: " not in out
    assert "  … and 10 more rejected lines." in out


def test_a_file_with_missing_columns_exits_1_and_says_why(tmp_path):
    # given
    path = tmp_path / "orders.csv"
    path.write_text("id;email;date\n1;a@x.io;2024-01-01\n")
    # when
    with pytest.raises(CommandError) as caught:
        run("orders", str(path))
    # then
    assert caught.value.returncode == 1
    assert "was not imported: Missing required columns: external_id" in str(caught.value)
    assert not Order.objects.exists()


def test_a_missing_file_exits_1(tmp_path):
    with pytest.raises(CommandError) as caught:
        run("orders", str(tmp_path / "nope.csv"))
    assert caught.value.returncode == 1
    assert "Cannot read" in str(caught.value)
    assert "No such file or directory" in str(caught.value)


def test_an_unknown_kind_is_refused():
    with pytest.raises(CommandError, match="invalid choice"):
        run("planets", "x.csv")


def test_cli_import_leaves_an_audit_entry(tmp_path):
    # given
    from django.core.management import call_command

    from apiary.accounts.models import AuditEntry

    path = tmp_path / "audit.csv"
    path.write_text(
        "external_id,customer_email,ordered_at,currency,total\n"
        "CLI-1,cli@example.com,2025-03-01,EUR,10.00\n"
        "CLI-2,cli@example.com,2025-03-02,XXX,10.00\n"
    )
    # when
    call_command("import", "orders", str(path), stdout=io.StringIO(), stderr=io.StringIO())
    # then
    entry = AuditEntry.objects.get(action="orders.import")
    assert entry.target_id == "audit.csv"
    assert entry.summary == "CLI: 1 created, 0 updated, 1 rejected"
