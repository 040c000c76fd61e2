"""Community services: XSS in every text field and file name, uploads (limits, EXIF/GPS
stripped), vote and flag stuffing, rules of polls, contests, answers and invitations, rate
limits, activity events, and query counts of the list selectors (no N+1)."""

from __future__ import annotations

import io
from datetime import timedelta
from html.parser import HTMLParser

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from PIL import Image

from apiary.community import access, selectors, services
from apiary.community.models import (
    ActivityEvent,
    Flag,
    IdeaVote,
    PollVote,
    Post,
    Reaction,
)
from apiary.community.services.files import attachment_path, filename_sanitise
from apiary.community.tests.conftest import jpeg_with_gps, png_bytes

XSS = [
    "<script>alert(1)</script>",
    '<img src=x onerror="alert(1)">',
    "[click](javascript:alert(1))",
    '<a href="javascript:alert(1)">x</a>',
    "<svg/onload=alert(1)>",
    '"><iframe src="//evil.example"></iframe>',
    "![x](https://tracker.example/pixel.gif)",
]


class _Scan(HTMLParser):
    def __init__(self):
        super().__init__()
        self.problems = []

    def handle_starttag(self, tag, attrs):
        if tag in ("script", "iframe", "svg", "object", "embed", "style"):
            self.problems.append(tag)
        for name, value in attrs:
            if name.startswith("on"):
                self.problems.append(name)
            if name in ("href", "src") and (value or "").strip().lower().startswith("javascript:"):
                self.problems.append(value)
            if tag == "img" and name == "src" and not (value or "").startswith("/"):
                self.problems.append(value)


def _assert_safe(html: str) -> None:
    """No executable markup survives; escaped text (``&lt;script&gt;``) is harmless."""
    scan = _Scan()
    scan.feed(html)
    assert scan.problems == [], html


@pytest.mark.parametrize("payload", XSS)
def test_xss_in_every_text_field(world, payload):
    # given
    owner, member = world.user("owner"), world.user("member")
    space = world.spaces["public"]
    # when: the payload goes into a post body, a comment, an idea's official response,
    # a contest caption and an edit
    post = services.post_create(author=owner, space=space, title=payload, body=payload)
    comment = services.comment_create(author=member, post=post, body=payload)
    idea = services.post_create(author=member, space=space, type="idea", title="i", body=payload)
    idea = services.idea_status_set(actor=owner, post=idea, status="declined", response=payload)
    now = timezone.now()
    contest = services.post_create(
        author=owner,
        space=space,
        type="contest",
        title="c",
        contest_voting_from=now,
        contest_voting_until=now + timedelta(days=1),
        contest_entries_until=now + timedelta(days=1),
    )
    entry = services.contest_entry_create(user=member, post=contest, title=payload, caption=payload)
    edited = services.post_update(actor=owner, post=post, body=f"edited {payload}")
    # then: every stored HTML is sanitised by nh3; titles are kept as text (escaped on output)
    for html in (
        post.body_html,
        comment.body_html,
        idea.body_html,
        idea.official_response_html,
        entry.caption_html,
        edited.body_html,
    ):
        _assert_safe(html)
    assert Post.objects.get(pk=post.pk).title == payload.strip()


def test_api_returns_titles_as_json_text_not_markup(api, world):
    owner = world.user("owner")
    post = services.post_create(
        author=owner, space=world.spaces["public"], title=XSS[0], body=XSS[1]
    )
    body = api(None).get(f"/api/v1/community/posts/{post.pk}").json()
    assert body["title"] == XSS[0]  # data, for the client to escape
    _assert_safe(body["body_html"])


@pytest.mark.parametrize(
    ("raw", "safe"),
    [
        ("../../etc/passwd", "passwd"),
        ("<img src=x onerror=alert(1)>.png", "_img src_x onerror_alert_1__.png"),
        ("..\\..\\boot.ini", "boot.ini"),
        ("  .hidden  ", "hidden"),
        ("", "file"),
        ("отчёт 2026.pdf", "отчёт 2026.pdf"),
    ],
)
def test_file_names_are_sanitised(raw, safe):
    assert filename_sanitise(raw) == safe


