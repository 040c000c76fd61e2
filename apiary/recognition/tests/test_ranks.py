"""Ranks: thresholds, kept levels, losing trusted, pinned levels."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from apiary.community import services as cs
from apiary.community.models import Flag, FlagState
from apiary.recognition import ranks, selectors, services
from apiary.recognition.models import MemberStanding


def m(**kw):
    base = {
        "points": 0,
        "contributions": 0,
        "days": 0,
        "likes_received": 0,
        "accepted_answers": 0,
        "flags_upheld": 0,
    }
    return base | kw


@pytest.mark.parametrize(
    ("metrics", "level"),
    [
        (m(), 0),
        (m(points=10, contributions=1), 1),
        (m(points=100, contributions=10, days=7, likes_received=5), 2),
        (m(points=100, contributions=10, days=6, likes_received=5), 1),
        (
            m(points=500, contributions=50, days=30, likes_received=50, accepted_answers=1),
            3,
        ),
        (
            m(
                points=500,
                contributions=50,
                days=30,
                likes_received=50,
                accepted_answers=1,
                flags_upheld=1,
            ),
            2,
        ),
        (
            m(
                points=2000,
                contributions=200,
                days=90,
                likes_received=200,
                accepted_answers=10,
            ),
            4,
        ),
        # points alone never skip a level's other thresholds
        (m(points=99999), 0),
    ],
)
def test_level_thresholds(metrics, level):
    assert ranks.level_for(metrics) == level


def test_basic_and_member_are_kept_trusted_is_not():
    assert ranks.level_for(m(), previous=2) == 2
    assert ranks.level_for(m(), previous=4) == 2


def test_thresholds_are_settings(settings):
    settings.APIARY_RECOGNITION = {"levels": {1: {"points": 1}}}
    assert ranks.level_for(m(points=1)) == 1


def test_standing_from_the_ledger_and_losing_trusted(
    person, make_space, manager, run_job, settings
):
    # given: small thresholds so a few posts make a trusted member
    settings.APIARY_RECOGNITION = {
        "levels": {
            1: {"points": 5, "contributions": 1, "days": 0},
            2: {"points": 10, "contributions": 2, "days": 0},
            3: {"points": 15, "contributions": 3, "days": 0, "max_flags_upheld": 0},
            4: {"points": 10**6},
        }
    }
    alice = person("Alice")
    space = make_space("garden")
    posts = [
        cs.post_create(author=alice, space=space, type="discussion", title=f"P{i}")
        for i in range(3)
    ]
    run_job()
    standing = MemberStanding.objects.get(user=alice)
    assert (standing.points, standing.posts, standing.trust_level) == (15, 3, 3)
    selectors.trust_level_forget(alice)  # cached on the object while she was posting
    assert selectors.flag_weight(user=alice, space=space) == 2
    # when: a flag on one of her posts is upheld
    flagger = person("F")
    flag = cs.flag_create(user=flagger, reason="spam", post=posts[0])
    Flag.objects.filter(pk=flag.pk).update(
        state=FlagState.UPHELD, resolved_by=manager, resolved_at=timezone.now()
    )
    run_job()
    # then she drops back to member (kept), not below
    standing.refresh_from_db()
    assert standing.flags_upheld_against == 1 and standing.trust_level == 2
    selectors.trust_level_forget(alice)
    assert selectors.flag_weight(user=alice, space=space) == 1


def test_days_since_joining(person, make_space, run_job, settings):
    settings.APIARY_RECOGNITION = {"levels": {1: {"points": 0, "days": 3}}}
    old, new = person("Old"), person("New")
    type(old).objects.filter(pk=old.pk).update(date_joined=timezone.now() - timedelta(days=5))
    services.standings_update(user_ids=[old.pk, new.pk])
    assert MemberStanding.objects.get(user=old).trust_level == 1
    assert MemberStanding.objects.get(user=new).trust_level == 0


def test_pinned_level_and_permission(person, manager):
    from apiary.community.access import NotAvailable

    alice = person()
    services.trust_level_lock(actor=manager, user=alice, level=4)
    assert selectors.trust_level(user=alice) == 4
    services.standings_update(user_ids=[alice.pk])  # the job leaves a pinned level alone
    selectors.trust_level_forget(alice)
    assert selectors.trust_level(user=alice) == 4
    assert selectors.has_privilege(user=alice, code="flag_weight_3")
    with pytest.raises(NotAvailable):
        services.trust_level_lock(actor=alice, user=alice, level=4)
