"""Community e-mail: immediate notification e-mails, digests, access at send time, no double
send, one-click unsubscribe, the recipient's language, settings page and API."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.core import mail as outbox_mail
from django.core.mail.backends.base import BaseEmailBackend
from django.core.management import CommandError, call_command
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from apiary.community import mail, services
from apiary.community.models import (
    ActivityEvent,
    EmailMode,
    Notification,
    NotificationSettings,
    SpaceRole,
)
from apiary.community.services import mail as mail_services
from apiary.core.workers import WORKER_FACTORIES


class FailingBackend(BaseEmailBackend):
    """An SMTP server that is down."""

    def send_messages(self, messages):
        raise ConnectionRefusedError("smtp down")


@pytest.fixture
def place(make_user, manager):
    owner = make_user(display_name="Olga Owner")
    member = make_user(display_name="Max Member", email="max@example.com")
    spaces = {}
    for vis in ("public", "closed"):
        space = services.space_create(
            actor=manager,
            name=f"Space {vis} Zebra" if vis == "closed" else "Space public",
            slug=f"mail-{vis}",
            visibility=vis,
            join_policy="open" if vis == "public" else "invitation",
        )
        services.membership_role_set(actor=manager, space=space, user=owner, role=SpaceRole.OWNER)
        services.membership_role_set(actor=owner, space=space, user=member, role=SpaceRole.MEMBER)
        spaces[vis] = space
    handle = services.profile_ensure(user=member).handle
    return {"owner": owner, "member": member, "spaces": spaces, "handle": handle}


def _later(minutes=2):
    return timezone.now() + timedelta(minutes=minutes)


def _mention(place, space="public", title="Beans & <b>roast</b>"):
    return services.post_create(
        author=place["owner"],
        space=place["spaces"][space],
        type="discussion",
        title=title,
        body=f"What do you think, @{place['handle']}?",
    )


def _token(message) -> str:
    header = message.extra_headers["List-Unsubscribe"]
    return re.search(r"/community/unsubscribe/([^/]+)/", header).group(1)


def _html(message) -> str:
    return message.alternatives[0][0]


# --- immediate --------------------------------------------------------------------------------


def test_a_mention_is_emailed_once_after_the_delay(place):
    # given
    post = _mention(place)
    # when: too early, then due, then again (a retry)
    early = mail.immediate_send_due(now=timezone.now() + timedelta(seconds=10))
    sent = mail.immediate_send_due(now=_later())
    again = mail.immediate_send_due(now=_later(3))
    # then
    assert (early, sent, again) == (0, 1, 0)
    assert len(outbox_mail.outbox) == 1
    message = outbox_mail.outbox[0]
    assert message.to == ["max@example.com"]
    assert "mentioned you" in message.subject and "Beans & <b>roast</b>" in message.subject
    assert f"/community/p/{post.pk}/" in message.body
    html = _html(message)
    assert "Beans &amp; &lt;b&gt;roast&lt;/b&gt;" in html and "<b>roast" not in html
    assert message.extra_headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert message.extra_headers["Content-Language"] == "en"
    assert _token(message) in message.body  # the unsubscribe link is in the text too
    note = Notification.objects.get(recipient=place["member"])
    assert note.emailed_at is not None
    assert ActivityEvent.objects.filter(kind="mail.sent", user_id=place["member"].pk).count() == 1


def test_reply_accepted_and_membership_in_one_email_per_pass(place, make_user, manager):
    # given: the member asks, the owner and a helper answer, the member accepts both in turn;
    # and the owner approves the member's request to join a third space
    member, owner = place["member"], place["owner"]
    question = services.post_create(
        author=member, space=place["spaces"]["public"], type="question", title="Grind size?"
    )
    answer = services.comment_create(author=owner, post=question, body="Finer.")
    services.comment_create(author=owner, post=question, body="And fresher beans.")
    requested = services.space_create(
        actor=manager,
        name="Roasters",
        slug="mail-roasters",
        join_policy="request",
    )
    services.membership_role_set(actor=manager, space=requested, user=owner, role=SpaceRole.OWNER)
    membership = services.space_join(user=member, space=requested)
    services.membership_approve(actor=owner, membership=membership)
    helper = make_user(display_name="Helga Helper")
    services.answer_accept(actor=member, post=question, comment=answer)  # for the owner
    theirs = services.comment_create(author=helper, post=question, body="Or a burr grinder.")
    services.answer_accept(actor=member, post=question, comment=theirs)  # for the helper
    # when
    mail.immediate_send_due(now=_later())
    # then: the member gets one e-mail with the three replies and the membership decision
    to_member = [m for m in outbox_mail.outbox if m.to == [member.email]]
    assert len(to_member) == 1
    assert "4 new notifications" in to_member[0].subject
    assert to_member[0].body.count("commented on") == 3
    assert "You are now a member of Roasters" in to_member[0].body
    to_helper = [m for m in outbox_mail.outbox if m.to == [helper.email]]
    assert len(to_helper) == 1 and "accepted your answer" in to_helper[0].subject


def test_read_in_app_digest_users_and_kinds_off_get_no_immediate_email(place, make_user):
    # given: three members mentioned in one post
    reader, digester, picky = place["member"], make_user(), make_user()
    handles = [services.profile_ensure(user=u).handle for u in (digester, picky)]
    for user in (digester, picky):
        services.membership_role_set(
            actor=place["owner"], space=place["spaces"]["public"], user=user, role="member"
        )
    mail_services.notification_settings_set(user=digester, email_mode="daily")
    mail_services.notification_settings_set(
        user=picky, email_mode="immediate", kinds_off=["mention"]
    )
    services.post_create(
        author=place["owner"],
        space=place["spaces"]["public"],
        type="discussion",
        title="Tasting day",
        body=f"@{place['handle']} @{handles[0]} @{handles[1]}",
    )
    services.notifications_mark_read(user=reader)  # the reader saw it in the app
    # when
    sent = mail.immediate_send_due(now=_later())
    # then
    assert sent == 0 and outbox_mail.outbox == []
    # the switched-off kind is settled (not retried every pass); the digest user's waits
    assert Notification.objects.get(recipient=picky).emailed_at is not None
    assert Notification.objects.get(recipient=digester).emailed_at is None


def test_a_failed_send_is_retried_and_then_sent_exactly_once(place, settings):
    # given: the mail server is down
    _mention(place)
    settings.EMAIL_BACKEND = "apiary.community.tests.test_mail.FailingBackend"
    # when
    assert mail.immediate_send_due(now=_later()) == 0
    # then: the claim was given back
    assert Notification.objects.get(recipient=place["member"]).emailed_at is None
    # when: the server is back and the pass runs twice
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    assert mail.immediate_send_due(now=_later(3)) == 1
    assert mail.immediate_send_due(now=_later(4)) == 0
    assert len(outbox_mail.outbox) == 1


def test_content_no_longer_readable_is_not_emailed(place):
    # given: a mention in the closed space, then the member is removed from it
    _mention(place, space="closed", title="Zebra roadmap")
    services.membership_remove(
        actor=place["owner"], space=place["spaces"]["closed"], user=place["member"]
    )
    # when
    sent = mail.immediate_send_due(now=_later())
    # then: nothing, and nothing about it
    assert sent == 0 and outbox_mail.outbox == []


@pytest.mark.parametrize("language", ["ru", "es"])
def test_emails_are_built_in_the_recipient_language(place, language):
    # given
    member = place["member"]
    member.language = language
    member.save(update_fields=["language"])
    _mention(place)
    # when
    mail.immediate_send_due(now=_later())
    # then: rendered with the recipient's language active (the texts come with translations)
    message = outbox_mail.outbox[0]
    assert message.extra_headers["Content-Language"] == language
    assert f'<html lang="{language}">' in _html(message)


# --- digests ----------------------------------------------------------------------------------


def _tomorrow_morning():
    return (timezone.now() + timedelta(days=1)).replace(hour=8, minute=0)


def test_daily_digest_has_popular_posts_and_unread_notifications_and_respects_access(place):
    # given: a daily-digest member of both spaces
    member, owner = place["member"], place["owner"]
    mail_services.notification_settings_set(user=member, email_mode="daily")
    public, closed = place["spaces"]["public"], place["spaces"]["closed"]
    popular = services.post_create(author=owner, space=public, type="discussion", title="Cold brew")
    services.comment_create(author=owner, post=popular, body="Try 18 hours.")
    services.post_create(author=owner, space=public, type="discussion", title="Quiet one")
    services.post_create(author=owner, space=closed, type="discussion", title="Zebra plans")
    _mention(place, space="public", title="Milk or not")
    _mention(place, space="closed", title="Zebra budget")
    # when: the member leaves the closed space before the digest goes out
    services.membership_remove(actor=owner, space=closed, user=member)
    sent = mail.digests_send_due(period="daily", now=_tomorrow_morning())
    # then: one digest; the closed space is never named
    assert sent == 1
    message = outbox_mail.outbox[0]
    assert message.subject == "Your daily community digest"
    for part in (message.body, _html(message)):
        assert "Cold brew" in part and "Milk or not" in part
        assert "Zebra" not in part
    assert message.body.index("Cold brew") < message.body.index("Quiet one")  # by engagement
    # no double send: the same slot again, and no immediate e-mail for what the digest covered
    assert mail.digests_send_due(period="daily", now=_tomorrow_morning() + timedelta(hours=1)) == 0
    assert mail.immediate_send_due(now=_later()) == 0
    assert len(outbox_mail.outbox) == 1


def test_weekly_digest_waits_for_its_day_and_an_empty_digest_is_not_sent(place, make_user):
    # given
    quiet = make_user(display_name="Quinn Quiet")  # a member of nothing, with nothing unread
    weekly = place["member"]
    for user in (quiet, weekly):
        mail_services.notification_settings_set(user=user, email_mode="weekly")
    services.post_create(
        author=place["owner"], space=place["spaces"]["public"], type="idea", title="Oat milk"
    )
    # when: a week later (the slot is a Monday morning)
    week_later = timezone.now() + timedelta(days=7, hours=1)
    slot = mail.digest_slot("weekly", week_later)
    assert slot.weekday() == 0 and slot.hour == 7
    sent = mail.digests_send_due(period="weekly", now=week_later)
    # then
    assert sent == 1
    assert [m.to for m in outbox_mail.outbox] == [[weekly.email]]
    assert outbox_mail.outbox[0].subject == "Your weekly community digest"
    assert "Oat milk" in outbox_mail.outbox[0].body
    assert NotificationSettings.objects.get(user=quiet).digest_sent_at is not None


def test_digest_command(place):
    mail_services.notification_settings_set(user=place["member"], email_mode="daily")
    call_command("community", "digest", "--daily")  # nothing due yet: the clock started now
    assert outbox_mail.outbox == []
    with pytest.raises(CommandError):
        call_command("community", "digest")
    call_command("community", "mail")
    call_command("community", "sweep")


def test_workers_are_registered():
    assert "community-mail" in WORKER_FACTORIES and "community-sessions" in WORKER_FACTORIES
    run, stop = WORKER_FACTORIES["community-mail"]()
    assert callable(run) and callable(stop)


# --- unsubscribe ------------------------------------------------------------------------------


def test_unsubscribe_works_without_login_and_rejects_a_tampered_token(place):
    # given
    _mention(place)
    mail.immediate_send_due(now=_later())
    token = _token(outbox_mail.outbox[0])
    url = reverse("community:unsubscribe", args=[token])
    anonymous = Client(enforce_csrf_checks=True)
    # when: the link is opened (mail scanners do that too): only a page with a button
    page = anonymous.get(url)
    assert page.status_code == 200 and b"unsubscribe-confirm" in page.content
    assert mail.prefs_for(place["member"]).email_mode == EmailMode.IMMEDIATE
    # when: a tampered token
    tampered = reverse(
        "community:unsubscribe", args=[token[:-2] + ("AA" if token[-2:] != "AA" else "BB")]
    )
    assert anonymous.get(tampered).status_code == 400
    assert anonymous.post(tampered).status_code == 400
    assert mail.prefs_for(place["member"]).email_mode == EmailMode.IMMEDIATE
    # when: the mail client's one-click POST (no cookies, no CSRF token)
    done = anonymous.post(url, {"List-Unsubscribe": "One-Click"})
    # then
    assert done.status_code == 200 and b"unsubscribe-done" in done.content
    prefs = mail.prefs_for(place["member"])
    assert prefs.email_mode == EmailMode.NEVER and prefs.unsubscribed_at is not None
    event = ActivityEvent.objects.get(kind="mail.unsubscribe")
    assert event.data == {"via": "one_click"}
    # and no more e-mail
    _mention(place, title="After unsubscribing")
    assert mail.immediate_send_due(now=_later()) == 0
    assert len(outbox_mail.outbox) == 1


def test_a_token_for_another_purpose_is_refused(place):
    from django.core import signing

    forged = signing.dumps({"u": place["member"].pk}, salt="something.else")
    assert Client().post(reverse("community:unsubscribe", args=[forged])).status_code == 400


# --- settings -----------------------------------------------------------------------------------


def test_settings_api(api, place):
    client = api(place["member"])
    url = "/api/v1/community/me/notification-settings"
    # default
    got = client.get(url).json()
    assert got["email_mode"] == "immediate" and got["kinds_off"] == []
    assert {k["kind"] for k in got["kinds"]} >= {"mention", "reply", "accepted", "membership"}
    # save
    saved = client.put(url, {"email_mode": "weekly", "kinds_off": ["reply"]})
    assert saved.status_code == 200
    assert saved.json()["email_mode"] == "weekly" and saved.json()["kinds_off"] == ["reply"]
    assert mail.prefs_for(place["member"]).email_mode == "weekly"
    # bad input: a clear 422, never a 500
    bad = client.put(url, {"email_mode": "hourly"})
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "email_mode"
    assert client.put(url, {"email_mode": "daily", "kinds_off": ["gossip"]}).status_code == 422
    assert client.put(url, {"email_mode": "daily", "colour": "red"}).status_code == 422
    assert api().get(url).status_code == 401


def test_settings_section_on_the_profile_page_saves(client, place):
    # given
    client.force_login(place["member"])
    profile = client.get(reverse("accounts:profile"))
    assert profile.status_code == 200 and b'id="notification-settings"' in profile.content
    # when: daily, everything but new posts
    response = client.post(
        reverse("community:notification_settings"),
        {
            "email_mode": "daily",
            "kinds_on": ["mention", "reply", "accepted", "membership"],
            "next": reverse("accounts:profile"),
        },
    )
    # then
    assert response.status_code == 302 and response["Location"].startswith("/accounts/profile/")
    prefs = mail.prefs_for(place["member"])
    assert prefs.email_mode == "daily" and "new_post" in prefs.kinds_off
    assert "mention" not in prefs.kinds_off
    # the standalone page shows it, and a bad mode is a message, not a 500
    assert client.get(reverse("community:notification_settings")).status_code == 200
    bad = client.post(reverse("community:notification_settings"), {"email_mode": "x"})
    assert bad.status_code == 302 and mail.prefs_for(place["member"]).email_mode == "daily"


def test_settings_page_needs_login(client, db):
    response = client.get(reverse("community:notification_settings"))
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]
