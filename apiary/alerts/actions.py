"""Next actions: what an alert suggests, whether each can be done now (and why not), and doing
it in one click (``alert_action_perform``), logged on the alert.

- ``open_conversation``: opens (or joins) the inbox conversation of the alert's mention.
- ``reply_template``: the same, with the kind's canned response pre-selected and rendered
  (the conversation URL carries ``?canned=<id>&draft=<text>``).
- ``offer_discount`` / ``offer_credit``: records a ``Coupon`` (code, percent or amount) and
  opens the conversation with a reply offering it (``?draft=``).
- ``escalate_manager``: assigns the conversation to a care manager and e-mails them; for a
  spike (no single conversation) e-mails every care manager.
- ``invite_community`` / ``invite_referral``: e-mails the linked customer — only with an e-mail
  address and contact consent (the ``newsletter`` tag); otherwise disabled with the reason.

Performing an action acknowledges an open alert: someone is on it.
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal, InvalidOperation
from urllib.parse import urlencode

from django.core.exceptions import PermissionDenied, ValidationError
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from apiary.accounts.access import Perm, user_has_permission

from .models import Alert, AlertAction, AlertEvent, Coupon, Kind, Status

logger = logging.getLogger(__name__)

CONTACT_CONSENT_TAG = "newsletter"  # the customer agreed to hear from us by e-mail
COUPON_DAYS = 30
DEFAULT_PERCENT = 10
MAX_PERCENT = 50
DEFAULT_CREDIT = Decimal("10.00")
MAX_CREDIT = Decimal("500.00")

LABELS = {
    "open_conversation": gettext_lazy("Open a conversation"),
    "reply_template": gettext_lazy("Reply with a template"),
    "offer_discount": gettext_lazy("Offer a discount"),
    "offer_credit": gettext_lazy("Offer a credit"),
    "escalate_manager": gettext_lazy("Escalate to a manager"),
    "invite_community": gettext_lazy("Invite to the community"),
    "invite_referral": gettext_lazy("Invite to the referral programme"),
}
ALL_ACTIONS = tuple(LABELS)

TEMPLATE_FOR_KIND = {
    Kind.LEAD: "thanks-for-reaching-out",
    Kind.ADVOCATE: "thanks-for-feedback",
    Kind.CUSTOM: "thanks-for-reaching-out",
    Kind.CRISIS_SPIKE: "sorry-for-the-trouble",
    Kind.COMPETITOR_MOVE: "thanks-for-reaching-out",
    Kind.SLA_BREACH: "sorry-for-the-trouble",
    Kind.VIP_WAITING: "sorry-for-the-trouble",
}


class ActionUnavailable(Exception):
    """The action cannot be done on this alert now (the message says why; API: 409)."""


@dataclass
class Availability:
    key: str
    label: str
    enabled: bool
    reason: str = ""

    def as_dict(self) -> dict:
        return {
            "key": self.key,
            "label": self.label,
            "enabled": self.enabled,
            "reason": self.reason,
        }


def _mention_id(alert: Alert) -> int | None:
    if alert.mention_id:
        return alert.mention_id
    return alert.mention_ids[-1] if alert.mention_ids else None


def _customer(alert: Alert):
    from apiary.customers.models import Customer

    cid = alert.customer_id
    if cid is None and alert.conversation_id:
        cid = alert.conversation.customer_id if alert.conversation else None
    if cid is None and alert.mention_id:
        cid = alert.mention.customer_id if alert.mention else None
    if cid is None:
        return None
    return Customer.objects.filter(pk=cid, deleted_at__isnull=True, erased_at__isnull=True).first()


def _managers():
    from apiary.accounts.models import Role, User

    return list(User.objects.filter(is_active=True, role=Role.CARE_MANAGER).order_by("pk")) or list(
        User.objects.filter(is_active=True, role=Role.ADMIN).order_by("pk")
    )


def availability(alert: Alert, user, key: str) -> Availability:
    label = str(LABELS.get(key, key))
    if key not in LABELS:
        return Availability(key, label, False, _("Unknown action."))
    if alert.status == Status.RESOLVED:
        return Availability(key, label, False, _("The alert is resolved."))
    conversational = key in (
        "open_conversation",
        "reply_template",
        "offer_discount",
        "offer_credit",
        "escalate_manager",
    )
    if (
        conversational
        and key != "escalate_manager"
        and not user_has_permission(user, Perm.CARE_INBOX)
    ):
        return Availability(key, label, False, _("You need access to the care inbox."))
    if key in ("open_conversation", "reply_template", "offer_discount", "offer_credit"):
        if not alert.conversation_id and _mention_id(alert) is None:
            return Availability(key, label, False, _("This alert has no post to answer."))
    if key == "reply_template":
        from apiary.care.models import CannedResponse

        if not CannedResponse.objects.filter(key=TEMPLATE_FOR_KIND[alert.kind]).exists():
            return Availability(
                key,
                label,
                False,
                _("No canned response %(key)s yet.") % {"key": TEMPLATE_FOR_KIND[alert.kind]},
            )
    if key == "escalate_manager" and not _managers():
        return Availability(key, label, False, _("There is no active care manager."))
    if key in ("invite_community", "invite_referral"):
        customer = _customer(alert)
        if customer is None:
            return Availability(key, label, False, _("The author is not a known customer."))
        if not customer.email:
            return Availability(key, label, False, _("The customer has no e-mail address."))
        if CONTACT_CONSENT_TAG not in (customer.tags or []):
            return Availability(
                key,
                label,
                False,
                _("The customer has not agreed to e-mails (no %(tag)r tag).")
                % {"tag": CONTACT_CONSENT_TAG},
            )
        already = AlertAction.objects.filter(
            alert__customer_id=customer.pk, action_key=key, ok=True
        ).exists()
        if already:
            return Availability(key, label, False, _("This customer was invited already."))
    return Availability(key, label, True)


def suggested(alert: Alert, user) -> list[dict]:
    keys = list(alert.suggested_actions or [])
    # "Open a conversation" is always offered last when there is a post to answer.
    if "open_conversation" not in keys and _mention_id(alert) is not None:
        keys.append("open_conversation")
    return [availability(alert, user, k).as_dict() for k in keys if k in LABELS]


# --- Performing ----------------------------------------------------------------------------


def _conversation_url(conversation_id: int, **params) -> str:
    try:
        url = reverse("care:conversation", args=[conversation_id])
    except NoReverseMatch:
        url = f"/care/c/{conversation_id}/"
    clean = {k: v for k, v in params.items() if v not in (None, "")}
    return f"{url}?{urlencode(clean)}" if clean else url


def _conversation_for(alert: Alert, user):
    from apiary.care import services as care

    if alert.conversation_id:
        return alert.conversation
    mention_id = _mention_id(alert)
    conversation = care.conversation_open_from_mention(
        mention_id=mention_id, user=user, reason=f"alert:{alert.kind}"
    )
    if alert.conversation_id is None:
        Alert.objects.filter(pk=alert.pk).update(conversation=conversation)
        alert.conversation = conversation
    return conversation


def _canned(alert: Alert, conversation):
    from apiary.care.canned import canned_for

    key = TEMPLATE_FOR_KIND[alert.kind]
    for r in canned_for(language=conversation.language or None):
        if r.key == key:
            return r
    return None


def _coupon_code() -> str:
    alphabet = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I: read over the phone
    return "APY-" + "".join(secrets.choice(alphabet) for _ in range(8))


def _amount(params: dict, key: str, default: Decimal, high: Decimal) -> Decimal:
    raw = params.get(key, default)
    try:
        if isinstance(raw, bool):
            raise InvalidOperation
        value = Decimal(str(raw)).quantize(Decimal("0.01"))
    except (InvalidOperation, ValueError):
        raise ValidationError({key: [_("Must be a number.")]}) from None
    if not Decimal("0.01") <= value <= high:
        raise ValidationError({key: [_("Must be from 0.01 to %(max)s.") % {"max": high}]})
    return value


def _do_open(alert, user, params):
    conversation = _conversation_for(alert, user)
    return (
        _("Conversation #%(id)s is open.") % {"id": conversation.pk},
        _conversation_url(conversation.pk),
        {"conversation_id": conversation.pk},
    )


def _do_reply(alert, user, params):
    from apiary.care.canned import canned_render

    conversation = _conversation_for(alert, user)
    response = _canned(alert, conversation)
    if response is None:
        raise ActionUnavailable(_("No canned response for this kind of alert."))
    draft = canned_render(response=response, conversation=conversation, agent=user)
    return (
        _("Conversation #%(id)s is open with the answer %(title)r selected.")
        % {"id": conversation.pk, "title": response.title},
        _conversation_url(conversation.pk, canned=response.pk, draft=draft),
        {"conversation_id": conversation.pk, "canned_response_id": response.pk},
    )


def _do_offer(alert, user, params, *, kind: str):
    conversation = _conversation_for(alert, user)
    customer = _customer(alert)
    now = timezone.now()
    if kind == Coupon.CouponKind.PERCENT:
        amount = _amount(params, "percent", Decimal(DEFAULT_PERCENT), Decimal(MAX_PERCENT))
        currency = ""
    else:
        amount = _amount(params, "amount", DEFAULT_CREDIT, MAX_CREDIT)
        currency = _currency(customer, params)
    for _attempt in range(5):
        try:
            with transaction.atomic():
                coupon = Coupon.objects.create(
                    code=_coupon_code(),
                    kind=kind,
                    amount=amount,
                    currency=currency,
                    alert=alert,
                    customer=customer,
                    mention_id=_mention_id(alert),
                    created_by=user,
                    created_at=now,
                    expires_at=now + timedelta(days=COUPON_DAYS),
                )
            break
        except IntegrityError:  # a code collision (1 in 10^12): draw again
            continue
    else:
        raise ActionUnavailable(_("Could not generate a unique code; try again."))
    if kind == Coupon.CouponKind.PERCENT:
        draft = _(
            "We'd love to have you: here is %(n)s%% off your next order with the code %(code)s "
            "(valid for %(days)s days)."
        ) % {"n": f"{amount.normalize():f}", "code": coupon.code, "days": COUPON_DAYS}
        message = _("Discount code %(code)s (%(n)s%%) created.") % {
            "code": coupon.code,
            "n": f"{amount.normalize():f}",
        }
    else:
        draft = _(
            "We're sorry for the trouble. We've added a credit of %(amount)s %(cur)s to use with "
            "the code %(code)s (valid for %(days)s days)."
        ) % {"amount": amount, "cur": currency, "code": coupon.code, "days": COUPON_DAYS}
        message = _("Credit %(code)s (%(amount)s %(cur)s) created.") % {
            "code": coupon.code,
            "amount": amount,
            "cur": currency,
        }
    return (
        message,
        _conversation_url(conversation.pk, draft=draft),
        {"conversation_id": conversation.pk, "coupon": coupon.code, "amount": str(amount)},
    )


def _currency(customer, params) -> str:
    cur = params.get("currency")
    if isinstance(cur, str) and len(cur.strip()) == 3 and cur.strip().isalpha():
        return cur.strip().upper()
    if customer is not None:
        from apiary.customers.models import Order

        last = (
            Order.objects.filter(customer_id=customer.pk)
            .order_by("-ordered_at")
            .values_list("currency", flat=True)
            .first()
        )
        if last:
            return last
    return "EUR"


def _do_escalate(alert, user, params):
    from apiary.care import services as care

    managers = _managers()
    if not managers:
        raise ActionUnavailable(_("There is no active care manager."))
    manager_id = params.get("manager_id")
    if manager_id is not None:
        chosen = [m for m in managers if m.pk == manager_id]
        if not chosen:
            raise ValidationError({"manager_id": [_("Not an active care manager.")]})
        managers = chosen
    result: dict = {"managers": [m.pk for m in managers[:1]]}
    url = None
    if alert.conversation_id or _mention_id(alert) is not None:
        conversation = _conversation_for(alert, user)
        manager = managers[0]
        if manager_id is None:
            # The manager with the fewest open conversations takes it.
            from django.db.models import Count, Q

            from apiary.accounts.models import User

            manager = (
                User.objects.filter(pk__in=[m.pk for m in managers])
                .annotate(
                    n=Count("care_conversations", filter=Q(care_conversations__status="open"))
                )
                .order_by("n", "pk")
                .first()
            )
        care.conversation_assign(
            conversation_id=conversation.pk, assignee_id=manager.pk, actor=user
        )
        recipients = [manager]
        result.update(conversation_id=conversation.pk, managers=[manager.pk])
        url = _conversation_url(conversation.pk)
        message = _("Assigned to %(name)s, who has been e-mailed.") % {
            "name": manager.display_name or manager.email
        }
    else:
        recipients = managers
        result["managers"] = [m.pk for m in managers]
        message = _("%(n)s care manager(s) e-mailed.") % {"n": len(managers)}
    from .delivery import alert_url

    note = params.get("note") if isinstance(params.get("note"), str) else ""
    who = getattr(user, "display_name", "") or getattr(user, "email", "")
    body = "\n".join(
        line
        for line in [
            _("%(who)s escalated an alert to you:") % {"who": who},
            "",
            alert.title,
            note[:1000],
            "",
            alert_url(alert.pk),
        ]
        if line is not None
    )
    send_mail(
        f"[Apiary] {_('Escalated')}: {alert.title}"[:250],
        body,
        None,
        [m.email for m in recipients if m.email],
    )
    return message, url, result


def _do_invite(alert, user, params, *, programme: str):
    customer = _customer(alert)
    first = (customer.name or "").split(" ")[0] or _("there")
    if programme == "community":
        subject = _("Join our community")
        body = _(
            "Hi %(first)s,\n\nThank you for speaking up about us. We'd love to have you in our "
            "customer community: ask questions, share tips and meet other fans.\n\n"
            "Reply to this e-mail if you'd rather not hear from us."
        ) % {"first": first}
    else:
        subject = _("Our referral programme")
        body = _(
            "Hi %(first)s,\n\nThank you for recommending us. Our referral programme gives you "
            "and each friend you invite a reward on your next order.\n\n"
            "Reply to this e-mail if you'd rather not hear from us."
        ) % {"first": first}
    send_mail(subject, body, None, [customer.email])
    return (
        _("Invitation e-mailed to %(email)s.") % {"email": customer.email},
        None,
        {"customer_id": customer.pk, "programme": programme},
    )


_PERFORM = {
    "open_conversation": _do_open,
    "reply_template": _do_reply,
    "offer_discount": lambda a, u, p: _do_offer(a, u, p, kind=Coupon.CouponKind.PERCENT),
    "offer_credit": lambda a, u, p: _do_offer(a, u, p, kind=Coupon.CouponKind.CREDIT),
    "escalate_manager": _do_escalate,
    "invite_community": lambda a, u, p: _do_invite(a, u, p, programme="community"),
    "invite_referral": lambda a, u, p: _do_invite(a, u, p, programme="referral"),
}


def alert_action_perform(*, alert_id: int, action_key: str, user, params: dict | None = None):
    """Do one next action now. Returns ``{"ok", "message", "redirect_url"}``; an action that
    cannot be done answers ``ok: False`` with the reason (and is logged as such)."""
    from .access import alert_for_view

    if params is None:
        params = {}
    if not isinstance(params, dict):
        raise ValidationError({"params": [_("Must be an object.")]})
    alert = alert_for_view(user=user, alert_id=alert_id)
    if not user_has_permission(user, Perm.ALERTS_VIEW):
        raise PermissionDenied
    avail = availability(alert, user, action_key)
    now = timezone.now()
    if not avail.enabled:
        if action_key in LABELS:
            AlertAction.objects.create(
                alert=alert,
                action_key=action_key,
                user=user,
                params=params,
                ok=False,
                message=avail.reason,
                at=now,
            )
        return {"ok": False, "message": avail.reason, "redirect_url": None}
    try:
        with transaction.atomic():
            message, url, result = _PERFORM[action_key](alert, user, params)
            AlertAction.objects.create(
                alert=alert,
                action_key=action_key,
                user=user,
                params=params,
                ok=True,
                message=message,
                result=result,
                at=now,
            )
            AlertEvent.objects.create(
                alert=alert, kind="action", user=user, data={"action": action_key}, at=now
            )
            if alert.status == Status.OPEN:
                Alert.objects.filter(pk=alert.pk, status=Status.OPEN).update(
                    status=Status.ACKNOWLEDGED,
                    acknowledged_at=now,
                    acknowledged_by=user,
                    updated_at=now,
                )
    except ActionUnavailable as exc:
        AlertAction.objects.create(
            alert=alert, action_key=action_key, user=user, params=params, ok=False,
            message=str(exc), at=now,
        )  # fmt: skip
        return {"ok": False, "message": str(exc), "redirect_url": None}
    return {"ok": True, "message": str(message), "redirect_url": url, "result": result}
