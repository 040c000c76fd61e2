"""Order row validation, the batched upsert, and the orders API."""

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from apiary.accounts.models import AuditEntry, Role
from apiary.customers.models import Customer, LifecycleStage, Order
from apiary.customers.services.orders import (
    order_row_validate,
    orders_upsert,
    validation_reason,
)

GOOD = {
    "external_id": "O-1",
    "customer_email": "Ann@Example.com",
    "ordered_at": "2024-05-01T10:00:00Z",
    "currency": "eur",
    "total": "12.50",
    "items": '[{"sku": "B1", "name": "Beans", "quantity": 2, "price": 6.25}]',
    "channel": "web",
}


def row(**changes):
    data = {**GOOD, **changes}
    return {k: v for k, v in data.items() if v is not ...}


# --- Validation ---------------------------------------------------------------------------------


def test_a_good_row_is_normalised():
    # when
    order = order_row_validate(row())
    # then
    assert order.external_id == "O-1"
    assert order.customer_email == "ann@example.com"
    assert order.ordered_at == datetime(2024, 5, 1, 10, tzinfo=UTC)
    assert order.currency == "EUR"
    assert order.total == Decimal("12.50")
    assert order.items == [{"sku": "B1", "name": "Beans", "quantity": 2, "price": "6.25"}]


def test_a_naive_time_and_a_plain_date_are_utc_and_offsets_are_converted():
    assert order_row_validate(row(ordered_at="2024-05-01")).ordered_at == datetime(
        2024, 5, 1, tzinfo=UTC
    )
    assert order_row_validate(row(ordered_at="2024-05-01 12:30")).ordered_at == datetime(
        2024, 5, 1, 12, 30, tzinfo=UTC
    )
    assert order_row_validate(row(ordered_at="2024-05-01T12:00:00+02:00")).ordered_at == datetime(
        2024, 5, 1, 10, tzinfo=UTC
    )


def test_json_numbers_are_accepted_exactly():
    order = order_row_validate(row(total=19.99, items=[{"sku": 7, "quantity": 1, "price": 5}]))
    assert order.total == Decimal("19.99")
    assert order.items == [{"sku": "7", "name": "", "quantity": 1, "price": "5.00"}]


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"external_id": ""}, "external_id: is required"),
        (
            {"customer_email": ..., "customer_external_id": ...},
            "customer_email: customer_external_id or customer_email is required",
        ),
        (
            {"customer_email": "not-an-email"},
            "customer_email: is not a valid e-mail address (got 'not-an-email')",
        ),
        (
            {"ordered_at": "31/12/2024"},
            "ordered_at: must be an ISO 8601 date or date and time, e.g. 2024-05-31T14:05:00Z "
            "(got '31/12/2024')",
        ),
        (
            {"ordered_at": "1999-12-31"},
            "ordered_at: must not be before 2000-01-01 (got 1999-12-31)",
        ),
        ({"ordered_at": ...}, "ordered_at: is required"),
        ({"total": "-5"}, "total: must not be negative (got -5)"),
        ({"total": "1.234"}, "total: must have at most 2 decimals (got 1.234)"),
        ({"total": "12,50"}, "total: must be a number like 12.50 (got '12,50')"),
        ({"total": "NaN"}, "total: must be a number like 12.50 (got 'NaN')"),
        ({"total": True}, "total: must be a number"),
        (
            {"currency": "XYZ"},
            "currency: must be an ISO 4217 currency code such as EUR (got 'XYZ')",
        ),
        ({"currency": ""}, "currency: is required"),
        ({"items": "[{"}, "items: must be a JSON list of items"),
        (
            {"items": '{"sku": "B1"}'},
            "items: must be a list of {sku, name, quantity, price} objects",
        ),
        (
            {"items": '[{"sku": "B1", "quantity": 0, "price": "1"}]'},
            "items.0.quantity: must be a whole number greater than 0",
        ),
        (
            {"items": '[{"sku": "B1", "quantity": 1.5, "price": "1"}]'},
            "items.0.quantity: must be a whole number greater than 0",
        ),
        (
            {"items": '[{"quantity": 1, "price": "1"}]'},
            "items.0.sku: is required (text)",
        ),
        (
            {"items": '[{"sku": "B1", "quantity": 1, "price": "-1"}]'},
            "items.0.price: must not be negative (got -1)",
        ),
        ({"external_id": ["x"]}, "external_id: must be text"),
        ({"channel": "c" * 41}, "channel: must be at most 40 characters long"),
    ],
)
def test_each_bad_value_is_rejected_with_a_reason_naming_the_column(changes, reason):
    # when
    with pytest.raises(ValidationError) as caught:
        order_row_validate(row(**changes))
    # then
    assert validation_reason(caught.value).startswith(reason)


