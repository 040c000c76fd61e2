from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.http import Http404
from django.utils import timezone

from apiary.customers import selectors
from apiary.customers.models import Customer, IdentitySuggestion, Order
from apiary.customers.services.customers import customer_create, organisation_create
from apiary.customers.services.identities import identity_consent_withdraw, identity_link

pytestmark = pytest.mark.django_db

_n = iter(range(1, 10**6))


def _order(customer, total, currency="EUR", at=None, items=None):
    return Order.objects.create(
        external_id=f"o-{next(_n)}",
        customer=customer,
        ordered_at=at or timezone.now(),
        currency=currency,
        total=Decimal(total),
        items=items or [],
    )


def _link(customer, platform, handle):
    return identity_link(
        customer=customer,
        platform=platform,
        handle=handle,
        touchpoint="api",
        consent_text="I agree to link my account.",
    )


def test_customer_list_annotates_value_without_multiplying_rows():
    # given: two orders and two identities must not make four joined rows
    ana = customer_create(name="Ana")
    t1 = datetime(2025, 1, 5, tzinfo=UTC)
    t2 = datetime(2025, 3, 9, tzinfo=UTC)
    _order(ana, "10.50", at=t1)
    _order(ana, "20.25", at=t2)
    _link(ana, "bluesky", "ana.bsky.social")
    _link(ana, "mastodon", "@ana@mastodon.social")
    withdrawn = _link(ana, "x", "ana_x")
    identity_consent_withdraw(identity=withdrawn, touchpoint="api")
    customer_create(name="Bob")
    # when
    rows = {c.name: c for c in selectors.customer_list()}
    # then
    assert rows["Ana"].orders_count == 2
    assert rows["Ana"].orders_total == Decimal("30.75")
    assert rows["Ana"].last_order_at == t2
    assert rows["Ana"].identity_count == 2
    assert (rows["Bob"].orders_count, rows["Bob"].orders_total) == (0, Decimal("0"))
    assert rows["Bob"].last_order_at is None
    assert rows["Bob"].identity_count == 0


def test_customer_list_hides_deleted_merged_and_erased_records():
    # given
    live = customer_create(name="Live")
    customer_create(name="Deleted")
    customer_create(name="Merged")
    customer_create(name="Erased")
    Customer.objects.filter(name="Deleted").update(deleted_at=timezone.now())
    Customer.objects.filter(name="Merged").update(merged_into=live)
    Customer.objects.filter(name="Erased").update(erased_at=timezone.now())
    # when / then
    assert [c.name for c in selectors.customer_list()] == ["Live"]


@pytest.mark.parametrize(
    "term", ["carmen", "CARMEN@shop", "EXT-77", "@carmen.bsky.social", "carmen.bsky"]
)
def test_customer_list_search(term):
    # given
    carmen = customer_create(name="Carmen Ruiz", email="carmen@shop.example", external_id="EXT-77")
    _link(carmen, "bluesky", "carmen.bsky.social")
    customer_create(name="Dmitri", email="d@example.com")
    # when
    found = list(selectors.customer_list(search=term))
    # then
    assert [c.pk for c in found] == [carmen.pk]


def test_search_ignores_withdrawn_identity_handles():
    # given
    eva = customer_create(name="Eva")
    identity = _link(eva, "reddit", "secret_eva")
    identity_consent_withdraw(identity=identity, touchpoint="api")
    # when / then
    assert not selectors.customer_list(search="secret_eva").exists()


def test_customer_get_404_for_missing_and_deleted_but_returns_merged():
    # given
    target = customer_create(name="Target")
    merged = customer_create(name="Merged")
    deleted = customer_create(name="Deleted")
    Customer.objects.filter(pk=merged.pk).update(merged_into=target)
    Customer.objects.filter(pk=deleted.pk).update(deleted_at=timezone.now())
    # when / then
    with pytest.raises(Http404):
        selectors.customer_get(customer_id=deleted.pk)
    with pytest.raises(Http404):
        selectors.customer_get(customer_id=999999)
    got = selectors.customer_get(customer_id=merged.pk)
    assert got.merged_into_id == target.pk
    assert selectors.customer_resolve_merged(got).pk == target.pk