def test_images_are_reencoded_without_exif_or_gps(world):
    # given: a JPEG carrying a camera make and GPS coordinates
    data = jpeg_with_gps()
    with Image.open(io.BytesIO(data)) as original:
        assert original.getexif().get(0x8825) is not None
    # when
    attachment = services.attachment_upload(
        user=world.user("member"), fileobj=io.BytesIO(data), filename='<b>me</b>"at home.JPG'
    )
    # then: stored outside the web root under a random name, with pixels only
    path = attachment_path(attachment)
    assert path.exists() and attachment.original_name not in str(path)
    with Image.open(path) as stored:
        assert stored.format == "JPEG"
        exif = stored.getexif()
        assert exif.get(0x8825) is None and exif.get(0x010F) is None
        assert b"SpyCam" not in path.read_bytes()
    assert "<" not in attachment.original_name and '"' not in attachment.original_name
    assert attachment.kind == "image" and attachment.width == 16


@pytest.mark.parametrize(
    ("name", "data", "message"),
    [
        ("evil.html", b"<script>alert(1)</script>", "not allowed"),
        ("evil.svg", b"<svg onload=alert(1)>", "not allowed"),
        ("fake.pdf", b"<html>", "not a PDF"),
        ("fake.png", b"\x89PNG not really", "not an image"),
        ("empty.txt", b"", "empty"),
    ],
)
def test_upload_type_checks(world, name, data, message):
    with pytest.raises(ValidationError) as err:
        services.attachment_upload(
            user=world.user("member"), fileobj=io.BytesIO(data), filename=name
        )
    assert message in str(err.value)


def test_upload_size_limit(world, settings, monkeypatch):
    from apiary.community.services import files

    monkeypatch.setattr(files, "MAX_FILE_BYTES", 1000)
    with pytest.raises(ValidationError, match="at most"):
        services.attachment_upload(
            user=world.user("member"), fileobj=io.BytesIO(b"x" * 2000), filename="big.txt"
        )


def test_anonymous_cannot_upload_and_strangers_cannot_download_unattached(world):
    with pytest.raises(access.NotAvailable):
        services.attachment_upload(
            user=world.user("anonymous"), fileobj=io.BytesIO(png_bytes()), filename="a.png"
        )
    mine = services.attachment_upload(
        user=world.user("member"), fileobj=io.BytesIO(png_bytes()), filename="a.png"
    )
    assert access.attachment_for_download(user=world.user("member"), attachment_id=mine.pk)
    from django.http import Http404

    with pytest.raises(Http404):
        access.attachment_for_download(user=world.user("registered"), attachment_id=mine.pk)


def test_vote_and_flag_stuffing(world):
    # given
    member, owner = world.user("member"), world.user("owner")
    space = world.spaces["public"]
    idea = services.post_create(author=owner, space=space, type="idea", title="Dark roast")
    # when: the same member votes, reacts and flags many times
    for _ in range(5):
        services.idea_vote(user=member, post=idea)
        services.reaction_add(user=member, kind="like", post=idea)
        services.flag_create(user=member, reason="spam", post=idea)
    # then: one of each
    idea.refresh_from_db()
    assert IdeaVote.objects.filter(post=idea).count() == 1 == idea.votes_count
    assert Reaction.objects.filter(post=idea, user=member).count() == 1 == idea.reactions_count
    assert Flag.objects.filter(post=idea, user=member).count() == 1
    # and the database refuses a duplicate written behind the service's back
    from django.db import IntegrityError, transaction

    with pytest.raises(IntegrityError), transaction.atomic():
        IdeaVote.objects.create(post=idea, user=member)
    # unvote gives the vote back once
    services.idea_unvote(user=member, post=idea)
    services.idea_unvote(user=member, post=idea)
    idea.refresh_from_db()
    assert idea.votes_count == 0


def test_poll_rules(world):
    owner, member = world.user("owner"), world.user("member")
    space = world.spaces["public"]
    poll = services.post_create(
        author=owner,
        space=space,
        type="poll",
        title="Roast?",
        poll_options=["Light", "Dark", "Medium"],
        poll_results="after_vote",
    )
    a, b, _c = poll.poll_options.values_list("pk", flat=True)
    with pytest.raises(ValidationError, match="exactly one"):
        services.poll_vote(user=member, post=poll, option_ids=[a, b])
    other = world.spaces["closed"]
    foreign = world.polls["closed"].poll_options.first().pk
    with pytest.raises(ValidationError, match="options of this poll"):
        services.poll_vote(user=member, post=poll, option_ids=[foreign])
    assert other  # the foreign option belongs to another poll
    # results hidden until the member votes
    assert selectors.poll_view(user=member, post=poll).counts is None
    services.poll_vote(user=member, post=poll, option_ids=[a])
    services.poll_vote(user=member, post=poll, option_ids=[b])  # changes the ballot
    poll.refresh_from_db()
    view = selectors.poll_view(user=member, post=poll)
    assert view.counts == {a: 0, b: 1, _c: 0} and view.total == 1
    assert PollVote.objects.filter(post=poll, user=member).count() == 1
    # closed polls refuse votes
    Post.objects.filter(pk=poll.pk).update(poll_closes_at=timezone.now() - timedelta(minutes=1))
    poll.refresh_from_db()
    with pytest.raises(ValidationError, match="closed"):
        services.poll_vote(user=world.user("registered"), post=poll, option_ids=[a])


