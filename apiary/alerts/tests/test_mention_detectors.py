"""Lead, advocate and custom rules in the ingestion hook: alerts from real stored mentions,
dedup on retry, evidence joining an open alert, cooldown, boosts, and preview = live."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError

from apiary.alerts.models import Alert, AlertEvent
from apiary.alerts.preview import preview
from apiary.alerts.services import alert_resolve, rule_conditions_validate
from apiary.customers.models import Customer, Order, SocialIdentity
from apiary.listening.consumer import store_enriched
from apiary.listening.models import Mention

from .conftest import BUY, NEG, POS, post, store

pytestmark = pytest.mark.django_db


def test_a_purchase_intent_post_raises_a_lead_alert_when_it_is_stored(queries, make_rule):
    # given
    rule = make_rule("lead", {}, severity="low")
    # when
    store(post(BUY, _now(), author_handle="ana.bsky.social", author_followers=50))
    # then
    alert = Alert.objects.get()
    mention = Mention.objects.get()
    assert alert.kind == "lead" and alert.rule == rule
    assert alert.mention_id == mention.pk and alert.mention_ids == [mention.pk]
    assert alert.severity == "low"
    assert "@ana.bsky.social" in alert.title
    assert alert.explanation["intent"] == "purchase"
    assert alert.explanation["queries"] == ["Northwind"]
    assert alert.suggested_actions[:2] == ["reply_template", "offer_discount"]
    assert AlertEvent.objects.get(alert=alert).kind == "opened"


def test_a_retried_batch_never_alerts_twice(queries, make_rule):
    # given
    make_rule("lead", {})
    raw = post(BUY, _now())
    result = store(raw)
    # when: the stream re-delivers the same mention, and the hook itself runs again
    store(raw)
    from apiary.alerts.detectors.mention import on_store
    from apiary.listening.consumer import pipeline_state
    from apiary.listening.pipeline import enrich

    on_store(enrich([raw], book=pipeline_state().book()), result)
    # then
    assert Alert.objects.count() == 1
    assert Alert.objects.get().mention_count == 1


def test_the_same_authors_next_post_joins_the_open_alert(queries, make_rule):
    make_rule("lead", {})
    store(post(BUY, _now(), author_handle="bob.bsky.social"))
    store(post(BUY, _now(), author_handle="bob.bsky.social"))
    alert = Alert.objects.get()
    assert alert.mention_count == 2 and len(alert.mention_ids) == 2


def test_cooldown_after_resolution_then_a_new_alert(queries, make_rule, admin_user):
    # given
    make_rule("lead", {}, cooldown_minutes=60)
    t = _now() - timedelta(hours=3)
    store(post(BUY, t, author_handle="cy.bsky.social"))
    alert_resolve(alert_id=Alert.objects.get().pk, user=admin_user)
    # when: 30 minutes later (inside the cooldown) and 2 hours later (after it)
    store(post(BUY, t + timedelta(minutes=30), author_handle="cy.bsky.social"))
    assert Alert.objects.count() == 1
    store(post(BUY, t + timedelta(hours=2), author_handle="cy.bsky.social"))
    # then
    assert Alert.objects.count() == 2
    assert Alert.objects.filter(status="open").count() == 1


def test_known_customer_and_influence_boost_a_lead(queries, make_rule):
    # given: a customer with a consented identity and orders
    customer = Customer.objects.create(name="Dana Doe", email="dana@example.com")
    SocialIdentity.objects.create(customer=customer, platform="bluesky", handle="dana.bsky.social")
    Order.objects.create(
        external_id="o1", customer=customer, ordered_at=_now(), currency="EUR", total=Decimal("80")
    )
    make_rule("lead", {"boost_followers": 1000}, severity="low")
    # when
    store(post(BUY, _now(), author_handle="dana.bsky.social", author_followers=5000))
    # then: two steps up (known customer, influential)
    alert = Alert.objects.get()
    assert alert.customer_id == customer.pk
    assert alert.severity == "high"
    assert set(alert.explanation["reasons"]) == {"influential", "known_customer"}
    assert alert.explanation["customer_value"] == "80.00"


def test_advocate_needs_an_influential_author_or_a_valuable_customer(queries, make_rule):
    make_rule("advocate", {"min_followers": 1000})
    store(
        post(POS, _now(), author_handle="small.bsky.social", author_followers=20),
        post(POS, _now(), author_handle="big.bsky.social", author_followers=20_000),
        post(NEG, _now(), author_handle="angry.bsky.social", author_followers=90_000),
    )
    alert = Alert.objects.get()
    assert alert.kind == "advocate" and "@big.bsky.social" in alert.title
    assert alert.suggested_actions[0] == "invite_community"


def test_custom_rule_conditions_are_anded(queries, make_rule):
    make_rule("custom", {"sentiments": ["negative"], "min_followers": 500, "countries": ["ES"]})
    store(
        post(NEG, _now(), author_followers=600),  # Madrid → ES: matches
        post(NEG, _now(), author_followers=100),  # too small
        post(NEG, _now(), author_followers=900, author_location="Berlin, Germany"),
        post(POS, _now(), author_followers=900),
    )
    assert Alert.objects.count() == 1
    assert Alert.objects.get().explanation["followers"] == 600


def test_a_broken_detector_never_fails_the_mention_storage(queries, make_rule, monkeypatch):
    make_rule("lead", {})
    from apiary.alerts.detectors import mention

    def boom(*a, **k):
        raise RuntimeError("detector bug")

    monkeypatch.setattr(mention, "evaluate", boom)
    store(post(BUY, _now()))
    assert Mention.objects.count() == 1
    assert not Alert.objects.exists()


def test_preview_counts_what_the_hook_did(queries, make_rule, admin_user):
    # given: leads from three authors over two days; one author twice inside the cooldown,
    # one twice with the first alert resolved and the cooldown over
    rule = make_rule("lead", {}, cooldown_minutes=120)
    t = _now() - timedelta(days=2)
    plan = [
        (t, "a"),
        (t + timedelta(minutes=10), "a"),
        (t + timedelta(minutes=20), "b"),
        (t + timedelta(hours=5), "b"),
        (t + timedelta(days=1), "c"),
        (t + timedelta(days=1, minutes=5), "zz"),
    ]
    for at, who in plan:
        if who == "b" and Alert.objects.filter(status="open", dedup_key__endswith=":b").exists():
            alert_resolve(alert_id=Alert.objects.get(dedup_key__endswith=":b").pk, user=admin_user)
        store(post(BUY, at, author_handle=who))
    store(post(NEG, t, author_handle="noise"))
    # when
    answer = preview(kind="lead", conditions={}, cooldown_minutes=120, days=7)
    # then
    assert answer["fires"] == Alert.objects.filter(rule=rule).count() == 5
    assert sum(d["fires"] for d in answer["by_day"]) == 5
    assert len(answer["examples"]) == 5


@pytest.mark.parametrize(
    ("kind", "conditions", "field"),
    [
        ("custom", {"min_followers": 500, "max_followers": 100}, "min_followers"),
        ("custom", {"sentiments": []}, "sentiments"),
        ("custom", {"bogus": 1}, "bogus"),
        ("custom", {}, "conditions"),
        ("lead", {"intents": ["support"]}, "intents"),
        ("advocate", {"sentiments": ["negative"]}, "sentiments"),
        ("custom", {"customer_linked": False, "min_customer_value": 10}, "customer_linked"),
        ("custom", {"platforms": ["myspace"]}, "platforms"),
        ("custom", {"countries": ["XX"]}, "countries"),
        ("custom", {"query_ids": [999999]}, "query_ids"),
        ("crisis_spike", {"window_minutes": 40, "baseline_minutes": 30}, "window_minutes"),
        ("crisis_spike", {"z_score": "high"}, "z_score"),
        ("crisis_spike", {"measure": ["volume"]}, "measure"),
        ("vip_waiting", {"wait_minutes": 0}, "wait_minutes"),
    ],
)
def test_bad_or_contradictory_conditions_are_refused_per_field(db, kind, conditions, field):
    with pytest.raises(ValidationError) as exc:
        rule_conditions_validate(kind, conditions)
    assert field in exc.value.message_dict
    assert all(m for m in exc.value.message_dict[field])


def test_conditions_are_cleaned(db):
    cleaned = rule_conditions_validate(
        "custom", {"countries": ["es", "ES"], "sentiments": ["Negative"], "min_customer_value": 5}
    )
    assert cleaned == {
        "countries": ["ES"],
        "sentiments": ["negative"],
        "min_customer_value": "5.00",
    }


def test_hook_cost_is_a_few_statements_per_batch(queries, make_rule, django_assert_max_num_queries):
    # A batch of 200 new mentions with 40 leads: the hook reads and writes in bulk.
    make_rule("lead", {})
    make_rule("advocate", {"min_followers": 10})
    raws = [post(BUY if i % 5 == 0 else NEG, _now()) for i in range(200)]
    from apiary.alerts.detectors.mention import on_store
    from apiary.listening.consumer import pipeline_state
    from apiary.listening.pipeline import enrich
    from apiary.listening.services.store import mentions_store

    enriched = enrich(raws, book=pipeline_state().book())
    from django.db import transaction

    with transaction.atomic():
        result = mentions_store(enriched)
        on_store(enriched, result)  # warm the rule book
    raws2 = [post(BUY if i % 5 == 0 else NEG, _now()) for i in range(200)]
    enriched2 = enrich(raws2, book=pipeline_state().book())
    with transaction.atomic():
        result2 = mentions_store(enriched2)
        with django_assert_max_num_queries(20):
            on_store(enriched2, result2)
    assert Alert.objects.filter(kind="lead").count() == 80
    assert store_enriched  # the consumer's entry point that runs the hooks


def _now():
    from django.utils import timezone

    return timezone.now() - timedelta(seconds=5)
