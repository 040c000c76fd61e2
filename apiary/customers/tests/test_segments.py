from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from apiary.accounts.models import AuditEntry, Role
from apiary.customers import selectors
from apiary.customers.models import Customer, Order, Segment
from apiary.customers.segments import (
    segment_apply,
    segment_create,
    segment_delete,
    segment_filters_validate,
    segment_update,
    segments_ensure_defaults,
)
from apiary.customers.services.customers import customer_create
from apiary.customers.services.identities import identity_consent_withdraw, identity_link

pytestmark = pytest.mark.django_db

_n = iter(range(1, 10**6))


def _order(customer, total="10.00", days_ago=1):
    Order.objects.create(
        external_id=f"s-{next(_n)}",
        customer=customer,
        ordered_at=timezone.now() - timedelta(days=days_ago),
        currency="EUR",
        total=Decimal(total),
    )


def _link(customer, platform, handle):
    return identity_link(
        customer=customer,
        platform=platform,
        handle=handle,
        touchpoint="checkout",
        consent_text="Link my account",
    )


@pytest.fixture
def people():
    """A small but real dataset: every filter below selects a different subset of it."""
    ana = customer_create(
        name="Ana", email="ana@example.com", country="ES", city="Madrid", tags=["vip", "кофе"]
    )
    ben = customer_create(name="Ben", email="ben@example.com", country="GB", city="London")
    cho = customer_create(name="Cho", country="KR", city="Seoul", lifecycle_stage="lead")
    dan = customer_create(
        name="Dan", email="dan@example.com", country="ES", city="madrid", tags=["vip"]
    )
    eli = customer_create(name="Eli", email="eli@example.com", country="DE", tags=["wholesale"])
    _link(ana, "bluesky", "ana.bsky.social")
    _link(ana, "instagram", "ana_ig")
    _link(ben, "mastodon", "@ben@mastodon.social")
    withdrawn = _link(dan, "bluesky", "dan.bsky.social")
    identity_consent_withdraw(identity=withdrawn, touchpoint="api")
    _order(ana, "120.00", days_ago=10)
    _order(ana, "80.00", days_ago=400)
    _order(ben, "15.00", days_ago=200)
    _order(dan, "45.00", days_ago=30)
    _order(dan, "5.00", days_ago=300)
    _order(dan, "5.00", days_ago=500)
    Customer.objects.filter(pk=eli.pk).update(created_at=datetime(2020, 1, 1, tzinfo=UTC))
    return {"ana": ana, "ben": ben, "cho": cho, "dan": dan, "eli": eli}


def _names(filters) -> list[str]:
    return sorted(c.name for c in selectors.customer_list(filters=filters))


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        ({}, ["Ana", "Ben", "Cho", "Dan", "Eli"]),
        ({"social": True}, ["Ana", "Ben"]),
        ({"social": False}, ["Cho", "Dan", "Eli"]),
        ({"platforms": ["bluesky"]}, ["Ana"]),
        ({"platforms": ["mastodon", "instagram"]}, ["Ana", "Ben"]),
        ({"platforms": ["x"]}, []),
        ({"country": ["es", "KR"]}, ["Ana", "Cho", "Dan"]),
        ({"city": "MADRID"}, ["Ana", "Dan"]),
        ({"lifecycle_stage": ["lead"]}, ["Cho"]),
        ({"lifecycle_stage": ["customer", "churned"]}, ["Ana", "Ben", "Dan", "Eli"]),
        ({"tags": ["vip"]}, ["Ana", "Dan"]),
        ({"tags": ["VIP", "кофе"]}, ["Ana"]),
        ({"tags": ["кофе", "wholesale"]}, []),
        ({"ordered_within_days": 90}, ["Ana", "Dan"]),
        ({"ordered_within_days": 90, "social": False}, ["Dan"]),
        ({"not_ordered_within_days": 90}, ["Ben", "Cho", "Eli"]),
        ({"not_ordered_within_days": 90, "min_orders": 1}, ["Ben"]),
        ({"min_orders": 3}, ["Dan"]),
        ({"min_orders": 0}, ["Ana", "Ben", "Cho", "Dan", "Eli"]),
        ({"min_total": "55.01"}, ["Ana"]),
        ({"min_total": "55"}, ["Ana", "Dan"]),
        ({"min_total": "15.00"}, ["Ana", "Ben", "Dan"]),
        ({"has_email": False}, ["Cho"]),
        ({"has_email": True, "social": True}, ["Ana", "Ben"]),
        ({"created_before": "2021-01-01T00:00:00Z"}, ["Eli"]),
        ({"created_after": "2021-01-01T00:00:00"}, ["Ana", "Ben", "Cho", "Dan"]),
        ({"search": "ben"}, ["Ben"]),
        ({"search": "@ana.bsky.social"}, ["Ana"]),
    ],
)
def test_each_filter_selects_the_right_customers(people, filters, expected):
    assert _names(filters) == expected


