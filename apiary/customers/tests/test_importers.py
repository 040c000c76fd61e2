"""Streaming CSV / JSON Lines parsing and ``orders_import`` on a real database."""

import io
import json
from decimal import Decimal

import pytest

from apiary.customers.importers import RowError, iter_csv, iter_jsonl, orders_import
from apiary.customers.models import Customer, Order

HEADER = "external_id,customer_email,customer_external_id,ordered_at,currency,total,items,channel"


def csv_file(*lines: str, header: str = HEADER, name: str = "orders.csv") -> io.BytesIO:
    data = io.BytesIO("\n".join([header, *lines]).encode() + b"\n")
    data.name = name
    return data


def jsonl_file(*objects, name: str = "orders.jsonl") -> io.BytesIO:
    lines = [o if isinstance(o, str) else json.dumps(o) for o in objects]
    data = io.BytesIO(("\n".join(lines) + "\n").encode())
    data.name = name
    return data


# --- Parsers ------------------------------------------------------------------------------------


@pytest.mark.parametrize("delimiter", [",", ";", "\t"])
def test_iter_csv_guesses_the_delimiter_from_the_header(delimiter):
    # given
    header = delimiter.join(["external_id", "customer_email", "ordered_at", "currency", "total"])
    values = delimiter.join(["O1", "a@x.io", "2024-01-01", "EUR", "1"])
    text = f"{header}\n{values}\n"
    # when
    rows = list(iter_csv(io.BytesIO(text.encode())))
    # then
    assert rows == [
        (
            2,
            {
                "external_id": "O1",
                "customer_email": "a@x.io",
                "ordered_at": "2024-01-01",
                "currency": "EUR",
                "total": "1",
            },
        )
    ]


def test_iter_csv_reports_bad_bytes_per_line_and_keeps_going():
    # given: line 3 is Latin-1, and the file starts with a UTF-8 BOM
    data = b"\xef\xbb\xbf" + HEADER.encode() + b"\n"
    data += b"O1,a@x.io,,2024-01-01,EUR,1,,web\n"
    data += b"O2,caf\xe9@x.io,,2024-01-01,EUR,1,,web\n"
    data += b"O3,c@x.io,,2024-01-01,EUR,1,,web\n"
    # when
    rows = list(iter_csv(io.BytesIO(data)))
    # then
    assert [(n, r if isinstance(r, RowError) else r["external_id"]) for n, r in rows] == [
        (2, "O1"),
        (3, RowError("not valid UTF-8")),
        (4, "O3"),
    ]


def test_iter_csv_numbers_a_quoted_multi_line_record_by_its_first_line():
    f = csv_file('O1,a@x.io,,2024-01-01,EUR,1,"[\n]",web', "O2,b@x.io,,2024-01-01,EUR,1,,web")
    assert [n for n, _row in iter_csv(f)] == [2, 4]


def test_iter_csv_rejects_a_row_with_the_wrong_number_of_columns():
    rows = list(iter_csv(csv_file("O1,a@x.io,2024-01-01")))
    assert rows == [(2, RowError("expected 8 columns, found 3"))]


def test_iter_jsonl_yields_objects_and_reasons():
    # given
    f = jsonl_file({"external_id": "O1", "total": 1.5}, "", "[1, 2]", "{oops", name="x")
    # when
    rows = list(iter_jsonl(f))
    # then
    assert rows[0] == (1, {"external_id": "O1", "total": Decimal("1.5")})
    assert rows[1] == (3, RowError("must be a JSON object, one order per line"))
    assert rows[2][0] == 4
    assert rows[2][1].reason.startswith("not valid JSON")


# --- orders_import: bad input -------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("header", "message"),
    [
        (
            HEADER.replace(",", "|"),
            "Missing required columns: external_id, ordered_at, currency, total, "
            "customer_external_id or customer_email. The header has only one column",
        ),
        (
            "external_id,customer_email,ordered_at,total",
            "Missing required columns: currency.",
        ),
        ("external_id,ordered_at,currency,total", "customer_external_id or customer_email"),
    ],
)
def test_a_file_without_the_required_columns_is_rejected_as_a_whole(header, message):
    # when
    report = orders_import(fileobj=csv_file("O1,a@x.io,,2024-01-01,EUR,1,,web", header=header))
    # then
    assert message in report.file_error
    assert report.processed == 0
    assert not Order.objects.exists()


