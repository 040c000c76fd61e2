"""Community e-mail: immediate notification e-mails and daily / weekly digests.

**What is sent.** A member chooses one e-mail mode (``NotificationSettings.email_mode``; no row =
``immediate``) and may switch single notification kinds off:

- *immediate*: mentions, replies, accepted answers, membership decisions and requests and
  contest results (``IMMEDIATE_KINDS``) are e-mailed about a minute after they happen
  (``delay_seconds``), unless the member has read them in the app by then. Several due for one
  member in the same pass go in one e-mail. Other kinds (new posts where you follow, idea status)
  stay in the app: they are digest material.
- *daily* / *weekly*: one digest at ``digest_hour`` UTC (weekly: on Mondays) with the unread
  notifications not yet e-mailed (every kind not switched off) and up to five popular new posts
  from the spaces the member belongs to or follows and the tags they follow. Nothing to say, no
  e-mail.
- *never*: nothing. Every e-mail carries a one-click unsubscribe link (and the RFC 8058
  ``List-Unsubscribe`` / ``List-Unsubscribe-Post`` headers) that sets *never*.

**Access at send time.** Notifications go through ``selectors.notification_list`` (the access
filter) and ``access.notification_visible``; digest posts through ``access.posts_visible``, all
evaluated when the e-mail is built. Content the recipient may no longer read is simply left out:
no title, no space name, no "1 hidden item".

**Exactly once, as far as mail allows.** Notifications are *claimed* before sending
(``emailed_at`` set by an ``UPDATE … WHERE emailed_at IS NULL``: only one process wins a row) and
a digest claims its slot the same way (``digest_sent_at``). A retried or concurrent pass finds
nothing left to claim, so nothing is sent twice. When sending raises (SMTP down), the claim is
given back and the next pass tries again; a process killed between claim and send loses that
e-mail rather than risk a duplicate. ``emailed_at`` therefore means "the e-mail decision was
made": sent, or dropped (no longer visible, kind switched off, no address).

**Language.** Rendered in the recipient's language (``User.language``, else ``LANGUAGE_CODE``)
and time zone; the message says which in ``Content-Language``.

Runs in the ``community-mail`` worker (``mail_worker``; ``core/workers.py``) and from
``apiary community digest --daily|--weekly`` / ``apiary community mail``.
"""

from __future__ import annotations

import logging
import threading
import time
import zoneinfo
from collections import defaultdict
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.core import signing
from django.core.mail import EmailMultiAlternatives, get_connection
from django.db import close_old_connections
from django.db.models import F, Q
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from apiary.community import access, selectors
from apiary.community.models import (
    EmailMode,
    Follow,
    MembershipState,
    Notification,
    NotificationKind,
    NotificationSettings,
    Post,
    PostState,
    PostTag,
    SpaceMembership,
)
from apiary.community.services._common import activity_record

logger = logging.getLogger(__name__)

IMMEDIATE_KINDS = (
    NotificationKind.MENTION,
    NotificationKind.REPLY,
    NotificationKind.ACCEPTED,
    NotificationKind.MEMBERSHIP,
    NotificationKind.MEMBERSHIP_REQUEST,
    NotificationKind.CONTEST_WINNER,
)
DEFAULTS = {
    "delay_seconds": 60,  # a notification read in the app within this time is not e-mailed
    "max_age_hours": 48,  # older unsent immediate notifications are left to the app
    "digest_hour": 7,  # UTC
    "digest_weekday": 0,  # Monday
    "popular_posts": 5,
    "batch": 200,
    "tick_seconds": 5.0,
}
_UNSUBSCRIBE_SALT = "community.unsubscribe"
PERIODS = {EmailMode.DAILY: timedelta(days=1), EmailMode.WEEKLY: timedelta(days=7)}


def mail_settings() -> dict:
    """``APIARY_COMMUNITY_MAIL = {…}`` overrides ``DEFAULTS``."""
    return {**DEFAULTS, **getattr(settings, "APIARY_COMMUNITY_MAIL", {})}


# --- preferences (reads) ------------------------------------------------------------------------


def prefs_for(user) -> NotificationSettings:
    """The member's choices; an unsaved default row when they never changed anything."""
    found = NotificationSettings.objects.filter(user_id=user.pk).first()
    return found or NotificationSettings(user=user, email_mode=EmailMode.IMMEDIATE, kinds_off=[])


