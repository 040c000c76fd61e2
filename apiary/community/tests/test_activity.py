"""The activity log: every kind recorded once, visitor sessions (start, touch, idle end, log-out)
with durations, no database write per request, and the analytics selectors."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from apiary.community import middleware, selectors_activity, services
from apiary.community.models import ActivityEvent, SpaceRole, VisitSession
from apiary.community.services import activity as activity_services
from conftest import PASSWORD

BROWSER = "Mozilla/5.0 (X11; Linux x86_64) Chrome/126.0 Safari/537.36"
T0 = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)


class Clock:
    """The middleware's time, moved by the test (services take ``now`` directly)."""

    def __init__(self, monkeypatch, start: datetime = T0):
        self.now = start
        monkeypatch.setattr(middleware, "clock", lambda: self.now)

    def advance(self, **delta) -> None:
        self.now += timedelta(**delta)


@pytest.fixture
def clock(monkeypatch):
    return Clock(monkeypatch)


@pytest.fixture
def browser():
    return Client(HTTP_USER_AGENT=BROWSER)


@pytest.fixture
def place(make_user, manager):
    """A public and a closed space, an owner, a member, a post in each."""
    owner = make_user(display_name="Olga Owner")
    member = make_user(display_name="Max Member", email="max@example.com")
    spaces = {}
    for vis in ("public", "closed"):
        space = services.space_create(
            actor=manager,
            name=f"Space {vis}",
            slug=f"act-{vis}",
            visibility=vis,
            join_policy="open" if vis == "public" else "invitation",
        )
        services.membership_role_set(actor=manager, space=space, user=owner, role=SpaceRole.OWNER)
        services.membership_role_set(actor=owner, space=space, user=member, role=SpaceRole.MEMBER)
        spaces[vis] = space
    post = services.post_create(
        author=owner, space=spaces["public"], type="discussion", title="Brewing", tags=["beans"]
    )
    return {"owner": owner, "member": member, "spaces": spaces, "post": post}


def _kinds(since_id: int) -> list[str]:
    return list(
        ActivityEvent.objects.filter(pk__gt=since_id).order_by("pk").values_list("kind", flat=True)
    )


def _last_id() -> int:
    return ActivityEvent.objects.order_by("-pk").values_list("pk", flat=True).first() or 0


# --- every kind once ------------------------------------------------------------------------


def test_every_write_kind_is_recorded_exactly_once(place):
    # given
    owner, member = place["owner"], place["member"]
    public = place["spaces"]["public"]
    post = place["post"]
    start = _last_id()
    now = datetime.now(UTC)
    # when: each write once (idempotent repeats must not add events)
    comment = services.comment_create(author=member, post=post, body="Nice")
    services.reaction_add(user=member, kind="like", post=post)
    services.reaction_add(user=member, kind="like", post=post)  # idempotent
    services.reaction_remove(user=member, kind="like", post=post)
    services.reaction_remove(user=member, kind="like", post=post)  # nothing to remove
    services.share_external(user=member, post=post)
    idea = services.post_create(author=owner, space=public, type="idea", title="Decaf")
    services.idea_vote(user=member, post=idea)
    services.idea_vote(user=member, post=idea)
    services.idea_unvote(user=member, post=idea)
    poll = services.post_create(
        author=owner, space=public, type="poll", title="Roast?", poll_options=["Light", "Dark"]
    )
    services.poll_vote(user=member, post=poll, option_ids=[poll.poll_options.first().pk])
    services.poll_unvote(user=member, post=poll)
    contest = services.post_create(
        author=owner,
        space=public,
        type="contest",
        title="Latte art",
        contest_entries_until=now + timedelta(days=1),
        contest_voting_from=now - timedelta(minutes=1),
        contest_voting_until=now + timedelta(days=2),
    )
    entry = services.contest_entry_create(user=owner, post=contest, title="Heart")
    services.contest_vote(user=member, entry=entry)
    services.contest_unvote(user=member, post=contest)
    services.flag_create(user=member, reason="spam", comment=comment)
    services.flag_create(user=member, reason="spam", comment=comment)  # one flag per member
    # then
    kinds = _kinds(start)
    for kind in (
        "comment.create",
        "reaction",
        "reaction.remove",
        "share",
        "idea.vote",
        "idea.unvote",
        "poll.vote",
        "poll.unvote",
        "contest.entry",
        "contest.vote",
        "contest.unvote",
        "flag",
    ):
        assert kinds.count(kind) == 1, kind
    assert kinds.count("post.create") == 3  # the idea, the poll, the contest
    reaction = ActivityEvent.objects.get(pk__gt=start, kind="reaction.remove")
    assert (reaction.user_id, reaction.post_id, reaction.data) == (
        member.pk,
        post.pk,
        {"kind": "like"},
    )