def test_a_date_more_than_a_day_ahead_is_rejected_but_tomorrow_is_fine():
    soon = (timezone.now() + timedelta(hours=20)).isoformat()
    later = (timezone.now() + timedelta(days=2)).date().isoformat()
    assert order_row_validate(row(ordered_at=soon))
    with pytest.raises(ValidationError, match="must not be in the future"):
        order_row_validate(row(ordered_at=later))


def test_every_problem_of_a_row_is_reported_not_just_the_first():
    with pytest.raises(ValidationError) as caught:
        order_row_validate(row(total="-1", currency="ABC", ordered_at="yesterday"))
    assert set(caught.value.message_dict) == {"total", "currency", "ordered_at"}


def test_a_value_that_is_not_an_object_never_crashes():
    with pytest.raises(ValidationError, match="must be an object"):
        order_row_validate(["O-1"])


# --- Upsert -------------------------------------------------------------------------------------


def valid(**changes):
    return order_row_validate(row(**changes))


@pytest.mark.django_db
def test_upsert_creates_orders_and_missing_customers():
    # when
    result = orders_upsert(
        rows=[
            valid(external_id="O-1", customer_email="ann@example.com", customer_external_id="C1"),
            valid(external_id="O-2", customer_email=..., customer_external_id="C2"),
        ],
        source="import",
    )
    # then
    assert (result.created, result.updated) == (2, 0)
    ann = Customer.objects.get(external_id="C1")
    assert ann.email == "ann@example.com"
    assert ann.lifecycle_stage == LifecycleStage.CUSTOMER
    assert Order.objects.get(external_id="O-1").customer == ann
    assert Order.objects.get(external_id="O-2").customer.external_id == "C2"


@pytest.mark.django_db
def test_upsert_matches_customers_by_email_case_insensitively_and_by_external_id():
    # given
    ann = Customer.objects.create(email="Ann@Example.com", name="Ann")
    bob = Customer.objects.create(external_id="C-BOB", email="bob@example.com")
    # when
    orders_upsert(
        rows=[
            valid(external_id="O-1", customer_email="ANN@example.COM"),
            valid(external_id="O-2", customer_email=..., customer_external_id="C-BOB"),
            # the external id wins over an e-mail that belongs to someone else
            valid(
                external_id="O-3", customer_email="ann@example.com", customer_external_id="C-BOB"
            ),
        ],
        source="import",
    )
    # then
    assert Customer.objects.count() == 2
    assert Order.objects.get(external_id="O-1").customer_id == ann.pk
    assert Order.objects.get(external_id="O-2").customer_id == bob.pk
    assert Order.objects.get(external_id="O-3").customer_id == bob.pk


@pytest.mark.django_db
def test_a_customer_found_by_email_gets_the_external_id_it_lacked():
    # given
    ann = Customer.objects.create(email="ann@example.com")
    # when
    orders_upsert(rows=[valid(customer_external_id="C-ANN")], source="import")
    # then
    ann.refresh_from_db()
    assert ann.external_id == "C-ANN"


