"""Badge rules: each built-in badge, idempotent backfill, tombstones, visibility, notices."""

from __future__ import annotations

from datetime import timedelta

from django.apps import apps as django_apps
from django.contrib.auth.models import AnonymousUser
from django.utils import timezone

from apiary.community import services as cs
from apiary.community.models import Flag, FlagState, Post, Reaction
from apiary.recognition import access, selectors, services
from apiary.recognition.models import BadgeGrant, MemberStanding


def held(user) -> set[str]:
    return set(
        BadgeGrant.objects.filter(user=user, revoked_at__isnull=True).values_list(
            "badge__slug", flat=True
        )
    )


def test_first_post_and_first_reply_granted_once_even_after_history_changes(
    person, make_space, run_job
):
    # given
    alice, bob = person("Alice"), person("Bob")
    space = make_space("garden")
    first = cs.post_create(author=alice, space=space, type="discussion", title="One")
    cs.comment_create(author=bob, post=first, body="Hi")
    run_job()
    assert {"first-post"} <= held(alice) and "first-reply" in held(bob)
    # when: the first post goes away, another one comes, and the backfill runs twice
    first.delete()
    cs.post_create(author=alice, space=space, type="discussion", title="Two")
    run_job()
    services.badges_award(user_ids=None)
    services.badges_award(user_ids=None)
    services.recognition_rebuild()
    # then
    assert BadgeGrant.objects.filter(user=alice, badge__slug="first-post").count() == 1


def test_first_accepted_answer_and_solver(person, make_space, run_job):
    asker, helper = person("Asker"), person("Helper")
    space = make_space("help")
    for i in range(10):
        q = cs.post_create(author=asker, space=space, type="question", title=f"Q{i}")
        answer = cs.comment_create(author=helper, post=q, body="A")
        cs.answer_accept(actor=asker, post=q, comment=answer)
    run_job()
    assert {"first-accepted-answer", "solver"} <= held(helper)
    assert "first-accepted-answer" not in held(asker)


def _likes(author, space, reactors, posts_count):
    posts = [
        cs.post_create(author=author, space=space, type="discussion", title=f"P{i}")
        for i in range(posts_count)
    ]
    Reaction.objects.bulk_create(
        [Reaction(user=r, post=p, kind="like") for p in posts for r in reactors]
    )
    return posts


def test_ten_and_hundred_likes_and_popular_post(person, make_space, run_job):
    # given: ten members react to ten posts = 100 likes received
    author = person("Author")
    reactors = [person(f"R{i}") for i in range(10)]
    posts = _likes(author, make_space("garden"), reactors, 10)
    # when
    run_job()
    # then
    assert {"liked", "well-liked", "popular-post"} <= held(author)
    assert "beloved" not in held(author)
    assert BadgeGrant.objects.filter(user=author, badge__slug="popular-post").count() == 10
    grant = BadgeGrant.objects.get(user=author, badge__slug="liked")
    assert grant.space_id is None  # a count badge over open evidence
    assert grant.granted_at <= timezone.now()
    assert {g.post_id for g in BadgeGrant.objects.filter(badge__slug="popular-post")} == {
        p.pk for p in posts
    }


def test_likes_in_a_secret_space_do_not_count_towards_count_badges(person, make_space, run_job):
    author = person("Author")
    reactors = [person(f"R{i}") for i in range(10)]
    secret = make_space("hush", "secret", members=[author, *reactors])
    _likes(author, secret, reactors, 1)
    run_job()
    assert "liked" not in held(author)
    assert MemberStanding.objects.get(user=author).likes_received == 10  # ranks count them


def test_idea_shipped_and_contest_winner(person, make_space, manager, run_job):
    alice, bob, carol = person("Alice"), person("Bob"), person("Carol")
    space = make_space("ideas", members=[alice, bob, carol])
    idea = cs.post_create(author=alice, space=space, type="idea", title="Dark mode")
    cs.idea_status_set(actor=manager, post=idea, status="shipped")
    now = timezone.now()
    contest = cs.post_create(
        author=manager,
        space=space,
        type="contest",
        title="Photo",
        contest_entries_until=now + timedelta(hours=1),
        contest_voting_from=now + timedelta(hours=1),
        contest_voting_until=now + timedelta(hours=2),
    )
    win = cs.contest_entry_create(user=bob, post=contest, title="A")
    cs.contest_entry_create(user=carol, post=contest, title="B")
    Post.objects.filter(pk=contest.pk).update(contest_voting_until=now - timedelta(minutes=1))
    contest.refresh_from_db()
    cs.contest_decide(actor=manager, post=contest, winner_ids=[win.pk])
    run_job()
    grant = BadgeGrant.objects.get(user=alice, badge__slug="idea-shipped")
    assert grant.target == f"post:{idea.pk}" and grant.post_id == idea.pk
    assert "contest-winner" in held(bob) and "contest-winner" not in held(carol)