def test_page_views_are_recorded_once_per_visit_per_30_minutes(place, browser, clock):
    # given
    member, post, space = place["member"], place["post"], place["spaces"]["public"]
    browser.force_login(member)
    pages = [
        (reverse("community:post", args=[post.pk]), "post.view"),
        (reverse("community:space", args=[space.slug]), "space.view"),
        (reverse("community:profile", args=[place["owner"].pk]), "profile.view"),
        (reverse("community:tag", args=["beans"]), "tag.view"),
        (reverse("community:search") + "?q=brewing", "search"),
    ]
    start = _last_id()
    # when: every page three times within a few minutes
    for _ in range(3):
        for url, _kind in pages:
            assert browser.get(url).status_code == 200
        clock.advance(minutes=2)
    # then: one event of each, carrying the visit id
    kinds = _kinds(start)
    sid = VisitSession.objects.get(user_id=member.pk).sid
    for _url, kind in pages:
        assert kinds.count(kind) == 1, kind
        assert ActivityEvent.objects.get(pk__gt=start, kind=kind).session_key == sid
    post.refresh_from_db()
    assert post.views_count == 1
    search = ActivityEvent.objects.get(pk__gt=start, kind="search")
    assert search.data == {"words": 1, "filtered": False, "results": 1}  # the words are not kept
    # and after 30 minutes the same post counts again
    clock.advance(minutes=31)
    browser.get(pages[0][0])
    assert ActivityEvent.objects.filter(pk__gt=start, kind="post.view").count() == 2


def test_own_profile_and_bots_are_not_views(place, clock):
    # given
    member, post = place["member"], place["post"]
    me = Client(HTTP_USER_AGENT=BROWSER)
    me.force_login(member)
    bot = Client(HTTP_USER_AGENT="Mozilla/5.0 (compatible; Googlebot/2.1)")
    script = Client()  # no User-Agent at all
    start = _last_id()
    # when
    me.get(reverse("community:profile", args=[member.pk]))
    bot.get(reverse("community:post", args=[post.pk]))
    script.get(reverse("community:post", args=[post.pk]))
    # then: only the member's own visit started; no views
    assert _kinds(start) == ["session.start"]
    post.refresh_from_db()
    assert post.views_count == 0


# --- sessions -------------------------------------------------------------------------------


def test_session_start_touch_and_idle_end_with_duration(place, browser, clock):
    # given
    url = reverse("community:home")
    start = _last_id()
    # when: an anonymous visitor browses for 10 minutes, one page every 20 seconds
    browser.get(url)
    for _ in range(30):
        clock.advance(seconds=20)
        browser.get(url)
    # then: one session, last seen written about once a minute
    visit = VisitSession.objects.get()
    assert visit.user_id is None and visit.ended_at is None
    assert visit.started_at == T0
    assert visit.last_seen_at == T0 + timedelta(minutes=10)
    assert _kinds(start) == ["session.start"]
    # when: the sweeper runs 29 minutes later, then 31
    assert activity_services.sessions_sweep(now=clock.now + timedelta(minutes=29)) == 0
    assert activity_services.sessions_sweep(now=clock.now + timedelta(minutes=31)) == 1
    assert activity_services.sessions_sweep(now=clock.now + timedelta(minutes=40)) == 0
    # then: one end, at the last seen time, with the duration
    end = ActivityEvent.objects.get(kind="session.end")
    assert end.duration_ms == 10 * 60 * 1000
    assert end.at == T0 + timedelta(minutes=10)
    assert end.session_key == visit.sid and end.data == {"reason": "idle"}
    start_event = ActivityEvent.objects.get(kind="session.start")
    assert start_event.data == {"landing": "community:home"}


def test_a_long_gap_starts_a_new_session(place, browser, clock):
    url = reverse("community:home")
    browser.get(url)
    clock.advance(minutes=5)
    browser.get(url)
    clock.advance(minutes=45)
    browser.get(url)
    assert VisitSession.objects.count() == 2
    activity_services.sessions_sweep(now=clock.now)
    first = VisitSession.objects.order_by("started_at").first()
    assert first.ended_at == T0 + timedelta(minutes=5)
    assert ActivityEvent.objects.get(kind="session.end").duration_ms == 5 * 60 * 1000


def test_no_database_write_per_request_after_the_first(place, browser, clock):
    # given: a visit already started
    url = reverse("community:roadmap")
    browser.get(url)
    # when: ten more pages within the same minute
    with CaptureQueriesContext(connection) as queries:
        for _ in range(10):
            clock.advance(seconds=5)
            browser.get(url)
    # then: no insert or update at all, and nothing read from the visit table
    writes = [
        q["sql"] for q in queries if q["sql"].lstrip().upper().startswith(("INSERT", "UPDATE"))
    ]
    assert writes == []
    assert not [q for q in queries if "community_visitsession" in q["sql"]]
    # and the next minute costs exactly one update
    clock.advance(seconds=15)
    with CaptureQueriesContext(connection) as queries:
        browser.get(url)
    touches = [q for q in queries if "community_visitsession" in q["sql"]]
    assert len(touches) == 1 and touches[0]["sql"].lstrip().upper().startswith("UPDATE")


