"""SLA breach and VIP waiting from real care conversations (self-resolving when answered),
and the next actions performing their effect, logged on the alert."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.core import mail
from django.utils import timezone

from apiary.accounts.models import Role
from apiary.alerts.actions import alert_action_perform
from apiary.alerts.detectors.care import CareDetector
from apiary.alerts.models import Alert, AlertAction, Coupon
from apiary.care import services as care
from apiary.care.canned import canned_ensure_defaults
from apiary.care.models import Conversation, Message
from apiary.care.sla import sla_breach_check
from apiary.customers.models import Customer, Order, SocialIdentity
from apiary.listening.models import Mention

from .conftest import BUY, NEG, POS, post, store

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _mail(settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"


def _conversation(handle="eve.bsky.social"):
    store(post(NEG, timezone.now() - timedelta(seconds=5), author_handle=handle))
    mention = Mention.objects.get(author_handle=handle)
    return care.conversation_open_from_mention(mention_id=mention.pk), mention


def _customer(handle, total="250", tags=("newsletter",), email="vip@example.com"):
    customer = Customer.objects.create(name="Vera Vip", email=email, tags=list(tags))
    SocialIdentity.objects.create(customer=customer, platform="bluesky", handle=handle)
    Order.objects.create(
        external_id=f"o-{handle}",
        customer=customer,
        ordered_at=timezone.now(),
        currency="EUR",
        total=Decimal(total),
    )
    return customer


def test_an_sla_breach_alerts_once_and_resolves_when_answered(queries, make_rule):
    # given
    make_rule("sla_breach", {})
    detector = CareDetector()
    detector.sla_tick(detector_rules("sla_breach"))  # watermark at the current feed end
    conv, _m = _conversation()
    Conversation.objects.filter(pk=conv.pk).update(sla_due_at=timezone.now() - timedelta(minutes=1))
    # when
    assert sla_breach_check() == [conv.pk]
    detector.sla_tick(detector_rules("sla_breach"))
    detector.sla_tick(detector_rules("sla_breach"))  # the same events are not read twice
    # then
    alert = Alert.objects.get()
    assert alert.kind == "sla_breach" and alert.conversation_id == conv.pk
    assert alert.suggested_actions[0] == "escalate_manager"
    # when: the first reply goes out
    Conversation.objects.filter(pk=conv.pk).update(first_response_at=timezone.now())
    detector.resolve_answered()
    alert.refresh_from_db()
    assert alert.status == "resolved" and alert.auto_resolved


def test_vip_waiting_alerts_for_valuable_customers_only(queries, make_rule):
    # given: a valuable and a small customer, both waiting 30 minutes
    _customer("vip.bsky.social", total="900")
    _customer("small.bsky.social", total="20", email="small@example.com")
    make_rule("vip_waiting", {"min_customer_value": "200", "wait_minutes": 15})
    vip, _m = _conversation("vip.bsky.social")
    small, _m2 = _conversation("small.bsky.social")
    past = timezone.now() - timedelta(minutes=30)
    Conversation.objects.filter(pk__in=[vip.pk, small.pk]).update(last_inbound_at=past)
    # when
    CareDetector().vip_tick(detector_rules("vip_waiting"))
    # then
    alert = Alert.objects.get()
    assert alert.kind == "vip_waiting" and alert.conversation_id == vip.pk
    assert alert.explanation["customer_value"] == "900.00"
    assert alert.explanation["waited_minutes"] >= 29


def test_vip_waiting_with_a_clock_set_back_does_not_alert(queries, make_rule):
    _customer("vip.bsky.social", total="900")
    make_rule("vip_waiting", {"wait_minutes": 15})
    vip, _m = _conversation("vip.bsky.social")
    Conversation.objects.filter(pk=vip.pk).update(
        last_inbound_at=timezone.now() - timedelta(minutes=30)
    )
    clock_back = timezone.now() - timedelta(hours=2)
    CareDetector(clock=lambda: clock_back).vip_tick(detector_rules("vip_waiting"))
    assert not Alert.objects.exists()


def detector_rules(kind):
    from apiary.alerts.detectors import rulebook

    rulebook.invalidate()
    return [r for r in rulebook.get().care_rules if r.kind == kind]


# --- Next actions --------------------------------------------------------------------------


@pytest.fixture
def agent(make_user):
    return make_user(Role.CARE_AGENT, email="agent@example.com", display_name="Ann Agent")


def _lead(handle="lead.bsky.social", make_rule=None):
    store(post(BUY, timezone.now() - timedelta(seconds=5), author_handle=handle))
    return Alert.objects.get(kind="lead", mention__author_handle=handle)


def test_reply_with_a_template_opens_the_conversation_with_the_answer_selected(
    queries, make_rule, agent
):
    canned_ensure_defaults()
    make_rule("lead", {})
    alert = _lead()
    # when
    result = alert_action_perform(alert_id=alert.pk, action_key="reply_template", user=agent)
    # then
    assert result["ok"], result
    conv = Conversation.objects.get()
    assert Message.objects.filter(conversation=conv, mention=alert.mention).exists()
    assert result["redirect_url"].startswith(f"/care/c/{conv.pk}/?canned=")
    assert "draft=" in result["redirect_url"]
    alert.refresh_from_db()
    assert alert.status == "acknowledged" and alert.conversation_id == conv.pk
    logged = AlertAction.objects.get(alert=alert)
    assert logged.ok and logged.action_key == "reply_template" and logged.user == agent


def test_offer_a_discount_records_a_coupon_and_prefills_the_reply(queries, make_rule, agent):
    make_rule("lead", {})
    alert = _lead()
    result = alert_action_perform(
        alert_id=alert.pk, action_key="offer_discount", user=agent, params={"percent": 15}
    )
    coupon = Coupon.objects.get()
    assert result["ok"] and coupon.code in result["redirect_url"]
    assert coupon.amount == Decimal("15.00") and coupon.alert == alert
    assert coupon.expires_at > timezone.now() + timedelta(days=29)


def test_a_bad_discount_is_refused(queries, make_rule, agent):
    from django.core.exceptions import ValidationError

    make_rule("lead", {})
    alert = _lead()
    with pytest.raises(ValidationError):
        alert_action_perform(
            alert_id=alert.pk, action_key="offer_discount", user=agent, params={"percent": 90}
        )
    assert not Coupon.objects.exists()


def test_escalate_assigns_a_care_manager_and_emails_them(queries, make_rule, agent, make_user):
    manager = make_user(Role.CARE_MANAGER, email="boss@example.com", display_name="Bo Boss")
    make_rule("lead", {})
    alert = _lead()
    result = alert_action_perform(alert_id=alert.pk, action_key="escalate_manager", user=agent)
    assert result["ok"], result
    assert Conversation.objects.get().assignee == manager
    assert mail.outbox[-1].to == ["boss@example.com"]
    assert alert.title in mail.outbox[-1].subject


def test_invite_needs_an_email_and_consent(queries, make_rule, agent):
    make_rule("advocate", {"min_followers": 10})
    _customer("fan.bsky.social", tags=())
    store(post(POS, timezone.now(), author_handle="fan.bsky.social", author_followers=500))
    alert = Alert.objects.get(kind="advocate")
    # without consent: refused with the reason, logged, nothing sent
    result = alert_action_perform(alert_id=alert.pk, action_key="invite_community", user=agent)
    assert not result["ok"] and "newsletter" in result["message"]
    assert not mail.outbox
    # with consent: sent once
    Customer.objects.update(tags=["newsletter"])
    result = alert_action_perform(alert_id=alert.pk, action_key="invite_community", user=agent)
    assert result["ok"] and mail.outbox[-1].to == ["vip@example.com"]
    again = alert_action_perform(alert_id=alert.pk, action_key="invite_community", user=agent)
    assert not again["ok"] and len(mail.outbox) == 1
    assert list(AlertAction.objects.values_list("ok", flat=True)) == [False, True, False]


def test_actions_without_permission_or_on_resolved_alerts(queries, make_rule, make_user, agent):
    from django.core.exceptions import PermissionDenied

    from apiary.alerts.services import alert_resolve

    make_rule("lead", {})
    alert = _lead()
    analyst = make_user(Role.ANALYST)  # may view alerts, not the inbox
    result = alert_action_perform(alert_id=alert.pk, action_key="open_conversation", user=analyst)
    assert not result["ok"] and "inbox" in result["message"]
    with pytest.raises(PermissionDenied):
        alert_action_perform(
            alert_id=alert.pk, action_key="open_conversation", user=make_user(Role.MEMBER)
        )
    alert_resolve(alert_id=alert.pk, user=agent)
    result = alert_action_perform(alert_id=alert.pk, action_key="open_conversation", user=agent)
    assert not result["ok"] and "resolved" in result["message"]