@pytest.mark.django_db
def test_an_empty_file_and_a_binary_header_are_file_errors():
    empty = io.BytesIO(b"")
    empty.name = "orders.csv"
    assert "empty" in orders_import(fileobj=empty).file_error
    binary = io.BytesIO(b"\xff\xfeexternal_id\n")
    binary.name = "orders.csv"
    assert "not valid UTF-8" in orders_import(fileobj=binary).file_error


@pytest.mark.django_db
def test_good_rows_land_next_to_rejected_ones_with_line_numbers_and_reasons():
    # given
    f = csv_file(
        "O1,ann@x.io,,2024-01-01,EUR,10.00,,web",
        "O2,bob@x.io,,31.12.2024,EUR,10,,web",
        "O3,cy@x.io,,2024-01-02,EUR,-4,,web",
        "O4,dee@x.io,,2024-01-02,ZZZ,4,,web",
        'O5,eve@x.io,,2024-01-02,EUR,4,"[{""sku"": ""A""}]",web',
        "O6,,,2024-01-02,EUR,4,,web",
        "O7,fay@x.io,,2024-01-02,EUR,4.999,,web",
        "O8,gus@x.io,,2024-01-03,usd,7.5,,shop",
    )
    # when
    report = orders_import(fileobj=f, batch_size=2)
    # then
    assert (report.processed, report.created, report.updated, report.rejected) == (8, 2, 0, 6)
    reasons = {e["line"]: e["reason"] for e in report.errors}
    assert reasons[3].startswith("ordered_at: must be an ISO 8601 date")
    assert reasons[4] == "total: must not be negative (got -4)"
    assert reasons[5] == "currency: must be an ISO 4217 currency code such as EUR (got 'ZZZ')"
    assert reasons[6].startswith("items.0.quantity: must be a whole number greater than 0")
    assert reasons[7] == "customer_email: customer_external_id or customer_email is required"
    assert reasons[8] == "total: must have at most 2 decimals (got 4.999)"
    assert set(Order.objects.values_list("external_id", flat=True)) == {"O1", "O8"}
    assert Order.objects.get(external_id="O8").total == Decimal("7.50")
    assert Customer.objects.count() == 2


@pytest.mark.django_db
def test_non_utf8_bytes_reject_only_that_line():
    # given
    data = (HEADER + "\nO1,a@x.io,,2024-01-01,EUR,1,,web\n").encode()
    data += "O2,b@x.io,,2024-01-01,EUR,1,,Café\n".encode("latin-1")
    f = io.BytesIO(data)
    # when
    report = orders_import(fileobj=f, fmt="csv")
    # then
    assert report.errors == [{"line": 3, "reason": "not valid UTF-8"}]
    assert list(Order.objects.values_list("external_id", flat=True)) == ["O1"]


@pytest.mark.django_db
def test_reimporting_the_same_file_is_idempotent():
    # given
    lines = [f"O{i},c{i % 3}@x.io,,2024-01-0{1 + i % 9},EUR,{i}.50,,web" for i in range(10)]
    orders_import(fileobj=csv_file(*lines), batch_size=4)
    before = list(Order.objects.order_by("external_id").values_list("external_id", "total"))
    # when
    again = orders_import(fileobj=csv_file(*lines), batch_size=4)
    # then
    assert (again.created, again.updated, again.rejected) == (0, 10, 0)
    assert list(Order.objects.order_by("external_id").values_list("external_id", "total")) == before
    assert Customer.objects.count() == 3


@pytest.mark.django_db
def test_duplicate_external_ids_in_a_file_the_later_row_wins_across_batches():
    # given: O1 three times, in different batches
    f = csv_file(
        "O1,a@x.io,,2024-01-01,EUR,1,,web",
        "O2,a@x.io,,2024-01-01,EUR,2,,web",
        "O1,a@x.io,,2024-01-01,EUR,3,,web",
        "O1,a@x.io,,2024-01-01,EUR,4,,shop",
    )
    # when
    report = orders_import(fileobj=f, batch_size=2)
    # then
    assert (report.processed, report.created, report.updated) == (4, 2, 2)
    order = Order.objects.get(external_id="O1")
    assert (order.total, order.channel) == (Decimal("4.00"), "shop")