def test_segment_apply_is_one_query_with_every_filter(people, django_assert_num_queries):
    # given
    filters = segment_filters_validate(
        {
            "social": True,
            "platforms": ["bluesky"],
            "country": ["ES"],
            "tags": ["vip"],
            "ordered_within_days": 30,
            "min_orders": 1,
            "min_total": "1",
        }
    )
    # when
    with django_assert_num_queries(1):
        rows = list(segment_apply(Customer.objects.all(), filters))
    # then
    assert [c.name for c in rows] == ["Ana"]


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"colour": "red"}, "colour"),
        ({"platforms": ["myspace"]}, "platforms"),
        ({"country": ["Spain"]}, "country"),
        ({"ordered_within_days": 0}, "ordered_within_days"),
        ({"not_ordered_within_days": "soon"}, "not_ordered_within_days"),
        ({"min_orders": -1}, "min_orders"),
        ({"min_total": "-5"}, "min_total"),
        ({"social": "maybe"}, "social"),
        ({"lifecycle_stage": ["vip"]}, "lifecycle_stage"),
        ({"created_after": "yesterday"}, "created_after"),
    ],
)
def test_filter_validation_names_the_field(data, field):
    with pytest.raises(ValidationError) as exc_info:
        segment_filters_validate(data)
    assert list(exc_info.value.message_dict) == [field]


def test_segment_create_validates_and_stores_normalised_filters(admin_user):
    # when
    segment = segment_create(
        name="Spanish VIPs",
        filters={"country": ["es"], "tags": ["VIP"]},
        description="For the Madrid event",
        actor=admin_user,
    )
    # then
    assert segment.slug == "spanish-vips"
    assert segment.filters == {"country": ["ES"], "tags": ["vip"]}
    assert segment.created_by == admin_user
    assert AuditEntry.objects.filter(action="segment.create", target_id=str(segment.pk)).exists()
    second = segment_create(name="Spanish VIPs!", filters={}, actor=admin_user)
    assert second.slug == "spanish-vips-2"


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"name": "", "filters": {}}, "name"),
        ({"name": "x", "filters": {"platforms": ["aol"]}}, "filters.platforms"),
        ({"name": "x", "filters": {"unknown": 1}}, "filters.unknown"),
        ({"name": "x", "filters": "social"}, "filters"),
        ({"name": "x", "filters": {}, "description": "d" * 301}, "description"),
    ],
)
def test_segment_create_errors_name_the_field(admin_user, kwargs, field):
    before = Segment.objects.count()
    with pytest.raises(ValidationError) as exc_info:
        segment_create(actor=admin_user, **kwargs)
    assert list(exc_info.value.message_dict) == [field]
    assert Segment.objects.count() == before


def test_segment_update_keeps_the_slug_and_delete_removes(people, make_user):
    # given
    analyst = make_user(Role.ANALYST)
    segment = segment_create(name="Bluesky", filters={"platforms": ["bluesky"]}, actor=analyst)
    # when
    segment_update(segment=segment, actor=analyst, name="Fediverse", filters={"social": True})
    # then
    segment.refresh_from_db()
    assert (segment.name, segment.slug) == ("Fediverse", "bluesky")
    assert selectors.segment_count(segment=segment) == 2
    segment_delete(segment=segment, actor=analyst)
    assert not Segment.objects.filter(pk=segment.pk).exists()


def test_default_segments_are_idempotent_and_counts_are_live(people):
    # given
    segments_ensure_defaults()
    Segment.objects.filter(slug="churn-risk").update(name="Renamed by a user")
    # when
    segments = {s.slug: s for s in segments_ensure_defaults()}
    # then
    assert Segment.objects.count() == 4
    assert segments["churn-risk"].name == "Renamed by a user"
    counts = {slug: selectors.segment_count(segment=s) for slug, s in segments.items()}
    assert counts == {
        "social-customers": 2,
        "customers-on-bluesky": 1,
        "ordered-90-days-no-social": 1,
        "churn-risk": 1,
    }
    # the count follows the data without any recomputation step
    _link(people["cho"], "bluesky", "cho.bsky.social")
    assert selectors.segment_count(segment=segments["customers-on-bluesky"]) == 2
    assert selectors.segment_count(segment=segments["social-customers"]) == 3


def test_customer_list_by_segment_slug_and_customer_segments(people):
    # given
    segments_ensure_defaults()
    # when
    on_bluesky = selectors.customer_list(segment="customers-on-bluesky")
    # then
    assert [c.name for c in on_bluesky] == ["Ana"]
    slugs = {s.slug for s in selectors.customer_segments(customer=people["ana"])}
    assert slugs == {"social-customers", "customers-on-bluesky"}


def test_built_in_segments_exist_after_migrate_and_match_the_code():
    # given: a freshly migrated database (the test database), nothing else run
    from apiary.customers.models import Segment
    from apiary.customers.segments import (
        DEFAULT_SEGMENTS,
        filters_to_json,
        segment_filters_validate,
    )

    # then: the migration created exactly what the code would create
    for slug, _name, _description, filters in DEFAULT_SEGMENTS:
        segment = Segment.objects.get(slug=slug)
        assert segment.filters == filters_to_json(segment_filters_validate(filters))