def settings_view(user) -> dict:
    """What the settings section and the API show: the mode and one switch per kind."""
    from apiary.community.services.mail import mailable_kinds

    prefs = prefs_for(user)
    labels = dict(NotificationKind.choices)
    return {
        "email_mode": prefs.email_mode,
        "kinds_off": list(prefs.kinds_off or []),
        "modes": [{"value": v, "label": str(label)} for v, label in EmailMode.choices],
        "kinds": [
            {
                "kind": k,
                "label": str(labels[k]),
                "immediate": k in IMMEDIATE_KINDS,
                "on": k not in (prefs.kinds_off or []),
            }
            for k in mailable_kinds()
        ],
        "unsubscribed": prefs.unsubscribed_at is not None,
    }


# --- unsubscribe tokens -------------------------------------------------------------------------


def unsubscribe_token(user) -> str:
    """Signed with the secret key: no login needed, and it cannot be made for someone else."""
    return signing.dumps({"u": user.pk}, salt=_UNSUBSCRIBE_SALT, compress=False)


def unsubscribe_user(token: str):
    """The user a token was made for, or None (tampered, malformed, or the account is gone)."""
    from apiary.accounts.models import User

    try:
        data = signing.loads(token or "", salt=_UNSUBSCRIBE_SALT)
        user_id = int(data["u"])
    except (signing.BadSignature, KeyError, TypeError, ValueError):
        return None
    return User.objects.filter(pk=user_id).first()


# --- building and sending -----------------------------------------------------------------------


def absolute(url: str) -> str:
    if not url or url.startswith(("http://", "https://")):
        return url
    base = (getattr(settings, "APIARY_BASE_URL", "") or "").rstrip("/")
    return f"{base}{url}"


def recipient_language(user) -> str:
    codes = dict(settings.LANGUAGES)
    return user.language if user.language in codes else settings.LANGUAGE_CODE


@contextmanager
def recipient_locale(user):
    """Everything built inside speaks the recipient's language and time zone."""
    lang = recipient_language(user)
    try:
        tz = zoneinfo.ZoneInfo(user.time_zone) if user.time_zone else None
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        tz = None
    with translation.override(lang), timezone.override(tz):
        yield lang


def _message(*, user, lang: str, mail_type: str, subject: str, template: str, context: dict):
    unsubscribe = absolute(reverse("community:unsubscribe", args=[unsubscribe_token(user)]))
    ctx = {
        **context,
        "recipient": user,
        "settings_url": absolute(reverse("community:notification_settings")),
        "unsubscribe_url": unsubscribe,
        "community_url": absolute(reverse("community:home")),
    }
    text = render_to_string(f"community/email/{template}.txt", ctx)
    html = render_to_string(f"community/email/{template}.html", ctx)
    msg = EmailMultiAlternatives(
        " ".join(subject.split())[:200],  # one line: a title never breaks the header
        text,
        None,
        [user.email],
        headers={
            "List-Unsubscribe": f"<{unsubscribe}>",
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
            "Auto-Submitted": "auto-generated",
            "Content-Language": lang,
            "X-Apiary-Mail": mail_type,
        },
    )
    msg.attach_alternative(html, "text/html")
    return msg


def _rendered(notifications) -> list[dict]:
    items = []
    for n in notifications:
        item = selectors.notification_render(n)
        item["url"] = absolute(item["url"])
        items.append(item)
    return items


def _claim(ids, now: datetime) -> list[int]:
    """Set ``emailed_at`` on those still unclaimed; returns the ones this call won."""
    ids = list(ids)
    if not ids:
        return []
    Notification.objects.filter(pk__in=ids, emailed_at__isnull=True).update(emailed_at=now)
    return list(
        Notification.objects.filter(pk__in=ids, emailed_at=now).values_list("pk", flat=True)
    )


def _release(ids, now: datetime) -> None:
    Notification.objects.filter(pk__in=list(ids), emailed_at=now).update(emailed_at=None)


def _mailable(user) -> bool:
    return bool(user.is_active and user.email)


# --- immediate ----------------------------------------------------------------------------------


