"""Leaderboards: periods, spaces, the access leak matrix, query counts; standings on profiles."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth.models import AnonymousUser
from django.core.exceptions import ValidationError
from django.utils import timezone

from apiary.community import services as cs
from apiary.community.models import Post
from apiary.recognition import selectors


def board(viewer, **kw) -> dict[str, int]:
    return {r.user.name: r.points for r in selectors.leaderboard(viewer=viewer, **kw).rows}


def _post(author, space, title, *, days_ago=0):
    post = cs.post_create(author=author, space=space, type="discussion", title=title)
    if days_ago:
        at = timezone.now() - timedelta(days=days_ago)
        Post.objects.filter(pk=post.pk).update(published_at=at, created_at=at)
    return post


def test_periods(person, make_space, run_job):
    # given: Alice posted today, Bob 20 days ago, Carol 90 days ago
    alice, bob, carol = person("Alice"), person("Bob"), person("Carol")
    space = make_space("garden")
    _post(alice, space, "now")
    _post(bob, space, "this month", days_ago=20)
    _post(carol, space, "long ago", days_ago=90)
    run_job()
    viewer = person("Viewer")
    # then
    assert board(viewer, period="week") == {"Alice": 5}
    assert board(viewer, period="month") == {"Alice": 5, "Bob": 5}
    assert board(viewer, period="all") == {"Alice": 5, "Bob": 5, "Carol": 5}
    with pytest.raises(ValidationError):
        selectors.leaderboard(viewer=viewer, period="decade")


def test_order_and_space_board(person, make_space, run_job):
    alice, bob = person("Alice"), person("Bob")
    garden, orchard = make_space("garden"), make_space("orchard")
    _post(alice, garden, "a")
    _post(bob, orchard, "b")
    _post(bob, orchard, "c")
    run_job()
    viewer = person("Viewer")
    rows = selectors.leaderboard(viewer=viewer).rows
    assert [(r.position, r.user.name, r.points) for r in rows] == [(1, "Bob", 10), (2, "Alice", 5)]
    assert board(viewer, space=garden) == {"Alice": 5}


def test_secret_space_activity_is_invisible_to_outsiders(person, make_space, run_job):
    # given: Sam earns points only in a secret space, Pat in public and in the secret one
    sam, pat, insider, outsider = person("Sam"), person("Pat"), person("Insider"), person("Out")
    secret = make_space("hush", "secret", members=[sam, pat, insider])
    public = make_space("garden")
    hidden = _post(sam, secret, "Secret plans")
    cs.comment_create(author=pat, post=hidden, body="ok")
    cs.reaction_add(user=pat, kind="like", post=hidden)
    _post(pat, public, "Hello")
    run_job()
    # then: the outsider's global board knows nothing of the secret space
    assert board(outsider) == {"Pat": 5}
    assert board(AnonymousUser()) == {"Pat": 5}
    # the member's board counts it
    assert board(insider) == {"Pat": 7, "Sam": 6}
    # the standing an outsider sees carries no secret points, posts or badges
    seen = selectors.member_standing(user=sam, viewer=outsider)
    assert (seen.points, seen.posts, seen.likes_received, seen.badges_count) == (0, 0, 0, 0)
    mine = selectors.member_standing(user=sam, viewer=sam)
    assert (mine.points, mine.posts, mine.likes_received) == (6, 1, 1)


def test_members_only_post_in_public_space(person, make_space, run_job):
    author, member, outsider = person("Author"), person("Member"), person("Out")
    space = make_space("garden", members=[author, member])
    cs.post_create(
        author=author, space=space, type="discussion", title="Members only", audience="members"
    )
    run_job()
    assert board(outsider) == {}
    assert board(member) == {"Author": 5}


def test_viewer_line_outside_the_top(person, make_space, run_job, settings):
    settings.APIARY_RECOGNITION = {"leaderboard_size": 1}
    alice, bob = person("Alice"), person("Bob")
    space = make_space("garden")
    _post(alice, space, "a")
    _post(alice, space, "b")
    _post(bob, space, "c")
    run_job()
    result = selectors.leaderboard(viewer=bob)
    assert [r.user.name for r in result.rows] == ["Alice"]
    assert (result.me.position, result.me.points) == (2, 5)


def test_leaderboard_query_count_does_not_grow_with_members(
    person, make_space, run_job, django_assert_max_num_queries
):
    space = make_space("garden")
    people = [person(f"P{i}") for i in range(12)]
    for p in people:
        _post(p, space, "hi")
    run_job()
    viewer = person("Viewer")
    # the viewer's memberships, the readable spaces, whether the viewer reads some post only
    # as its author (all-time totals cannot say), the board, the people on it, the viewer's
    # own line (not on the board)
    with django_assert_max_num_queries(6):
        result = selectors.leaderboard(viewer=viewer)
        assert len(result.rows) == 12
        assert all(r.level_name for r in result.rows)


def test_audience_change_moves_points_out_of_outsiders_sight(person, make_space, run_job):
    # given: a public post, then narrowed to members only
    author, member, outsider = person("Author"), person("Member"), person("Out")
    space = make_space("garden", members=[author, member])
    post = _post(author, space, "Open at first")
    run_job()
    assert board(outsider) == {"Author": 5}
    # when
    cs.post_update(actor=author, post=post, audience="members")
    run_job()
    # then
    assert board(outsider) == {}
    assert board(member) == {"Author": 5}
    assert board(outsider, period="week") == {}


def test_an_author_counts_their_own_members_only_post_after_leaving_like_posts_visible(
    person, make_space, run_job
):
    """The ledger rule is community's (``post_copies_visible_q``), author clause included: a
    members-only post its author may still read after leaving the space counts on the author's
    boards and standing (and a reply to it, which the author reads too), never for outsiders."""
    from apiary.community import access as community_access
    from apiary.recognition import access
    from apiary.recognition.models import PointEntry

    author, replier, outsider = person("Author"), person("Replier"), person("Out")
    space = make_space("garden", members=[author, replier])
    post = cs.post_create(
        author=author, space=space, type="discussion", title="Inner", audience="members"
    )
    cs.comment_create(author=replier, post=post, body="Welcome")
    _post(outsider, space, "Open")
    cs.space_leave(user=author, space=space)
    run_job()
    assert community_access.posts_visible(author).filter(pk=post.pk).exists()
    assert community_access.authored_only_post_ids(author) == [post.pk]
    assert community_access.authored_only_post_ids(replier) == []
    # the ledger rows each viewer counts are exactly those whose post posts_visible gives them
    ledger_posts = set(PointEntry.objects.values_list("post_id", flat=True))
    for viewer in (author, replier, outsider, AnonymousUser()):
        counted = set(access.entries_visible(viewer).values_list("post_id", flat=True))
        readable = set(
            community_access.posts_visible(
                viewer, Post.objects.filter(pk__in=ledger_posts)
            ).values_list("pk", flat=True)
        )
        assert counted == readable, viewer
    for period in ("all", "week"):
        assert board(author, period=period) == {"Author": 5, "Out": 5, "Replier": 2}, period
        assert board(outsider, period=period) == {"Out": 5}, period
    assert selectors.member_standing(user=author, viewer=author).posts == 1
    assert selectors.member_standing(user=author, viewer=outsider).posts == 0