@pytest.mark.django_db
def test_orders_of_a_merged_away_customer_go_to_the_surviving_record():
    # given
    keep = Customer.objects.create(email="keep@example.com")
    Customer.objects.create(
        external_id="C-OLD", merged_into=keep, deleted_at=timezone.now(), email="old@example.com"
    )
    # when
    orders_upsert(rows=[valid(customer_email=..., customer_external_id="C-OLD")], source="api")
    # then
    assert Order.objects.get(external_id="O-1").customer_id == keep.pk


@pytest.mark.django_db
def test_upsert_is_idempotent_and_updates_changed_fields():
    # given
    orders_upsert(rows=[valid(total="10.00")], source="import")
    created_at = Order.objects.get().created_at
    # when
    result = orders_upsert(rows=[valid(total="11.00", channel="shop")], source="import")
    # then
    assert (result.created, result.updated) == (0, 1)
    order = Order.objects.get()
    assert (order.total, order.channel, order.created_at) == (Decimal("11.00"), "shop", created_at)
    assert Customer.objects.count() == 1


@pytest.mark.django_db
def test_duplicate_external_ids_in_one_batch_later_row_wins():
    # when
    result = orders_upsert(
        rows=[valid(total="1.00"), valid(total="2.00"), valid(external_id="O-2")], source="import"
    )
    # then: counted as if sent one after another
    assert result.outcomes == ["created", "updated", "created"]
    assert Order.objects.get(external_id="O-1").total == Decimal("2.00")
    assert Order.objects.count() == 2


@pytest.mark.django_db
def test_two_rows_for_one_new_customer_create_it_once():
    orders_upsert(
        rows=[
            valid(external_id="O-1", customer_email="new@example.com", customer_external_id="N1"),
            valid(external_id="O-2", customer_email="NEW@example.com"),
            valid(external_id="O-3", customer_email=..., customer_external_id="N1"),
        ],
        source="import",
    )
    assert Customer.objects.count() == 1
    assert set(Order.objects.values_list("customer__external_id", flat=True)) == {"N1"}


# --- API ----------------------------------------------------------------------------------------


@pytest.fixture
def orders(db):
    def valid(**changes):
        return order_row_validate(row(customer_email=..., **changes))

    orders_upsert(
        rows=[
            valid(external_id="A", customer_external_id="C1", ordered_at="2024-01-10", total="5"),
            valid(
                external_id="B",
                customer_external_id="C1",
                ordered_at="2024-02-10",
                total="50",
                channel="shop",
                currency="USD",
            ),
            valid(
                external_id="C",
                customer_external_id="C2",
                ordered_at="2024-03-10",
                total="20",
                referral_code="FRIEND",
            ),
        ],
        source="import",
    )
    return {o.external_id: o for o in Order.objects.all()}


def test_orders_list_is_newest_first_with_exact_totals(api, admin_user, orders):
    # when
    res = api(admin_user).get("/api/v1/orders")
    # then
    assert res.status_code == 200, res.content
    body = res.json()
    assert body["count"] == 3
    assert [o["external_id"] for o in body["items"]] == ["C", "B", "A"]
    first = body["items"][2]
    assert first["total"] == "5.00"
    assert first["items"] == [{"sku": "B1", "name": "Beans", "quantity": 2, "price": "6.25"}]
    assert first["customer_id"] == orders["A"].customer_id


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("since=2024-02-01&until=2024-03-01", ["B"]),
        ("since=2024-02-10T00:00:00Z", ["C", "B"]),
        ("channel=shop", ["B"]),
        ("currency=usd", ["B"]),
        ("referral_code=FRIEND", ["C"]),
        ("min_total=20", ["C", "B"]),
        ("limit=1&offset=1", ["B"]),
    ],
)
def test_orders_list_filters(api, admin_user, orders, query, expected):
    res = api(admin_user).get(f"/api/v1/orders?{query}")
    assert res.status_code == 200, res.content
    assert [o["external_id"] for o in res.json()["items"]] == expected


def test_orders_list_filters_by_customer(api, admin_user, orders):
    res = api(admin_user).get(f"/api/v1/orders?customer_id={orders['C'].customer_id}")
    assert [o["external_id"] for o in res.json()["items"]] == ["C"]