def immediate_send_due(*, now: datetime | None = None, connection=None) -> int:
    """E-mail the due immediate notifications; returns how many e-mails were sent."""
    now = now or timezone.now()
    conf = mail_settings()
    due = (
        Notification.objects.filter(
            emailed_at__isnull=True,
            read_at__isnull=True,
            kind__in=list(IMMEDIATE_KINDS),
            created_at__gte=now - timedelta(hours=conf["max_age_hours"]),
            created_at__lte=now - timedelta(seconds=conf["delay_seconds"]),
        )
        .exclude(
            recipient__community_mail_settings__email_mode__in=[
                EmailMode.DAILY,
                EmailMode.WEEKLY,
                EmailMode.NEVER,
            ]
        )
        .order_by("created_at", "pk")
        .values_list("pk", "recipient_id")[: conf["batch"]]
    )
    by_recipient: dict[int, list[int]] = defaultdict(list)
    for pk, recipient_id in due:
        by_recipient[recipient_id].append(pk)
    sent = 0
    for recipient_id, ids in by_recipient.items():
        try:
            sent += _send_immediate(recipient_id, ids, now, connection)
        except Exception:
            logger.exception("Community e-mail to user %s failed; retried next pass", recipient_id)
    return sent


def _send_immediate(recipient_id: int, ids: list[int], now: datetime, connection) -> int:
    from apiary.accounts.models import User

    user = User.objects.filter(pk=recipient_id).first()
    if user is None:
        return 0
    prefs = prefs_for(user)
    if prefs.email_mode != EmailMode.IMMEDIATE:
        return 0  # changed since the scan: the digest takes them
    claimed = _claim(ids, now)
    if not claimed or not _mailable(user):
        return 0
    rows = [
        n
        for n in selectors.notification_list(user=user).filter(pk__in=claimed)
        if n.kind not in (prefs.kinds_off or [])
        and access.notification_visible(user=user, notification=n)
    ]
    if not rows:
        return 0
    rows.sort(key=lambda n: (n.created_at, n.pk))
    try:
        with recipient_locale(user) as lang:
            items = _rendered(rows)
            if len(items) == 1:
                subject = items[0]["text"]
            else:
                subject = ngettext(
                    "%(n)s new notification in the community",
                    "%(n)s new notifications in the community",
                    len(items),
                ) % {"n": len(items)}
            msg = _message(
                user=user,
                lang=lang,
                mail_type="immediate",
                subject=subject,
                template="notifications",
                context={"items": items},
            )
        msg.connection = connection
        msg.send()
    except Exception:
        _release(claimed, now)
        raise
    activity_record(kind="mail.sent", user=user, data={"type": "immediate", "items": len(items)})
    return 1


# --- digests ------------------------------------------------------------------------------------


def digest_slot(period: str, now: datetime) -> datetime:
    """The latest scheduled digest time at or before ``now`` (UTC)."""
    conf = mail_settings()
    now_utc = now.astimezone(UTC)
    slot = now_utc.replace(hour=conf["digest_hour"], minute=0, second=0, microsecond=0)
    if slot > now_utc:
        slot -= timedelta(days=1)
    if period == EmailMode.WEEKLY:
        slot -= timedelta(days=(slot.weekday() - conf["digest_weekday"]) % 7)
    return slot


def popular_posts(*, user, since: datetime, until: datetime, limit: int) -> list[Post]:
    """New posts in the member's spaces (member or follower) and followed tags, by engagement,
    filtered by what the member may read *now*."""
    space_ids = set(
        Follow.objects.filter(follower=user, space__isnull=False).values_list("space_id", flat=True)
    ) | set(
        SpaceMembership.objects.filter(user=user, state=MembershipState.ACTIVE).values_list(
            "space_id", flat=True
        )
    )
    tag_ids = list(
        Follow.objects.filter(follower=user, tag__isnull=False).values_list("tag_id", flat=True)
    )
    where = Q(space_id__in=space_ids)
    if tag_ids:
        where |= Q(pk__in=PostTag.objects.filter(tag_id__in=tag_ids).values("post_id"))
    qs = access.posts_visible(
        user,
        Post.objects.filter(
            state=PostState.PUBLISHED, published_at__gte=since, published_at__lt=until
        ),
    )
    return list(
        qs.filter(where)
        .exclude(author_id=user.pk)
        .annotate(
            score=F("reactions_count")
            + 2 * F("comments_count")
            + F("votes_count")
            + F("shares_count")
        )
        .select_related("space", "author")
        .order_by("-score", "-published_at", "-pk")[:limit]
    )


