"""Priority: every point explained by a factor; influence on a log scale; levels."""

from decimal import Decimal

import pytest

from apiary.care import priority
from apiary.care.priority import CustomerValue, priority_score


def test_factors_add_up_to_the_score():
    score, level, factors = priority_score(
        followers=120_000,
        customer_linked=True,
        value=CustomerValue(orders=4, total=Decimal("850")),
        sentiment="negative",
        intent="support",
        is_question=True,
        boost=5,
        boost_rule="VIP",
    )
    assert score == sum(f["points"] for f in factors)
    assert {f["factor"] for f in factors} == {
        "influence",
        "customer_value",
        "repeat_customer",
        "sentiment",
        "intent",
        "question",
        "rule",
    }
    assert level == "urgent"
    assert all(f["detail"] for f in factors)


def test_influence_is_logarithmic_and_capped():
    def points(n):
        _s, _l, f = priority_score(
            followers=n, customer_linked=False, value=None, sentiment="positive", intent="none"
        )
        return sum(x["points"] for x in f if x["factor"] == "influence")

    assert points(50) == 0
    assert 0 < points(1_000) < points(100_000)
    assert points(10_000_000) == priority.INFLUENCE_MAX


def test_score_is_kept_within_0_and_100_and_says_so():
    score, level, factors = priority_score(
        followers=None,
        customer_linked=False,
        value=None,
        sentiment="positive",
        intent="none",
        boost=-40,
        boost_rule="Ignore",
    )
    assert score == 0 and level == "low"
    assert factors[-1]["factor"] == "clamp"
    assert sum(f["points"] for f in factors) == 0


@pytest.mark.django_db
def test_customer_values_in_one_query(django_assert_num_queries):
    from django.utils import timezone

    from apiary.customers.models import Customer, Order

    a = Customer.objects.create(name="A", email="a@example.com")
    b = Customer.objects.create(name="B", email="b@example.com")
    for i, total in enumerate(["10.00", "20.50"]):
        Order.objects.create(
            customer=a, external_id=f"o{i}", ordered_at=timezone.now(), currency="EUR", total=total
        )
    with django_assert_num_queries(1):
        values = priority.customer_values([a.pk, b.pk])
    assert values[a.pk] == CustomerValue(2, Decimal("30.50"))
    assert values[b.pk] == CustomerValue(0, Decimal(0))