def test_contest_rules(world):
    owner, member, other = world.user("owner"), world.user("member"), world.user("registered")
    now = timezone.now()
    contest = services.post_create(
        author=owner,
        space=world.spaces["public"],
        type="contest",
        title="Latte art",
        contest_entries_until=now + timedelta(days=1),
        contest_voting_from=now - timedelta(minutes=1),
        contest_voting_until=now + timedelta(days=2),
    )
    e1 = services.contest_entry_create(user=member, post=contest, title="Heart")
    e2 = services.contest_entry_create(user=other, post=contest, title="Swan")
    with pytest.raises(ValidationError, match="already entered"):
        services.contest_entry_create(user=member, post=contest, title="Again")
    with pytest.raises(ValidationError, match="own entry"):
        services.contest_vote(user=member, entry=e1)
    voter = world.user("moderator")
    services.contest_vote(user=voter, entry=e1)
    services.contest_vote(user=voter, entry=e2)  # moves the vote
    e1.refresh_from_db()
    e2.refresh_from_db()
    assert (e1.votes_count, e2.votes_count) == (0, 1)
    # counts stay hidden from voters while voting runs
    assert all(
        e.votes_count is None for e in selectors.contest_view(user=other, post=contest).entries
    )
    with pytest.raises(ValidationError, match="not ended"):
        services.contest_decide(actor=owner, post=contest)
    Post.objects.filter(pk=contest.pk).update(contest_voting_until=now - timedelta(seconds=1))
    contest.refresh_from_db()
    winners = services.contest_decide(actor=owner, post=contest)
    assert [w.pk for w in winners][:1] == [e2.pk]


def test_accept_answer_only_by_asker_or_moderator(world):
    asker, helper, stranger = world.user("member"), world.user("registered"), world.user("analyst")
    question = services.post_create(
        author=asker, space=world.spaces["public"], type="question", title="Sour espresso?"
    )
    answer = services.comment_create(author=helper, post=question, body="Grind finer.")
    with pytest.raises(access.NotAvailable):
        services.answer_accept(actor=stranger, post=question, comment=answer)
    services.answer_accept(actor=asker, post=question, comment=answer)
    assert question.accepted_comment_id == answer.pk
    answered = selectors.post_list(user=stranger, type="question", answered=True)
    assert question.pk in set(answered.values_list("pk", flat=True))
    assert selectors.notification_list(user=helper).filter(kind="accepted").exists()


