from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from apiary.customers import selectors, timeline
from apiary.customers.models import Customer, Order
from apiary.customers.services.customers import customer_create
from apiary.customers.services.identities import identity_consent_withdraw, identity_link

pytestmark = pytest.mark.django_db

T0 = datetime(2025, 5, 1, 12, 0, tzinfo=UTC)
_n = iter(range(1, 10**6))


def _order(customer, at):
    return Order.objects.create(
        external_id=f"t-{next(_n)}",
        customer=customer,
        ordered_at=at,
        currency="EUR",
        total=Decimal("9.99"),
        items=[{"sku": "B1", "name": "Beans", "quantity": 1, "price": "9.99"}],
    )


def _link(customer, platform, handle, at):
    return identity_link(
        customer=customer,
        platform=platform,
        handle=handle,
        touchpoint="signup",
        consent_text="Yes, link it",
        at=at,
    )


def _all_pages(customer_ids, limit, kinds=None):
    refs, before, pages = [], None, 0
    while True:
        page, before = selectors.timeline_page(
            customer_ids=customer_ids, kinds=kinds, before=before, limit=limit
        )
        pages += 1
        assert len(page) >= 1 or before is None
        refs.extend(e.ref for e in page)
        if before is None:
            return refs, pages


def test_orders_and_consent_changes_form_one_newest_first_feed():
    # given
    customer = customer_create(name="Tia")
    _order(customer, T0)
    identity = _link(customer, "bluesky", "tia.bsky.social", T0 + timedelta(hours=1))
    _order(customer, T0 + timedelta(hours=2))
    identity_consent_withdraw(identity=identity, touchpoint="api", at=T0 + timedelta(hours=3))
    # when
    events = timeline.customer_timeline(customer_ids=[customer.pk], limit=10)
    # then
    assert [e.kind for e in events] == ["consent", "order", "consent", "order"]
    assert [e.at for e in events] == sorted((e.at for e in events), reverse=True)
    assert "tia.bsky.social" in events[0].title
    assert events[1].title.startswith("Order t-")
    only_orders = timeline.customer_timeline(customer_ids=[customer.pk], kinds=["order"])
    assert {e.kind for e in only_orders} == {"order"}
    assert len(only_orders) == 2


def test_cursor_pagination_has_no_duplicates_and_no_gaps_across_equal_timestamps():
    # given: ties inside a kind and across kinds, straddling every page boundary
    customer = customer_create(name="Uma")
    for i in range(7):
        at = T0 + timedelta(minutes=i // 2)  # pairs of orders share a time
        _order(customer, at)
    for i, platform in enumerate(["bluesky", "mastodon", "x", "reddit"]):
        handle = "@uma@mastodon.social" if platform == "mastodon" else f"uma{i}"
        if platform == "bluesky":
            handle = "uma.bsky.social"
        _link(customer, platform, handle, T0 + timedelta(minutes=i))
    expected = [e.ref for e in timeline.customer_timeline(customer_ids=[customer.pk], limit=1000)]
    assert len(expected) == 11
    for limit in (1, 2, 3, 4, 5, 10, 11, 50):
        # when
        refs, _pages = _all_pages([customer.pk], limit)
        # then
        assert len(refs) == len(set(refs)), f"duplicates with limit={limit}"
        assert sorted(refs) == sorted(expected), f"gap with limit={limit}"


def test_more_events_at_one_instant_than_a_page_holds_come_back_whole():
    # given
    customer = customer_create(name="Vic")
    for _ in range(5):
        _order(customer, T0)
    _order(customer, T0 - timedelta(days=1))
    # when
    page, before = selectors.timeline_page(customer_ids=[customer.pk], limit=2)
    rest, after = selectors.timeline_page(customer_ids=[customer.pk], before=before, limit=2)
    # then
    assert len(page) == 5
    assert {e.at for e in page} == {T0}
    assert before == T0
    assert [e.at for e in rest] == [T0 - timedelta(days=1)]
    assert after is None


def test_timeline_of_a_merged_customer_includes_the_merged_records():
    # given
    target = customer_create(name="Target")
    source = customer_create(name="Source")
    older = customer_create(name="Older")
    _order(target, T0)
    _order(source, T0 + timedelta(days=1))
    _order(older, T0 - timedelta(days=1))
    _link(source, "vk", "source_vk", T0 + timedelta(days=2))
    Customer.objects.filter(pk=source.pk).update(merged_into=target)
    Customer.objects.filter(pk=older.pk).update(merged_into=source)
    ids = selectors.customer_family_ids(customer=target)
    # when
    refs, pages = _all_pages(ids, limit=2)
    # then
    assert len(refs) == 4
    assert len(set(refs)) == 4
    assert pages == 2
    first, _ = selectors.timeline_page(customer_ids=ids, limit=10)
    assert [e.kind for e in first] == ["consent", "order", "order", "order"]


def test_kind_filter_pages_only_that_kind():
    customer = customer_create(name="Wes")
    for i in range(5):
        _order(customer, T0 + timedelta(hours=i))
    _link(customer, "youtube", "@wes", T0 + timedelta(hours=10))
    refs, _ = _all_pages([customer.pk], limit=2, kinds=["order"])
    assert len(refs) == 5
    assert all(r.startswith("order:") for r in refs)


def test_a_new_kind_plugs_in_through_register(monkeypatch):
    # given: a later app registers its kind without this module changing
    monkeypatch.setattr(timeline, "_KINDS", dict(timeline._KINDS))
    customer = customer_create(name="Xia")
    _order(customer, T0)

    @timeline.register("note", label="Notes")
    def notes(*, customer_ids, before, limit):
        events = [
            timeline.TimelineEvent(
                kind="note", at=T0 + timedelta(hours=h), title=f"note {h}", ref=f"note:{h}"
            )
            for h in (3, 2, 1)
        ]
        return [e for e in events if before is None or e.at < before][:limit]

    # when
    refs, _ = _all_pages([customer.pk], limit=2)
    # then
    assert "note" in {k.name for k in timeline.kinds()}
    assert refs[:3] == ["note:3", "note:2", "note:1"]
    assert refs[3].startswith("order:")


def test_unknown_kind_is_refused():
    with pytest.raises(ValueError, match="unknown timeline kinds: gossip"):
        timeline.customer_timeline(customer_ids=[1], kinds=["gossip"])