def test_login_adopts_the_visit_and_logout_ends_it(place, browser, clock):
    # given: an anonymous visit
    member = place["member"]
    browser.get(reverse("community:home"))
    visit = VisitSession.objects.get()
    start = _last_id()
    # when: the visitor logs in with the form, browses, and logs out 7 minutes after arriving
    clock.advance(minutes=2)
    response = browser.post(
        reverse("accounts:login"), {"email": member.email, "password": PASSWORD}
    )
    assert response.status_code == 302
    clock.advance(minutes=5)
    browser.get(reverse("community:home"))
    browser.post(reverse("accounts:logout"))
    # then: the same visit is the member's; log-in (with its method) and log-out are recorded
    visit.refresh_from_db()
    assert visit.user_id == member.pk
    login = ActivityEvent.objects.get(pk__gt=start, kind="login")
    assert (login.user_id, login.data, login.session_key) == (
        member.pk,
        {"method": "password"},
        visit.sid,
    )
    end = ActivityEvent.objects.get(kind="session.end")
    assert end.data == {"reason": "logout"} and end.user_id == member.pk
    assert ActivityEvent.objects.filter(kind="logout", user_id=member.pk).count() == 1
    visit.refresh_from_db()
    assert visit.ended_at is not None
    # the sweeper does not close it a second time
    assert activity_services.sessions_sweep(now=clock.now + timedelta(hours=2)) == 0
    assert ActivityEvent.objects.filter(kind="session.end").count() == 1
    # and the next request is a new, anonymous visit
    browser.get(reverse("community:home"))
    assert VisitSession.objects.filter(user_id__isnull=True, ended_at__isnull=True).count() == 1


def test_register_is_a_login_with_its_method(db, browser, clock):
    browser.post(
        reverse("accounts:register"),
        {
            "email": "new@example.com",
            "display_name": "New Person",
            "password1": PASSWORD,
            "password2": PASSWORD,
        },
    )
    login = ActivityEvent.objects.get(kind="login")
    assert login.data == {"method": "register"} and login.user_id is not None


def test_a_tampered_visit_cookie_starts_a_fresh_visit(place, browser, clock):
    browser.get(reverse("community:home"))
    browser.cookies[middleware.COOKIE] = "forged.0.0.0.:bad"
    clock.advance(seconds=10)
    browser.get(reverse("community:home"))
    assert VisitSession.objects.count() == 2


def test_static_api_and_health_are_not_sessions(place, browser, clock):
    for url in ("/healthz", "/api/v1/community/spaces", "/static/nothing.css"):
        browser.get(url)
    browser.get(reverse("community:home"), HTTP_HX_REQUEST="true")
    assert VisitSession.objects.count() == 0


# --- analytics selectors ----------------------------------------------------------------------


def _event(kind, user_id, at, **kw):
    return ActivityEvent(kind=kind, user_id=user_id, at=at, **kw)


def test_dau_mau_session_median_and_kind_counts_in_the_database(db):
    # given: three users over two days, and sessions of 1, 3, 5 and 10 minutes
    day1, day2 = T0, T0 + timedelta(days=1)
    ActivityEvent.objects.bulk_create(
        [
            _event("post.view", 1, day1),
            _event("post.view", 1, day1 + timedelta(hours=1)),
            _event("comment.create", 2, day1),
            _event("post.view", 1, day2),
            _event("post.create", 3, day2),
            _event("post.view", None, day2),  # anonymous: not a user
            _event("session.end", 1, day1, duration_ms=60_000),
            _event("session.end", 2, day1, duration_ms=180_000),
            _event("session.end", 1, day2, duration_ms=300_000),
            _event("session.end", None, day2, duration_ms=600_000),
            _event("post.view", 9, day1 - timedelta(days=40)),  # outside the month
        ]
    )
    end = day2 + timedelta(days=1)
    # when / then
    assert selectors_activity.daily_active_users(start=day1, end=end) == [
        (day1.date(), 2),
        (day2.date(), 2),
    ]
    assert selectors_activity.active_users(start=end - timedelta(days=30), end=end) == 3
    assert selectors_activity.stickiness(end=end, days=30) == pytest.approx((2 + 2) / 30 / 3)
    assert selectors_activity.session_length_median(start=day1, end=end) == 240_000
    assert (
        selectors_activity.session_length_median(start=day1, end=day1 + timedelta(hours=1))
        == 120_000
    )
    counts = selectors_activity.event_counts_by_day(start=day1, end=end, kinds=["post.view"])
    assert counts == [(day1.date(), "post.view", 2), (day2.date(), "post.view", 2)]
    mix = selectors_activity.content_mix(start=day1, end=end)
    assert mix["posts"] == 1 and mix["comments"] == 1 and mix["views"] == 4
    assert mix["creators"] == 2 and mix["active_users"] == 3
    assert mix["creator_share"] == pytest.approx(2 / 3)


def test_empty_periods_answer_zero_not_errors(db):
    assert selectors_activity.session_length_median(start=T0, end=T0 + timedelta(days=1)) is None
    assert selectors_activity.daily_active_users(start=T0, end=T0 + timedelta(days=1)) == []
    assert selectors_activity.stickiness(end=T0, days=30) == 0.0