def test_invitation_expiry_revocation_and_email_binding(world):
    owner = world.user("owner")
    space = world.spaces["secret"]
    guest = world.user("registered")
    inv, token = services.invitation_create(actor=owner, space=space, max_uses=None)
    services.invitation_revoke(actor=owner, invitation=inv)
    with pytest.raises(ValidationError):
        services.invitation_accept(user=guest, token=token)
    _inv2, token2 = services.invitation_create(
        actor=owner, space=space, email="someone@else.example"
    )
    with pytest.raises(ValidationError):
        services.invitation_accept(user=guest, token=token2)
    inv3, token3 = services.invitation_create(actor=owner, space=space, max_uses=None)
    type(inv3).objects.filter(pk=inv3.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    with pytest.raises(ValidationError):
        services.invitation_accept(user=guest, token=token3)
    # the stored token is a digest only
    assert token not in {inv.digest, inv.prefix}
    # members cannot create invitations
    with pytest.raises(access.NotAvailable):
        services.invitation_create(actor=world.user("member"), space=space)


def test_join_policies(world, manager):
    request_space = services.space_create(
        actor=manager, name="Requests", visibility="closed", join_policy="request"
    )
    user = world.user("registered")
    membership = services.space_join(user=user, space=request_space)
    assert membership.state == "pending"
    assert access.post_decision(user=user, post=world.posts["public"]).allowed
    _s, decision = access.space_decision_for(user=user, slug=request_space.slug)
    assert decision.ways == (access.Way.REQUEST_PENDING,)
    services.membership_approve(actor=manager, membership=membership)
    assert access.is_member(user, request_space)
    # invitation-only spaces refuse joining
    with pytest.raises(access.NotAvailable):
        services.space_join(user=world.user("analyst"), space=world.spaces["closed"])
    # a sub-space may not be more open than its parent
    with pytest.raises(ValidationError, match="more open"):
        services.space_create(
            actor=manager, name="Leak", visibility="public", parent=world.spaces["secret"]
        )


def test_banned_member_loses_access(world):
    owner, member = world.user("owner"), world.user("member")
    space = world.spaces["closed"]
    services.membership_ban(actor=owner, space=space, user=member)
    access.memberships_forget(member)
    assert access.post_decision(user=member, post=world.posts["closed"]).status == 403
    with pytest.raises(access.NotAvailable):
        services.space_join(user=member, space=space)


def test_rate_limit_on_posting(world, settings):
    settings.APIARY_COMMUNITY_RATE_LIMITS = {"post": (2, 600)}
    member, space = world.user("registered"), world.spaces["public"]
    services.post_create(author=member, space=space, title="one")
    services.post_create(author=member, space=space, title="two")
    with pytest.raises(services.RateLimited) as err:
        services.post_create(author=member, space=space, title="three")
    assert err.value.status == 429


def test_activity_events_are_recorded(world):
    member = world.user("member")
    post = world.posts["public"]
    before = ActivityEvent.objects.count()
    services.post_view_record(user=member, post=post, session_key="s1")
    services.reaction_add(user=member, kind="love", post=post)
    services.comment_create(author=member, post=post, body="nice")
    kinds = list(ActivityEvent.objects.order_by("id").values_list("kind", flat=True)[before:])
    assert kinds == ["post.view", "reaction", "comment.create"]
    post.refresh_from_db()
    assert post.views_count == 1


def test_edit_keeps_revisions_and_only_editors_see_them(world):
    owner = world.user("owner")
    post = world.posts["public"]
    services.post_update(actor=owner, post=post, title="New title", body="New body")
    revisions = list(selectors.revision_list(user=owner, post=post))
    assert revisions[0].title.startswith("Secret-sauce title") and revisions[0].number == 1
    with pytest.raises(access.NotAvailable):
        selectors.revision_list(user=world.user("registered"), post=post)


def test_reshare_never_reveals_closed_original(world):
    member = world.user("member")
    closed_post = world.posts["closed"]
    share = services.share_internal(
        user=member, post=closed_post, target_space=world.spaces["public"], note="look"
    )
    reshare = Post.objects.get(pk=share.target_post_id)
    assert closed_post.title not in reshare.title
    outsider = world.user("registered")
    detail = selectors.post_detail(user=outsider, post=reshare)
    assert detail.reshare_of is None
    assert selectors.post_detail(user=member, post=reshare).reshare_of == closed_post


def test_external_share_link_counts_but_grants_nothing(world):
    member = world.user("member")
    share, token = services.share_external(user=member, post=world.posts["closed"])
    post = services.share_link_open(token=token, user=world.user("registered"))
    assert post == world.posts["closed"]
    assert access.post_decision(user=world.user("registered"), post=post).status == 403
    share.refresh_from_db()
    assert share.opens_count == 1


def _count_queries(fn) -> int:
    with CaptureQueriesContext(connection) as ctx:
        fn()
    return len(ctx.captured_queries)


def test_list_selectors_have_no_n_plus_one(world):
    """Query counts do not grow with the number of rows."""
    owner, member = world.user("owner"), world.user("member")
    space = world.spaces["public"]
    post = world.posts["public"]
    viewer = world.user("registered")

    seen = []

    def render_lists():
        access.memberships_forget(viewer)
        for p in selectors.post_list(user=viewer)[:100]:
            seen.append((p.space.name, p.author.name if p.author_id else None))
        for c in selectors.comment_list(user=viewer, post=post):
            seen.append((c.author.name, [r.author.name for r in c.visible_replies]))
        list(selectors.notification_list(user=viewer))
        selectors.space_list(user=viewer)
        for p in selectors.profile_feed(viewer=viewer, user=owner)[:50]:
            seen.append(p.space.name)

    small = _count_queries(render_lists)
    for i in range(15):
        p = services.post_create(
            author=owner, space=space, title=f"more {i}", body=f"@{viewer.community_profile.handle}"
        )
        top = services.comment_create(author=member, post=post, body=f"c{i}")
        services.comment_create(author=owner, post=post, body=f"r{i}", parent=top)
        assert p
    services.space_create(actor=world.user("manager"), name="Another", visibility="closed")
    large = _count_queries(render_lists)
    assert large == small, (small, large)
