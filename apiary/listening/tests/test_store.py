"""The pipeline and the bulk store: enrichment lands, repeats never store or count twice."""

import pytest
from django.db import transaction

from apiary.customers.models import Customer, SocialIdentity
from apiary.listening.consumer import PipelineState, process_mentions
from apiary.listening.models import Mention, MentionMatch, MentionRollup
from apiary.listening.pipeline import enrich
from apiary.listening.services.queries import query_create

from .factories import raw_mention

pytestmark = pytest.mark.django_db


def store(raws, state=None):
    with transaction.atomic():
        return process_mentions(raws, state=state or PipelineState())


def test_enrichment_fields_are_stored():
    # given
    brand = query_create(name="Northwind", kind="brand", text='northwind OR "north wind"')
    raws = [
        raw_mention(text="Northwind, мой заказ не пришёл, ужасно 😡", author_location="Москва"),
        raw_mention(text="Where can I buy Northwind beans in London?", author_location=""),
    ]
    # when
    result = store(raws)
    # then
    assert result.inserted == 2
    ru, en = Mention.objects.order_by("pk")
    assert (ru.language, ru.sentiment, ru.intent, ru.country) == ("ru", "negative", "support", "RU")
    assert ru.city == "Moscow" and ru.place_source == "profile"
    assert (en.language, en.intent, en.country) == ("en", "purchase", "GB")
    assert ru.query_ids == [brand.pk] and en.query_ids == [brand.pk]
    assert MentionMatch.objects.filter(query=brand).count() == 2


def test_a_repeated_batch_stores_and_counts_nothing_twice():
    # given
    raws = [raw_mention(), raw_mention(), raw_mention()]
    store(raws)
    # when
    again = store([*raws, raw_mention()])
    # then
    assert (again.inserted, again.duplicates) == (1, 3)
    assert Mention.objects.count() == 4
    total = sum(MentionRollup.objects.filter(query_id=0).values_list("count", flat=True))
    assert total == 4


def test_rollups_count_per_query_and_reach():
    # given
    q = query_create(name="Espresso", kind="topic", text="espresso")
    raws = [
        raw_mention(text="espresso time", author_followers=10),
        raw_mention(text="espresso again", author_followers=5),
        raw_mention(text="just tea", author_followers=1),
    ]
    # when
    store(raws)
    # then
    rows = MentionRollup.objects.filter(query_id=q.pk)
    assert sum(r.count for r in rows) == 2
    assert sum(r.reach for r in rows) == 15
    assert sum(r.count for r in MentionRollup.objects.filter(query_id=0)) == 3


def test_duplicates_inside_one_batch_keep_the_first():
    # given
    first = raw_mention(text="first")
    second = raw_mention(external_id=first.external_id, text="second")
    # when
    out = enrich([first, second])
    # then
    assert [e.raw.text for e in out] == ["first"]


def test_author_linked_to_customer_by_consented_identity():
    # given
    customer = Customer.objects.create(email="ana@example.com", name="Ana")
    SocialIdentity.objects.create(customer=customer, platform="bluesky", handle="ana.bsky.social")
    # when
    store([raw_mention(author_handle="@Ana.bsky.social")])
    # then
    assert Mention.objects.get().customer_id == customer.pk


def test_country_filter_in_a_query_uses_the_place_stage():
    # given
    q = query_create(name="Spain", kind="topic", text="coffee country:ES")
    # when
    store(
        [
            raw_mention(text="great coffee", author_location="Sevilla"),
            raw_mention(text="great coffee", author_location="Москва"),
        ]
    )
    # then
    assert MentionMatch.objects.filter(query=q).count() == 1


def test_unknown_author_who_looks_like_a_customer_goes_to_the_review_queue(
    settings, django_capture_on_commit_callbacks
):
    # given
    from apiary.customers.models import IdentitySuggestion

    settings.TASKS = {"default": {"BACKEND": "django_tasks.backends.immediate.ImmediateBackend"}}
    customer = Customer.objects.create(
        email="lucia@example.com", name="Lucía Fernández", city="Sevilla"
    )
    # when
    with django_capture_on_commit_callbacks(execute=True):
        store(
            [
                raw_mention(
                    author_handle="luciaf.bsky.social",
                    author_name="Lucia Fernandez",
                    author_location="Sevilla, España",
                )
            ]
        )
    # then: suggested for review, not linked
    suggestion = IdentitySuggestion.objects.get()
    assert suggestion.customer_id == customer.pk and suggestion.status == "pending"
    assert Mention.objects.get().customer_id is None


@pytest.mark.django_db
def test_the_fast_datetime_adapter_writes_what_djangos_would():
    from datetime import UTC, datetime, timedelta, timezone

    from django.db import connection

    from apiary.listening.services.store import _adapters

    dt, _js = _adapters()
    values = [
        datetime(2026, 3, 1, 12, 0, tzinfo=UTC),
        datetime(2026, 3, 1, 12, 0, 5, 123456, tzinfo=UTC),
        datetime(2026, 10, 25, 1, 30, tzinfo=timezone(timedelta(hours=3))),
        datetime(1999, 12, 31, 23, 59, 59, 1, tzinfo=timezone(timedelta(hours=-5))),
    ]
    for value in values:
        expected = connection.ops.adapt_datetimefield_value(value)
        assert dt(value) == expected, value
    assert dt(None) is None
