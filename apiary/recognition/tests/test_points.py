"""The points ledger: facts, idempotent replays, reversals, weights."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from apiary.community import services as cs
from apiary.community.models import Flag, FlagState
from apiary.recognition import points, services
from apiary.recognition.models import PointEntry, PointWeight
from apiary.recognition.tests.conftest import ledger


def test_post_reply_like_and_replay_is_idempotent(person, make_space, run_job):
    # given
    alice, bob = person("Alice"), person("Bob")
    space = make_space("garden")
    post = cs.post_create(author=alice, space=space, type="discussion", title="Hello")
    cs.comment_create(author=bob, post=post, body="Welcome!")
    cs.comment_create(author=alice, post=post, body="Thanks")  # own thread: no points
    cs.reaction_add(user=bob, kind="like", post=post)
    cs.reaction_add(user=bob, kind="love", post=post)  # same member, same post: one like
    cs.reaction_add(user=alice, kind="like", post=post)  # own post: nothing
    # when
    run_job()
    entries = PointEntry.objects.count()
    run_job()
    run_job(sweep=False)
    points.reconcile(points.Scope(lo=0))
    # then
    assert ledger(alice) == 5 + 1
    assert ledger(bob) == 2
    assert PointEntry.objects.count() == entries == 3


def test_reversal_when_removed_or_unliked_keeps_the_facts_date(person, make_space, run_job):
    # given
    alice, bob, mod = person("Alice"), person("Bob"), person("Mod")
    space = make_space("garden", moderators=[mod])
    post = cs.post_create(author=alice, space=space, type="discussion", title="Hello")
    comment = cs.comment_create(author=alice, post=post, body="x")
    other = cs.post_create(author=bob, space=space, type="discussion", title="Other")
    cs.reaction_add(user=bob, kind="like", post=post)
    cs.reaction_add(user=alice, kind="like", post=other)
    run_job()
    assert ledger(alice) == 6 and ledger(bob) == 6
    posted_at = PointEntry.objects.get(source=f"post:{post.pk}", seq=0).at
    # when: the like is withdrawn (not in the activity log: the sweep finds it) and the post
    # removed by a moderator
    cs.reaction_remove(user=alice, kind="like", post=other)
    cs.post_moderate(actor=mod, post=post, state="removed")
    run_job()
    # then
    assert ledger(alice) == 0
    assert ledger(bob) == 5
    reversal = PointEntry.objects.get(source=f"post:{post.pk}", seq=1)
    assert reversal.points == -5 and reversal.facts == -1 and reversal.at == posted_at
    assert comment.pk  # the comment on a removed post earns nothing either
    # and restoring it earns the points back
    cs.post_moderate(actor=mod, post=post, state="published")
    run_job()
    assert ledger(alice) == 6
    assert PointEntry.objects.filter(source=f"post:{post.pk}").count() == 3


def test_accepted_answer_and_unaccept(person, make_space, run_job):
    asker, helper = person("Asker"), person("Helper")
    space = make_space("help")
    q = cs.post_create(author=asker, space=space, type="question", title="How?")
    answer = cs.comment_create(author=helper, post=q, body="Like this")
    cs.answer_accept(actor=asker, post=q, comment=answer)
    run_job()
    assert ledger(helper, reason="accepted_answer") == 15
    assert ledger(helper) == 15 + 2
    cs.answer_unaccept(actor=asker, post=q)
    run_job()
    assert ledger(helper, reason="accepted_answer") == 0


def test_own_answer_accepted_earns_nothing(person, make_space, run_job):
    asker = person()
    q = cs.post_create(author=asker, space=make_space("help"), type="question", title="Q")
    answer = cs.comment_create(author=asker, post=q, body="Found it myself")
    cs.answer_accept(actor=asker, post=q, comment=answer)
    run_job()
    assert ledger(asker, reason="accepted_answer") == 0


def test_idea_shipped_contest_places_and_upheld_flag(person, make_space, manager, run_job):
    # given
    alice, bob, carol, flagger = person("Alice"), person("Bob"), person("Carol"), person("F")
    space = make_space("ideas", members=[alice, bob, carol, flagger])
    idea = cs.post_create(author=alice, space=space, type="idea", title="Dark mode")
    cs.idea_status_set(actor=manager, post=idea, status="shipped", response="Done")
    now = timezone.now()
    contest = cs.post_create(
        author=manager,
        space=space,
        type="contest",
        title="Best photo",
        contest_entries_until=now + timedelta(hours=1),
        contest_voting_from=now + timedelta(hours=1),
        contest_voting_until=now + timedelta(hours=2),
    )
    first = cs.contest_entry_create(user=bob, post=contest, title="Sunset")
    second = cs.contest_entry_create(user=carol, post=contest, title="Dawn")
    contest.contest_voting_until = now - timedelta(minutes=1)
    contest.save(update_fields=["contest_voting_until"])
    cs.contest_decide(actor=manager, post=contest, winner_ids=[first.pk, second.pk])
    spam = cs.post_create(author=bob, space=space, type="discussion", title="Buy now")
    flag = cs.flag_create(user=flagger, reason="spam", post=spam)
    # the moderation queue upholds it
    Flag.objects.filter(pk=flag.pk).update(
        state=FlagState.UPHELD, resolved_by=manager, resolved_at=timezone.now()
    )
    # when
    run_job()
    # then
    assert ledger(alice, reason="idea_shipped") == 25
    assert ledger(bob, reason="contest_win") == 20
    assert ledger(carol, reason="contest_place") == 10
    assert ledger(flagger, reason="flag_upheld") == 2


def test_weights_from_settings_and_staff_rows_revalue_history(
    person, make_space, manager, run_job, settings
):
    # given
    alice = person()
    cs.post_create(author=alice, space=make_space("garden"), type="discussion", title="Hi")
    run_job()
    assert ledger(alice) == 5
    # when a setting changes the weight, the next sweep corrects at the fact's date
    settings.APIARY_RECOGNITION = {"weights": {"post": 7}}
    run_job()
    assert ledger(alice) == 7
    # and a staff row wins over the setting
    services.point_weight_set(actor=manager, reason="post", points_value=3)
    assert PointWeight.objects.get(reason="post").points == 3
    run_job()
    assert ledger(alice) == 3
    assert PointEntry.objects.filter(user=alice).count() == 3
    # a zero weight keeps counting the fact (for ranks) with no points
    services.point_weight_set(actor=manager, reason="post", points_value=0)
    run_job()
    assert ledger(alice) == 0
    assert sum(PointEntry.objects.filter(user=alice).values_list("facts", flat=True)) == 1


def test_weight_validation_and_permission(person, manager):
    import pytest
    from django.core.exceptions import ValidationError

    from apiary.community.access import NotAvailable

    with pytest.raises(ValidationError):
        services.point_weight_set(actor=manager, reason="nonsense", points_value=1)
    with pytest.raises(ValidationError):
        services.point_weight_set(actor=manager, reason="post", points_value="lots")
    with pytest.raises(NotAvailable):
        services.point_weight_set(actor=person(), reason="post", points_value=1)


def test_hard_deleted_space_is_reversed_by_the_sweep(person, make_space, run_job):
    alice = person()
    space = make_space("doomed")
    cs.post_create(author=alice, space=space, type="discussion", title="Hi")
    run_job()
    assert ledger(alice) == 5
    space.posts.all().delete()
    run_job()
    assert ledger(alice) == 0
