"""The queue's pages and API: who sees which items, decisions with notes (htmx in place and
without JavaScript), CSRF, the audit trail, and the flag form on posts."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from apiary.community import services
from apiary.community.models import Flag, FlagState, Notification, Post, PostState
from apiary.moderation.models import ActionKind, ModerationAction, ModerationItem


@pytest.fixture
def flagged(place, moderation_settings):
    """posts[0] hidden by two member flags (threshold 2); a flag item in the other space too."""
    moderation_settings(flag_threshold=2)
    post = place.posts[0]
    services.flag_create(user=place.members[1], reason="spam", post=post, note="Link farm")
    services.flag_create(user=place.members[2], reason="abuse", post=post)
    tea = services.post_create(author=place.owner, space=place.other, title="Tea secret title")
    services.flag_create(user=place.members[3], reason="off_topic", post=tea)
    return ModerationItem.objects.get(post=post), ModerationItem.objects.get(post=tea)


def _client(user) -> Client:
    c = Client()
    c.force_login(user)
    return c


def test_queue_shows_only_the_spaces_you_moderate(place, flagged):
    coffee_item, _tea = flagged
    page = _client(place.moderator).get(reverse("moderation:queue"))
    html = page.content.decode()
    assert page.status_code == 200
    assert f'id="item-{coffee_item.pk}"' in html and "Grinder advice" in html
    assert "Link farm" in html and "trust 0, weight 1" in html
    assert "Tea secret title" not in html
    other = _client(place.other_moderator).get(reverse("moderation:queue")).content.decode()
    assert "Tea secret title" in other and "Grinder advice" not in other
    everything = _client(place.manager).get(reverse("moderation:queue")).content.decode()
    assert "Tea secret title" in everything and "Grinder advice" in everything


@pytest.mark.parametrize("who", ["outsider", "member"])
def test_non_moderators_get_403(place, flagged, who, api):
    user = place.outsider if who == "outsider" else place.members[0]
    c = _client(user)
    assert c.get(reverse("moderation:queue")).status_code == 403
    assert c.get(reverse("moderation:item", args=[flagged[0].pk])).status_code == 403
    assert api(user).get("/api/v1/community/moderation/items").status_code == 403
    assert api(user).get("/api/v1/community/moderation/stats").status_code == 403


def test_anonymous_is_sent_to_log_in(flagged):
    response = Client().get(reverse("moderation:queue"))
    assert response.status_code == 302 and "login" in response["Location"]


def test_a_moderator_of_another_space_gets_404_for_its_items(place, flagged, api):
    coffee_item, _tea = flagged
    c = _client(place.other_moderator)
    assert c.get(reverse("moderation:item", args=[coffee_item.pk])).status_code == 404
    url = reverse("moderation:item_action", args=[coffee_item.pk, "remove"])
    assert c.post(url, {"note": "x"}).status_code == 404
    client = api(place.other_moderator)
    assert client.get(f"/api/v1/community/moderation/items/{coffee_item.pk}").status_code == 404
    response = client.post(
        f"/api/v1/community/moderation/items/{coffee_item.pk}/actions", {"action": "approve"}
    )
    assert response.status_code == 404
    assert client.get("/api/v1/community/moderation/items?space=coffee").status_code == 404
    assert Post.objects.get(pk=coffee_item.post_id).state == PostState.HIDDEN


def test_filters_by_reason_state_and_space(place, flagged, moderation_settings, make_user):
    moderation_settings(first_post_hold=True, flag_threshold=2)
    newcomer = make_user()
    services.post_create(author=newcomer, space=place.space, title="Newbie hello")
    c = _client(place.manager)
    held = c.get(reverse("moderation:queue"), {"reason": "first_post"}).content.decode()
    assert "Newbie hello" in held and "Grinder advice" not in held
    tea = c.get(reverse("moderation:queue"), {"space": "tea"}).content.decode()
    assert "Tea secret title" in tea and "Grinder advice" not in tea
    done = c.get(reverse("moderation:queue"), {"state": "approved"}).content.decode()
    assert 'id="queue-empty"' in done


def test_remove_without_javascript_posts_and_comes_back(place, flagged):
    item, _ = flagged
    c = _client(place.moderator)
    url = reverse("moderation:item_action", args=[item.pk, "remove"])
    response = c.post(url, {"note": "Spam", "next": "/community/moderation/?reason=flags"})
    assert (
        response.status_code == 302
        and response["Location"] == "/community/moderation/?reason=flags"
    )
    item.refresh_from_db()
    assert item.state == "removed" and item.resolved_by == place.moderator
    assert item.handled_by_community  # members' flags hid it, a moderator upheld them
    assert Post.objects.get(pk=item.post_id).state == PostState.REMOVED
    assert set(Flag.objects.filter(post_id=item.post_id).values_list("state", flat=True)) == {
        FlagState.UPHELD
    }
    audit = ModerationAction.objects.get(item=item, action=ActionKind.REMOVE)
    assert audit.actor == place.moderator and audit.note == "Spam"
    note = Notification.objects.get(recipient=place.members[0], kind="mod_removed")
    assert note.post_id is None and note.space_id == place.space.pk


def test_htmx_approve_swaps_the_item_in_place(place, flagged):
    item, _ = flagged
    c = _client(place.moderator)
    url = reverse("moderation:item_action", args=[item.pk, "approve"])
    response = c.post(url, {"note": "Fine"}, HTTP_HX_REQUEST="true")
    html = response.content.decode()
    assert response.status_code == 200
    assert html.strip().startswith("<article") and f'id="item-{item.pk}"' in html
    assert "Approved." in html and "mod-approved" in html
    assert Post.objects.get(pk=item.post_id).state == PostState.PUBLISHED
    again = c.post(url, {"note": "twice"}, HTTP_HX_REQUEST="true")
    assert again.status_code == 400 and "already decided" in again.content.decode()


def test_warn_and_suspend_from_the_queue(place, flagged):
    item, _ = flagged
    c = _client(place.moderator)
    warn = reverse("moderation:item_action", args=[item.pk, "warn"])
    assert c.post(warn, {"note": ""}, follow=True).status_code == 200  # error message, no 500
    c.post(warn, {"note": "No link farms please"})
    suspend = reverse("moderation:item_action", args=[item.pk, "suspend"])
    c.post(suspend, {"days": "3", "note": "Repeated spam"})
    kinds = list(
        ModerationAction.objects.filter(item=item).order_by("at").values_list("action", flat=True)
    )
    assert kinds == ["hide", "warn", "suspend"]
    html = c.get(reverse("moderation:item", args=[item.pk])).content.decode()
    assert "Audit trail" in html and "No link farms please" in html and "Suspended" in html
    page = c.get(reverse("moderation:queue")).content.decode()
    assert 'id="suspended"' in page and place.members[0].name in page


def test_forms_need_the_csrf_token(place, flagged):
    item, _ = flagged
    c = Client(enforce_csrf_checks=True)
    c.force_login(place.moderator)
    url = reverse("moderation:item_action", args=[item.pk, "remove"])
    assert c.post(url, {"note": "x"}).status_code == 403
    flag = Client(enforce_csrf_checks=True)
    flag.force_login(place.members[4])
    assert (
        flag.post(reverse("moderation:flag"), {"post": item.post_id, "reason": "spam"}).status_code
        == 403
    )
    item.refresh_from_db()
    assert item.state == "pending"


def test_members_flag_from_the_post_page(place):
    post = place.posts[1]
    c = _client(place.members[3])
    page = c.get(reverse("community:post", args=[post.pk])).content.decode()
    assert 'action="/community/moderation/flag/"' in page
    response = c.post(
        reverse("moderation:flag"), {"post": post.pk, "reason": "off_topic", "note": "wrong space"}
    )
    assert response.status_code == 302 and response["Location"] == f"/community/p/{post.pk}/"
    assert Flag.objects.get(post=post).note == "wrong space"
    assert c.post(reverse("moderation:flag"), {"post": post.pk}).status_code == 400
    # the author does not see a flag button on their own post
    own = _client(place.members[1]).get(reverse("community:post", args=[post.pk])).content.decode()
    assert 'action="/community/moderation/flag/"' not in own


def test_api_queue_detail_actions_and_audit(place, flagged, api):
    item, _tea = flagged
    client = api(place.moderator)
    listing = client.get("/api/v1/community/moderation/items").json()
    assert [i["id"] for i in listing["items"]] == [item.pk]
    row = listing["items"][0]
    assert row["target"]["title"] == "Grinder advice" and row["hidden_by"] == "community"
    assert {f["reason"] for f in row["flags"]} == {"spam", "abuse"}
    assert row["author_history"]["trust_level"] == 0
    assert listing["pending_by_reason"] == {"flags": 1, "all": 1}
    bad = client.post(f"/api/v1/community/moderation/items/{item.pk}/actions", {"action": "nuke"})
    assert bad.status_code == 422
    done = client.post(
        f"/api/v1/community/moderation/items/{item.pk}/actions",
        {"action": "remove", "note": "spam"},
    ).json()
    assert done["state"] == "removed" and done["handled_by_community"] is True
    restored = client.post(
        f"/api/v1/community/moderation/items/{item.pk}/actions", {"action": "restore"}
    ).json()
    assert restored["state"] == "approved" and restored["target"]["state"] == "published"
    detail = client.get(f"/api/v1/community/moderation/items/{item.pk}").json()
    assert [a["action"] for a in detail["actions"]] == ["restore", "remove", "hide"]
    trail = client.get("/api/v1/community/moderation/actions").json()
    assert {a["item_id"] for a in trail["items"]} == {item.pk}  # not the tea space's
    suspended = client.post(
        "/api/v1/community/moderation/sanctions",
        {"user_id": place.members[0].pk, "kind": "suspend", "space": "coffee", "days": 2},
    )
    assert suspended.status_code == 201 and suspended.json()["active"] is True
    lifted = client.post(
        f"/api/v1/community/moderation/sanctions/{suspended.json()['id']}/lift", {"note": "ok"}
    ).json()
    assert lifted["active"] is False
    everywhere = client.post(
        "/api/v1/community/moderation/sanctions",
        {"user_id": place.members[0].pk, "kind": "suspend", "space": None},
    )
    assert everywhere.status_code == 403


def test_settings_page_and_api(place, api):
    c = _client(place.owner)
    url = reverse("moderation:settings") + "?space=coffee"
    assert c.get(url).status_code == 200
    response = c.post(url, {"space": "coffee", "flag_threshold": "4", "first_post_hold": "false"})
    assert response.status_code == 302
    body = api(place.owner).get("/api/v1/community/moderation/settings?space=coffee").json()
    assert body["effective"]["flag_threshold"] == 4 and body["sources"]["flag_threshold"] == "space"
    assert body["effective"]["first_post_hold"] is False
    assert _client(place.moderator).get(url).status_code == 403  # owners configure, not moderators
    assert _client(place.owner).get(reverse("moderation:settings")).status_code == 403
    patched = api(place.manager).patch(
        "/api/v1/community/moderation/settings", {"flag_threshold": 0}
    )
    assert patched.status_code == 422
    assert (
        api(place.manager)
        .patch("/api/v1/community/moderation/settings", {"flag_threshold": 5})
        .json()["effective"]["flag_threshold"]
        == 5
    )
    assert ModerationAction.objects.filter(action=ActionKind.SETTINGS).count() == 2


@pytest.mark.django_db
def test_the_settings_limits_are_defined_once_and_every_way_in_applies_them(place, api):
    """``services.SETTING_LIMITS`` is the one definition: the API schema and the page's form
    take their bounds from it, and all three name the same settings as the defaults."""
    from django.core.exceptions import ValidationError

    from apiary.moderation import selectors
    from apiary.moderation import services as moderation_services
    from apiary.moderation.api import SettingsPatch
    from apiary.moderation.forms import SettingsForm

    limits, switches = moderation_services.SETTING_LIMITS, moderation_services.SETTING_SWITCHES
    names = set(limits) | set(switches)
    assert names == set(selectors.FIELDS) == set(SettingsForm.base_fields)
    assert names == set(SettingsPatch.model_fields)
    for name, (low, high) in limits.items():
        for value, ok in ((low - 1, False), (low, True), (high, True), (high + 1, False)):
            assert SettingsForm({name: str(value)}).is_valid() is ok, (name, value)
            response = api(place.manager).patch(
                "/api/v1/community/moderation/settings", {name: value}
            )
            assert response.status_code == (200 if ok else 422), (name, value)
            if not ok:
                with pytest.raises(ValidationError):
                    moderation_services.settings_update(actor=place.manager, **{name: value})
