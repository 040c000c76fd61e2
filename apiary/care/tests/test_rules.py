"""Inbox rules: validation with clear messages (unknown keys, bad values, contradictions),
question detection in en/ru/es, each condition against stored mentions, the in-memory cache."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from apiary.care import rules
from apiary.care.models import Conversation, InboxRule

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    "conditions,field,words",
    [
        ({"sentimnets": ["negative"]}, "conditions.sentimnets", "Unknown condition"),
        ({"sentiments": []}, "conditions.sentiments", "never match"),
        ({"sentiments": ["angry"]}, "conditions.sentiments", "'angry'"),
        ({"intents": "purchase", "platforms": ["myspace"]}, "conditions.platforms", "myspace"),
        ({"min_followers": 5000, "max_followers": 100}, "conditions.max_followers", "nothing"),
        ({"min_followers": -1}, "conditions.min_followers", "0 or more"),
        (
            {"customer_linked": False, "min_customer_value": 100},
            "conditions.min_customer_value",
            "never hold",
        ),
        ({"is_question": "yes"}, "conditions.is_question", "true or false"),
        ({"segment_id": 999_999}, "conditions.segment_id", "No segment"),
        ({"countries": ["XX"]}, "conditions.countries", "XX"),
        ({}, "conditions", "every mention"),
        ("negative", "conditions", "object"),
    ],
)
def test_bad_conditions_are_refused_naming_the_condition(conditions, field, words):
    with pytest.raises(ValidationError) as exc:
        rules.rule_conditions_validate(conditions)
    messages = exc.value.message_dict
    assert field in messages, messages
    assert any(words in m for m in messages[field]), messages


def test_conditions_are_cleaned():
    clean = rules.rule_conditions_validate(
        {"sentiments": ["Negative", "negative"], "countries": ["es"], "intents": "support"}
    )
    assert clean == {"sentiments": ["negative"], "countries": ["ES"], "intents": ["support"]}


@pytest.mark.parametrize(
    "text,expected",
    [
        ("Where is my order?", True),
        ("@northwind how do I cancel my subscription", True),
        ("¿Dónde está mi pedido", True),
        ("dónde está mi pedido", True),
        ("Как отменить подписку", True),
        ("Есть ли у вас доставка в Казань", True),
        ("Que bueno el café de Northwind", False),
        ("Loved the espresso today", False),
        ("Кофе отличный", False),
        ("", False),
    ],
)
def test_question_detection(text, expected):
    assert rules.is_question(text) is expected


def test_defaults_are_valid_and_created_once():
    assert rules.rules_ensure_defaults() == len(rules.DEFAULT_RULES)
    assert rules.rules_ensure_defaults() == 0
    assert len(rules.rule_book().rules) == len(rules.DEFAULT_RULES)


def test_first_rule_names_the_reason_and_the_largest_boost_wins(brand, store, raw):
    rules.rule_create(name="Questions", conditions={"is_question": True}, priority_boost=2,
                      position=1)  # fmt: skip
    rules.rule_create(name="Negative", conditions={"sentiments": ["negative"]}, priority_boost=20,
                      position=2)  # fmt: skip
    store(raw(text="Why is Northwind coffee so terrible and awful? Worst ever"))
    c = Conversation.objects.get()
    assert c.opened_reason == "Questions"
    assert {"factor": "rule", "points": 20, "detail": "rule “Questions”"} in c.priority_factors


@pytest.mark.parametrize(
    "conditions,text,changes,opens",
    [
        ({"query_kinds": ["brand"]}, "Northwind is here", {}, True),
        ({"query_kinds": ["competitor"]}, "Northwind is here", {}, False),
        ({"platforms": ["mastodon"]}, "hello", {}, False),
        ({"platforms": ["bluesky"]}, "hello", {}, True),
        ({"min_followers": 1000}, "hello", {"author_followers": 999}, False),
        ({"min_followers": 1000}, "hello", {"author_followers": 1000}, True),
        ({"max_followers": 10}, "hello", {"author_followers": 5}, True),
        ({"languages": ["ru"]}, "Кофе Нортвинд очень вкусный сегодня утром", {}, True),
        ({"languages": ["ru"]}, "The coffee is very tasty this morning", {}, False),
        ({"countries": ["ES"]}, "hello", {"author_location": "Madrid, España"}, True),
        ({"countries": ["RU"]}, "hello", {"author_location": "Madrid, España"}, False),
        ({"customer_linked": True}, "hello", {}, False),
        ({"customer_linked": False}, "hello", {}, True),
        ({"reply_to_brand": True}, "@northwindcoffee.bsky.social thanks", {}, True),
        ({"reply_to_brand": True}, "@someone thanks", {}, False),
    ],
)
def test_each_condition(brand, store, raw, settings, conditions, text, changes, opens):
    settings.APIARY_CARE_BRAND_HANDLES = ["northwindcoffee.bsky.social"]
    rules.rule_create(name="R", conditions=conditions)
    store(raw(text=text, **changes))
    assert Conversation.objects.exists() is opens


def test_reply_to_a_brand_account_post(brand, store, raw, settings):
    settings.APIARY_CARE_BRAND_HANDLES = "northwindcoffee.bsky.social"
    rules.rule_create(name="Replies", conditions={"reply_to_brand": True})
    # the brand's own post, stored as a mention (no rule holds for it: it is not a reply)
    [ours] = store(raw(text="New beans today", author_handle="northwindcoffee.bsky.social"))
    assert not Conversation.objects.exists()
    store(raw(text="Can't wait", parent_external_id=ours.external_id))
    assert Conversation.objects.get().opened_reason == "Replies"


def test_linked_customer_value_and_segment(brand, store, raw):
    from apiary.customers.models import Customer, Order, Segment
    from apiary.customers.services.identities import identity_link

    vip = Customer.objects.create(name="Vera", email="vera@example.com", tags=["vip"])
    Order.objects.create(
        customer=vip, external_id="o1", ordered_at=timezone.now(), currency="EUR", total="500"
    )
    identity_link(customer=vip, platform="bluesky", handle="vera.bsky.social",
                  touchpoint="signup", consent_text="yes")  # fmt: skip
    segment = Segment.objects.create(name="VIP", slug="vip", filters={"tags": ["vip"]})
    rules.rule_create(name="Value", conditions={"min_customer_value": "400"})
    rules.rule_create(name="Seg", conditions={"segment_id": segment.pk}, position=200)
    store(raw(text="hello", author_handle="someone.bsky.social"))
    assert not Conversation.objects.exists()
    store(raw(text="hello", author_handle="vera.bsky.social"))
    c = Conversation.objects.get()
    assert c.customer_id == vip.pk and c.opened_reason == "Value"
    assert any(f["factor"] == "customer_value" for f in c.priority_factors)


def test_cache_refreshes_when_rules_change(brand, store, raw):
    assert rules.rule_book().rules == ()
    # a rule written by another process (no invalidate here), seen after CHECK_SECONDS
    InboxRule.objects.create(name="X", conditions={"query_kinds": ["brand"]})
    rules._cache._checked -= rules.CHECK_SECONDS + 1
    assert [r.name for r in rules.rule_book().rules] == ["X"]
    # deactivation is seen too
    InboxRule.objects.update(active=False)
    rules._cache._checked -= rules.CHECK_SECONDS + 1
    assert rules.rule_book().rules == ()


def test_a_rule_broken_since_is_skipped_not_matching_everything(brand, store, raw):
    InboxRule.objects.create(name="Broken", conditions={"segment_id": 424242})
    rules.rules_invalidate()
    store(raw(text="Northwind"))
    assert not Conversation.objects.exists()


def test_rule_update_and_name_clash():
    a = rules.rule_create(name="A", conditions={"is_question": True})
    rules.rule_create(name="B", conditions={"is_question": True})
    with pytest.raises(ValidationError) as exc:
        rules.rule_update(rule=a, name="B")
    assert "name" in exc.value.message_dict
    with pytest.raises(ValidationError) as exc:
        rules.rule_update(rule=a, priority_boost=500)
    assert "priority_boost" in exc.value.message_dict
    rules.rule_update(rule=a, conditions={"sentiments": ["negative"]}, active=False)
    a.refresh_from_db()
    assert a.conditions == {"sentiments": ["negative"]} and a.active is False