def digests_send_due(*, period: str, now: datetime | None = None, connection=None) -> int:
    """Send the ``daily`` or ``weekly`` digests that are due; returns how many were sent."""
    if period not in PERIODS:
        raise ValueError(f"unknown digest period {period!r}")
    now = now or timezone.now()
    slot = digest_slot(period, now)
    due = list(
        NotificationSettings.objects.filter(email_mode=period)
        .filter(Q(digest_sent_at__isnull=True) | Q(digest_sent_at__lt=slot))
        .select_related("user")
        .order_by("pk")[: mail_settings()["batch"]]
    )
    sent = 0
    for prefs in due:
        previous = prefs.digest_sent_at
        claim = NotificationSettings.objects.filter(pk=prefs.pk, email_mode=period)
        claim = (
            claim.filter(digest_sent_at__isnull=True)
            if previous is None
            else claim.filter(digest_sent_at=previous)
        )
        if not claim.update(digest_sent_at=now):
            continue  # another process took this one
        since = previous or now - PERIODS[period]
        try:
            sent += _send_digest(prefs, period=period, since=since, now=now, connection=connection)
        except Exception:
            NotificationSettings.objects.filter(pk=prefs.pk, digest_sent_at=now).update(
                digest_sent_at=previous
            )
            logger.exception("Community digest to user %s failed; retried next pass", prefs.user_id)
    return sent


def _send_digest(prefs, *, period: str, since: datetime, now: datetime, connection) -> int:
    user = prefs.user
    if not _mailable(user):
        return 0
    kinds_off = prefs.kinds_off or []
    candidates = [
        n
        for n in selectors.notifications_for_email(user=user)
        if n.kind not in kinds_off and n.created_at <= now
    ]
    claimed = set(_claim([n.pk for n in candidates], now))
    notifications = [n for n in candidates if n.pk in claimed]
    posts = popular_posts(user=user, since=since, until=now, limit=mail_settings()["popular_posts"])
    if not notifications and not posts:
        return 0
    try:
        with recipient_locale(user) as lang:
            items = _rendered(notifications)
            post_rows = [
                {
                    "title": p.title,
                    "space": p.space.name,
                    "author": p.author.name if p.author_id else "",
                    "excerpt": p.excerpt,
                    "comments": p.comments_count,
                    "reactions": p.reactions_count,
                    "url": absolute(reverse("community:post", args=[p.pk])),
                }
                for p in posts
            ]
            subject = (
                _("Your daily community digest")
                if period == EmailMode.DAILY
                else _("Your weekly community digest")
            )
            msg = _message(
                user=user,
                lang=lang,
                mail_type=period,
                subject=subject,
                template="digest",
                context={"items": items, "posts": post_rows, "period": period},
            )
        msg.connection = connection
        msg.send()
    except Exception:
        _release(claimed, now)
        raise
    activity_record(
        kind="mail.sent",
        user=user,
        data={"type": period, "items": len(items), "posts": len(post_rows)},
    )
    return 1


# --- the worker ---------------------------------------------------------------------------------


def mail_tick(*, now: datetime | None = None) -> dict:
    """One pass: immediate e-mails, then any due digests (one SMTP connection for all)."""
    now = now or timezone.now()
    connection = get_connection()
    with connection:
        return {
            "immediate": immediate_send_due(now=now, connection=connection),
            "daily": digests_send_due(period=EmailMode.DAILY, now=now, connection=connection),
            "weekly": digests_send_due(period=EmailMode.WEEKLY, now=now, connection=connection),
        }


def mail_worker():
    """``WORKER_FACTORIES["community-mail"]``: ``(run, stop)``; a pass every few seconds."""
    stop = threading.Event()

    def run() -> None:
        while not stop.is_set():
            started = time.monotonic()
            try:
                close_old_connections()
                mail_tick()
            except Exception:
                # SMTP or the database restarting must not stop the loop.
                logger.exception("community-mail pass failed")
            tick = mail_settings()["tick_seconds"]
            stop.wait(max(0.5, tick - (time.monotonic() - started)))

    return run, stop.set