def test_orders_list_rejects_a_bad_filter_with_a_422(api, admin_user, orders):
    res = api(admin_user).get("/api/v1/orders?since=soon")
    assert res.status_code == 422
    assert res.json()["errors"][0]["field"] == "since"


def test_orders_need_customers_view(api, make_user, member, orders):
    assert api().get("/api/v1/orders").status_code == 401
    assert api(member).get("/api/v1/orders").status_code == 403
    assert api(member).get(f"/api/v1/orders/{orders['A'].pk}").status_code == 403
    assert api(make_user(Role.ANALYST)).get("/api/v1/orders").status_code == 200


def test_one_order_by_id_and_404(api, admin_user, orders):
    res = api(admin_user).get(f"/api/v1/orders/{orders['B'].pk}")
    assert res.status_code == 200
    assert res.json()["currency"] == "USD"
    assert api(admin_user).get("/api/v1/orders/999999").status_code == 404


def test_post_creates_then_updates_an_order(api, make_user):
    # given
    agent = make_user(Role.CARE_AGENT)
    client = api(agent)
    payload = {
        "external_id": "W-1",
        "customer_email": "zoe@example.com",
        "ordered_at": "2024-06-01T08:00:00",
        "currency": "GBP",
        "total": 42.1,
        "items": [{"sku": "K", "name": "Kettle", "quantity": 1, "price": "42.10"}],
    }
    # when
    first = client.post("/api/v1/orders", payload)
    second = client.post("/api/v1/orders", {**payload, "total": "40.00"})
    # then
    assert first.status_code == 201, first.content
    assert first.json()["total"] == "42.10"
    assert first.json()["ordered_at"].startswith("2024-06-01T08:00:00")
    assert second.status_code == 200
    assert second.json()["total"] == "40.00"
    order = Order.objects.get(external_id="W-1")
    assert order.customer.email == "zoe@example.com"
    audit = AuditEntry.objects.filter(target_type="order", target_id=str(order.pk))
    assert sorted(audit.values_list("action", flat=True)) == ["order.create", "order.update"]
    assert {e.actor for e in audit} == {agent}


def test_post_names_each_bad_field_in_a_422(api, admin_user):
    res = api(admin_user).post(
        "/api/v1/orders",
        {
            "external_id": "W-2",
            "ordered_at": "2024-06-01",
            "currency": "EUR",
            "total": "-1",
            "nickname": "x",
        },
    )
    assert res.status_code == 422
    assert {e["field"] for e in res.json()["errors"]} == {"nickname"}
    res = api(admin_user).post(
        "/api/v1/orders",
        {"external_id": "W-2", "ordered_at": "2024-06-01", "currency": "EUR", "total": "-1"},
    )
    assert res.status_code == 422
    fields = {e["field"]: e["message"] for e in res.json()["errors"]}
    assert fields == {
        "customer_email": "customer_external_id or customer_email is required",
        "total": "must not be negative (got -1)",
    }
    assert not Order.objects.exists()


def test_post_needs_customers_edit(api, make_user):
    res = api(make_user(Role.ANALYST)).post("/api/v1/orders", {**GOOD, "items": []})
    assert res.status_code == 403
    assert not Order.objects.exists()


@pytest.mark.django_db
def test_items_already_in_normal_form_are_stored_as_received_and_read_back_the_same():
    # given
    normal = '[{"sku": "B1", "name": "Beans", "quantity": 2, "price": "6.25"}]'
    loose = '[{"sku": "B2", "quantity": 1, "price": 3.5, "colour": "red"}]'
    # when
    rows = [valid(external_id="N", items=normal), valid(external_id="L", items=loose)]
    orders_upsert(rows=rows, source="import")
    # then
    assert (rows[0].items_json, rows[1].items_json) == (normal, None)
    assert Order.objects.get(external_id="N").items == json.loads(normal)
    assert Order.objects.get(external_id="L").items == [
        {"sku": "B2", "name": "", "quantity": 1, "price": "3.50"}
    ]