def test_helpful_moderator(person, make_space, manager, run_job, settings):
    # given: a moderator handles ten queue items in one space
    settings.APIARY_RECOGNITION = {"helpful_moderator_actions": 10}
    mod = person("Mod")
    flaggers = [person(f"F{i}") for i in range(10)]
    space = make_space("garden", moderators=[mod])
    author = person("Spammer")
    post = cs.post_create(author=author, space=space, type="discussion", title="Buy")
    now = timezone.now()
    if django_apps.is_installed("apiary.moderation"):
        from apiary.moderation.models import ModerationAction, ModerationItem

        item = ModerationItem.objects.create(
            space=space, post=post, reason="flags", state="removed", resolved_by=mod
        )
        for _i in range(10):
            ModerationAction.objects.create(
                actor=mod, action="remove", item=item, space_id=space.pk, post_id=post.pk
            )
    else:
        for f in flaggers:
            Flag.objects.create(
                user=f, post=post, reason="spam", state=FlagState.UPHELD, resolved_by=mod,
                resolved_at=now,
            )  # fmt: skip
    # when
    run_job()
    services.badges_award(user_ids=None)
    # then
    grant = BadgeGrant.objects.get(user=mod, badge__slug="helpful-moderator")
    assert grant.target == f"space:{space.pk}" and grant.space_id == space.pk


def test_autobiographer_and_rank_badges(person, run_job):
    user = person()
    cs.profile_update(user=user, bio="I grow tomatoes.")
    MemberStanding.objects.create(user=user, trust_level=0, level_locked=4)
    services.badges_award(user_ids=[user.pk])
    assert {"autobiographer", "trusted", "leader"} <= held(user)


def test_revoked_grant_is_a_tombstone(person, make_space, manager, run_job):
    alice = person()
    cs.post_create(author=alice, space=make_space("garden"), type="discussion", title="Hi")
    run_job()
    grant = BadgeGrant.objects.get(user=alice, badge__slug="first-post")
    services.badge_grant_revoke(actor=manager, grant=grant)
    services.badges_award(user_ids=None)
    assert BadgeGrant.objects.filter(user=alice, badge__slug="first-post").count() == 1
    assert "first-post" not in held(alice)


def test_secret_space_badge_is_invisible_to_outsiders(person, make_space, run_job):
    # given: Alice's only post is in a secret space
    alice, insider, outsider = person("Alice"), person("Insider"), person("Outsider")
    secret = make_space("hush", "secret", members=[alice, insider])
    cs.post_create(author=alice, space=secret, type="discussion", title="Hidden plans")
    run_job()
    grant = BadgeGrant.objects.get(user=alice, badge__slug="first-post")
    assert grant.space_id == secret.pk
    # then
    assert access.grants_visible(insider).filter(pk=grant.pk).exists()
    assert not access.grants_visible(outsider).filter(pk=grant.pk).exists()
    assert not access.grants_visible(AnonymousUser()).filter(pk=grant.pk).exists()
    cards = {c.badge.slug: c.holders for c in selectors.badge_list(viewer=outsider)}
    assert cards["first-post"] == 0
    assert selectors.member_standing(user=alice, viewer=outsider).badges_count == 0
    assert selectors.member_standing(user=alice, viewer=insider).badges_count == 1


def test_new_badge_notice_and_mark_seen(person, make_space, run_job):
    alice = person()
    cs.post_create(author=alice, space=make_space("garden"), type="discussion", title="Hi")
    run_job()
    notices = selectors.new_badges(user=alice)
    assert [g.badge.slug for g in notices] == ["first-post"]
    assert notices[0].name == "First post"
    assert services.badge_grants_mark_seen(user=alice) == 1
    assert selectors.new_badges(user=alice) == []