def test_resolve_merged_follows_chains_and_404s_on_cycles():
    # given
    a, b, c = (customer_create(name=n) for n in "abc")
    Customer.objects.filter(pk=a.pk).update(merged_into=b)
    Customer.objects.filter(pk=b.pk).update(merged_into=c)
    # when / then
    assert selectors.customer_resolve_merged(Customer.objects.get(pk=a.pk)).pk == c.pk
    Customer.objects.filter(pk=c.pk).update(merged_into=a)
    with pytest.raises(Http404):
        selectors.customer_resolve_merged(Customer.objects.get(pk=a.pk))


def test_customer_family_ids_is_recursive():
    # given: d <- b <- a, d <- c
    a, b, c, d, stranger = (customer_create(name=n) for n in "abcdx")
    Customer.objects.filter(pk=a.pk).update(merged_into=b)
    Customer.objects.filter(pk__in=[b.pk, c.pk]).update(merged_into=d)
    # when
    ids = selectors.customer_family_ids(customer=d)
    # then
    assert ids[0] == d.pk
    assert sorted(ids) == sorted([a.pk, b.pk, c.pk, d.pk])
    assert stranger.pk not in ids


def test_customer_value_per_currency_in_one_query(django_assert_num_queries):
    # given
    customer = customer_create(name="Multi")
    first = datetime(2024, 6, 1, 12, tzinfo=UTC)
    last = datetime(2025, 2, 1, 12, tzinfo=UTC)
    _order(customer, "10.00", "EUR", at=first)
    _order(customer, "15.01", "EUR", at=first + timedelta(days=3))
    _order(customer, "99.99", "USD", at=last)
    other = customer_create(name="Other")
    _order(other, "1000.00", "EUR")
    # when
    with django_assert_num_queries(1):
        value = selectors.customer_value(customer_ids=[customer.pk])
    # then
    assert value["orders"] == 3
    assert value["first_order_at"] == first
    assert value["last_order_at"] == last
    assert value["by_currency"] == [
        {"currency": "USD", "orders": 1, "total": Decimal("99.99"), "aov": Decimal("99.99")},
        {"currency": "EUR", "orders": 2, "total": Decimal("25.01"), "aov": Decimal("12.51")},
    ]


def test_customer_value_of_a_customer_without_orders():
    customer = customer_create(name="Nobody")
    assert selectors.customer_value(customer_ids=[customer.pk]) == {
        "orders": 0,
        "by_currency": [],
        "first_order_at": None,
        "last_order_at": None,
    }


def test_customer_identities_prefetches_consents(django_assert_num_queries):
    # given
    customer = customer_create(name="Ida")
    _link(customer, "bluesky", "ida.bsky.social")
    gone = _link(customer, "x", "ida")
    identity_consent_withdraw(identity=gone, touchpoint="support_form")
    # when
    with django_assert_num_queries(2):
        identities = list(selectors.customer_identities(customer=customer))
        consents = [[c.action for c in i.consents.all()] for i in identities]
    # then
    assert [i.platform for i in identities] == ["bluesky", "x"]
    assert consents == [["given"], ["withdrawn", "given"]]
    active = selectors.customer_identities(customer=customer, include_withdrawn=False)
    assert [i.platform for i in active] == ["bluesky"]


def test_suggestion_list_pending_best_first_hiding_gone_customers():
    # given
    live = customer_create(name="Live")
    merged = customer_create(name="Merged")
    low = IdentitySuggestion.objects.create(
        customer=live, platform="x", handle="a", reason="name", score=0.4
    )
    high = IdentitySuggestion.objects.create(
        customer=live, platform="x", handle="b", reason="name", score=0.9
    )
    IdentitySuggestion.objects.create(
        customer=merged, platform="x", handle="c", reason="name", score=0.95
    )
    done = IdentitySuggestion.objects.create(
        customer=live, platform="x", handle="d", reason="name", status="rejected"
    )
    Customer.objects.filter(pk=merged.pk).update(merged_into=live)
    # when / then
    assert [s.pk for s in selectors.suggestion_list()] == [high.pk, low.pk]
    assert [s.pk for s in selectors.suggestion_list(status="rejected")] == [done.pk]


def test_organisation_list_search():
    organisation_create(name="Northwind")
    organisation_create(name="Southwind")
    organisation_create(name="Contoso")
    assert [o.name for o in selectors.organisation_list(search="wind")] == [
        "Northwind",
        "Southwind",
    ]
