"""The customers demo step: deterministic, idempotent, and true to the story analytics will tell
(social customers order more often and spend more per order)."""

from __future__ import annotations

import random
from collections import Counter
from decimal import Decimal

import pytest

from apiary.customers.models import (
    ConsentRecord,
    Customer,
    IdentitySuggestion,
    Order,
    Organisation,
    Segment,
    SocialIdentity,
)
from apiary.demo.generator import DemoContext
from apiary.demo.steps import accounts as accounts_step
from apiary.demo.steps import customers as customers_step

pytestmark = pytest.mark.django_db


def _run(seed: int = 7) -> str:
    ctx = DemoContext(seed=seed, rng=random.Random(seed))
    accounts_step.run(ctx)
    return customers_step.run(ctx)


def _snapshot():
    return (
        list(
            Customer.objects.order_by("external_id").values_list(
                "external_id", "name", "email", "country", "city", "lifecycle_stage", "tags"
            )
        ),
        list(Order.objects.order_by("external_id").values_list("external_id", "total", "currency")),
        sorted(SocialIdentity.objects.values_list("customer__external_id", "platform", "handle")),
        sorted(IdentitySuggestion.objects.values_list("customer__external_id", "handle")),
    )


def test_the_step_is_deterministic_and_idempotent():
    # given
    summary = _run()
    first = _snapshot()
    # when: run again on the same database
    again = _run()
    # then: nothing is added
    assert "already loaded" in again
    assert _snapshot() == first
    # when: the same seed on an empty database
    for model in (IdentitySuggestion, Order, SocialIdentity, Customer):
        model.objects.all().delete()
    assert _run() == summary
    # then: the very same people, orders and identities
    assert _snapshot() == first


def test_demo_customers_tell_a_true_story_about_social_customers(demo):
    # given: the session's demo
    summary = demo.summary("customers")
    # then: a few thousand customers in several countries, in their own scripts
    customers = Customer.objects.filter(external_id__startswith="demo-c-")
    total = customers.count()
    assert 2500 <= total <= 4000
    assert set(customers.values_list("country", flat=True)) >= {"ES", "MX", "AR", "RU", "US", "DE"}
    names = list(customers.values_list("name", flat=True))
    assert any("а" <= ch <= "я" for name in names for ch in name.lower())
    assert any(ch in "áéíóúñ" for name in names for ch in name.lower())
    assert Organisation.objects.count() >= 3
    assert {"ordered-90-days-no-social", "social-customers"} <= set(
        Segment.objects.values_list("slug", flat=True)
    )
    # social customers: 1–8%, on 2–4 platforms each, every link backed by a consent record
    per_customer = Counter(
        SocialIdentity.objects.filter(withdrawn_at__isnull=True).values_list(
            "customer_id", flat=True
        )
    )
    assert 0.01 <= len(per_customer) / total <= 0.08
    assert set(per_customer.values()) <= {2, 3, 4}
    assert f"({len(per_customer)} social)" in summary
    assert not SocialIdentity.objects.filter(consents__isnull=True).exists()
    record = ConsentRecord.objects.select_related("identity").first()
    assert "Northwind Coffee Roasters" in record.text and record.touchpoint
    platforms = set(SocialIdentity.objects.values_list("platform", flat=True))
    assert {"vk", "telegram", "bluesky", "instagram"} <= platforms
    # orders over about 18 months in four currencies
    assert {"EUR", "USD", "RUB", "MXN"} <= set(Order.objects.values_list("currency", flat=True))
    first, last = Order.objects.order_by("ordered_at").first(), Order.objects.latest("ordered_at")
    assert 450 <= (last.ordered_at - first.ordered_at).days <= 560
    # the story: social customers order more often and spend more per order (in EUR)
    social = set(per_customer)
    buyers = Customer.objects.filter(lifecycle_stage__in=["customer", "churned"])
    people = Counter(pk in social for pk in buyers.values_list("pk", flat=True))
    orders, spend = Counter(), {True: Decimal(0), False: Decimal(0)}
    for customer_id, currency, amount in Order.objects.filter(customer__in=buyers).values_list(
        "customer_id", "currency", "total"
    ):
        is_social = customer_id in social
        orders[is_social] += 1
        spend[is_social] += amount / customers_step.EUR_RATE[currency]
    frequency = {k: orders[k] / people[k] for k in (True, False)}
    aov = {k: spend[k] / orders[k] for k in (True, False)}
    assert frequency[True] > frequency[False] * 1.15
    assert aov[True] > aov[False] * Decimal("1.05")
    # near-duplicate people wait for a human decision
    pending = IdentitySuggestion.objects.filter(status="pending")
    assert 5 <= pending.count() <= 10
    dup = Customer.objects.filter(external_id__startswith="demo-d-").first()
    assert Customer.objects.filter(name=dup.name, city=dup.city).count() >= 2
    assert pending.filter(customer=dup).exists()
    # community members who are customers too
    linked = customers.exclude(user=None)
    assert linked.count() >= 5
    assert all(c.email == c.user.email for c in linked.select_related("user"))