@pytest.mark.django_db
def test_jsonl_import_with_format_guessed_from_content():
    # given
    f = jsonl_file(
        {
            "external_id": "J1",
            "customer_external_id": 501,
            "ordered_at": "2024-02-01T09:00:00+01:00",
            "currency": "SEK",
            "total": 99.9,
            "items": [{"sku": "S", "name": "Mug", "quantity": 3, "price": 33.3}],
        },
        {"external_id": "J2", "customer_email": "x@y.io", "ordered_at": "2024-02-01"},
        name="upload.bin",
    )
    # when
    report = orders_import(fileobj=f)
    # then
    assert (report.created, report.rejected) == (1, 1)
    assert report.errors[0]["line"] == 2
    assert report.errors[0]["reason"] == "currency: is required; total: is required"
    order = Order.objects.get(external_id="J1")
    assert order.total == Decimal("99.90")
    assert order.items == [{"sku": "S", "name": "Mug", "quantity": 3, "price": "33.30"}]
    assert order.customer.external_id == "501"


@pytest.mark.django_db
def test_progress_is_reported_per_batch_and_errors_are_capped():
    # given
    lines = [f"O{i},a@x.io,,2024-01-01,EUR,{'-1' if i % 2 else '1'},,web" for i in range(20)]
    seen = []
    # when
    report = orders_import(
        fileobj=csv_file(*lines),
        batch_size=3,
        max_errors_kept=4,
        progress=lambda r: seen.append((r.processed, r.bytes_read)),
    )
    # then
    assert (report.processed, report.created, report.rejected) == (20, 10, 10)
    assert len(report.errors) == 4
    assert [p for p, _b in seen] == [5, 11, 17, 20]  # after every 3rd good row, then the end
    assert seen[-1][1] == len(csv_file(*lines).getvalue())


@pytest.mark.django_db
def test_windows_line_endings_quoted_fields_and_tabs_are_read():
    # given: a spreadsheet export — BOM, CRLF, tab-separated, quotes inside a quoted field
    data = "\ufeffexternal_id\tcustomer_email\tordered_at\tcurrency\ttotal\titems\r\n"
    data += 'T1\tAnn@X.io\t2024-01-01T10:00:00+03:00\tEUR\t5\t"[{""sku"": ""A"", '
    data += '""name"": ""Tea, \\""green\\"""", ""quantity"": 1, ""price"": ""5""}]"\r\n'
    f = io.BytesIO(data.encode())
    f.name = "export.tsv"
    # when
    report = orders_import(fileobj=f)
    # then
    assert (report.created, report.rejected, report.file_error) == (1, 0, None)
    order = Order.objects.get()
    assert order.items[0]["name"] == 'Tea, "green"'
    assert order.customer.email == "ann@x.io"
    assert order.ordered_at.hour == 7


@pytest.mark.django_db
def test_a_repeated_new_id_in_one_batch_counts_once_as_created_then_as_updated():
    f = csv_file(
        "D1,a@x.io,,2024-01-01,EUR,1,,web",
        "D1,a@x.io,,2024-01-01,EUR,2,,web",
        "D2,a@x.io,,2024-01-01,EUR,3,,web",
    )
    report = orders_import(fileobj=f)
    assert (report.processed, report.created, report.updated) == (3, 2, 1)
    assert Order.objects.get(external_id="D1").total == Decimal("2.00")


@pytest.mark.django_db
def test_a_batch_the_database_refuses_is_retried_row_by_row(monkeypatch):
    # given: the database refuses any batch holding order "BAD" (as a race or a driver limit
    # the validator cannot foresee would)
    from django.db import IntegrityError

    from apiary.customers import importers

    real = importers.orders_upsert

    def refusing(*, rows, **kwargs):
        if any(r.external_id == "BAD" for r in rows):
            raise IntegrityError("duplicate key value violates unique constraint")
        return real(rows=rows, **kwargs)

    monkeypatch.setattr(importers, "orders_upsert", refusing)
    f = csv_file(
        "G1,a@x.io,,2024-01-01,EUR,1,,web",
        "BAD,a@x.io,,2024-01-01,EUR,1,,web",
        "G2,a@x.io,,2024-01-01,EUR,1,,web",
    )
    # when
    report = orders_import(fileobj=f)
    # then
    assert (report.created, report.rejected) == (2, 1)
    assert report.errors == [
        {"line": 3, "reason": "could not be saved (duplicate key value violates unique constraint)"}
    ]
    assert set(Order.objects.values_list("external_id", flat=True)) == {"G1", "G2"}
