"""Pages and API: leaderboard, badges, badge detail, profile standing, care sidebar, command."""

from __future__ import annotations

from io import StringIO

from django.core.management import call_command
from django.test import Client

from apiary.community import services as cs
from apiary.recognition.models import BadgeGrant, PointEntry

PASSWORD = "correct-horse-battery-9"


def client_for(user=None) -> Client:
    client = Client()
    if user is not None:
        client.force_login(user)
    return client


def _world(person, make_space, run_job):
    alice, insider, outsider = person("Alice"), person("Insider"), person("Outsider")
    secret = make_space("hush", "secret", members=[alice, insider])
    public = make_space("garden")
    cs.post_create(author=alice, space=secret, type="discussion", title="Secret-sauce plans")
    cs.post_create(author=insider, space=public, type="discussion", title="Hello all")
    run_job()
    return alice, insider, outsider, secret, public


def test_leaderboard_page_periods_spaces_and_leaks(person, make_space, run_job):
    _alice, insider, outsider, *_spaces = _world(person, make_space, run_job)
    # outsider: the global board shows the public poster only
    page = client_for(outsider).get("/community/leaderboard/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "Insider" in html and "Alice" not in html and "hush" not in html.lower()
    # a secret space's board is a plain 404 for outsiders, fine for members
    assert client_for(outsider).get("/community/leaderboard/?space=hush").status_code == 404
    inside = client_for(insider).get("/community/leaderboard/?space=hush&period=week")
    assert inside.status_code == 200 and "Alice" in inside.content.decode()
    # bad input
    assert client_for(outsider).get("/community/leaderboard/?period=decade").status_code == 400
    assert client_for(outsider).get("/community/leaderboard/?space=nope").status_code == 404
    assert client_for().get("/community/leaderboard/").status_code == 200


def test_closed_space_board_is_not_available_to_outsiders(person, make_space, run_job):
    member, outsider = person("Member"), person("Outsider")
    make_space("club", "closed", members=[member])
    response = client_for(outsider).get("/community/leaderboard/?space=club")
    assert response.status_code == 403


def test_leaderboard_page_query_count(person, make_space, run_job, django_assert_max_num_queries):
    space = make_space("garden")
    for i in range(15):
        cs.post_create(author=person(f"P{i}"), space=space, type="discussion", title="x")
    run_job()
    client = client_for(person("Viewer"))
    client.get("/community/leaderboard/")  # warm up (session, content types)
    with django_assert_max_num_queries(14):
        response = client.get("/community/leaderboard/?period=month")
    assert response.status_code == 200 and response.content.decode().count('class="pos"') == 15


def test_badge_pages(person, make_space, run_job):
    _alice, insider, outsider, *_spaces = _world(person, make_space, run_job)
    listing = client_for(outsider).get("/community/badges/")
    assert listing.status_code == 200 and "First post" in listing.content.decode()
    detail = client_for(outsider).get("/community/badges/first-post/").content.decode()
    assert "Insider" in detail and "Alice" not in detail
    detail = client_for(insider).get("/community/badges/first-post/").content.decode()
    assert "Alice" in detail
    assert client_for(outsider).get("/community/badges/nonsense/").status_code == 404


def test_new_badge_notice_on_pages_and_mark_seen(person, make_space, run_job):
    alice, *_rest = _world(person, make_space, run_job)
    client = client_for(alice)
    assert 'id="new-badges"' in client.get("/community/badges/").content.decode()
    response = client.post("/community/badges/seen/", {"next": "/community/badges/"})
    assert response.status_code == 302
    assert 'id="new-badges"' not in client.get("/community/badges/").content.decode()
    assert client_for().post("/community/badges/seen/").status_code == 302  # to log-in


def test_profile_shows_rank_points_and_badges_the_viewer_may_see(person, make_space, run_job):
    alice, _insider, outsider, *_ = _world(person, make_space, run_job)
    url = f"/community/u/{alice.pk}/"
    mine = client_for(alice).get(url).content.decode()
    assert 'id="profile-standing"' in mine and 'id="profile-points">5<' in mine
    assert "First post" in mine and "Next rank needs" in mine
    assert 'id="new-badges"' in mine  # her own notice, on her own profile only
    theirs = client_for(outsider).get(url).content.decode()
    assert 'id="profile-points">0<' in theirs and "First post" not in theirs
    assert 'id="new-badges"' not in theirs


def test_api(person, make_space, run_job, api, manager):
    alice, insider, outsider, *_ = _world(person, make_space, run_job)
    out = api(outsider).get("/api/v1/community/recognition/leaderboard?period=all").json()
    assert [i["user"]["name"] for i in out["items"]] == ["Insider"]
    base = "/api/v1/community/recognition"
    assert api(outsider).get(f"{base}/leaderboard?space=hush").status_code == 404
    bad = api(outsider).get("/api/v1/community/recognition/leaderboard?period=decade")
    assert bad.status_code == 422 and bad.json()["detail"]
    inside = api(insider).get("/api/v1/community/recognition/leaderboard?space=hush").json()
    assert [i["user"]["name"] for i in inside["items"]] == ["Alice"]
    badges = api().get("/api/v1/community/recognition/badges").json()
    assert {b["slug"]: b["holders"] for b in badges}["first-post"] == 1
    holders = api(outsider).get("/api/v1/community/recognition/badges/first-post").json()
    assert [i["user"]["name"] for i in holders["items"]] == ["Insider"]
    standing = api(outsider).get(f"/api/v1/community/recognition/members/{alice.pk}").json()
    assert standing["points"] == 0 and standing["badges_count"] == 0
    assert api(outsider).get("/api/v1/community/recognition/members/999999").status_code == 404
    me = api(alice).get("/api/v1/community/recognition/me").json()
    assert me["points"] == 5 and [b["badge"] for b in me["new_badges"]] == ["first-post"]
    assert api().get("/api/v1/community/recognition/me").status_code == 401
    assert api(alice).post("/api/v1/community/recognition/me/badges/seen").json()["marked"] == 1
    # weights: managers only, validated
    path = "/api/v1/community/recognition/weights/post"
    assert (
        api(alice).client.put(path, '{"points": 9}', content_type="application/json").status_code
        == 403
    )
    ok = api(manager).client.put(path, '{"points": 9}', content_type="application/json")
    assert ok.status_code == 200 and {w["reason"]: w["points"] for w in ok.json()}["post"] == 9
    bad = api(manager).client.put(
        f"{base}/weights/nope", '{"points": 1}', content_type="application/json"
    )
    assert bad.status_code == 422


def test_rebuild_command_is_idempotent(person, make_space, run_job):
    _world(person, make_space, run_job)
    entries = PointEntry.objects.count()
    grants = BadgeGrant.objects.count()
    out = StringIO()
    call_command("recognition", "rebuild", stdout=out)
    call_command("recognition", "rebuild", stdout=out)
    assert "Rebuilt" in out.getvalue()
    assert PointEntry.objects.count() == entries and BadgeGrant.objects.count() == grants
    call_command("recognition", "rebuild", "--reset", stdout=out)
    assert PointEntry.objects.count() == entries and BadgeGrant.objects.count() == grants
    call_command("recognition", "run", stdout=out)
    call_command("recognition", "status", stdout=out)
    assert "ledger entries" in out.getvalue()
