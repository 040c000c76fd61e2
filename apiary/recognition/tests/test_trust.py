"""The contract apiary.moderation relies on: trust_level and flag_weight."""

from __future__ import annotations

from django.contrib.auth.models import AnonymousUser

from apiary.recognition import selectors
from apiary.recognition.models import MemberStanding


def test_trust_level_defaults_to_new_and_reads_standing_once(person, django_assert_num_queries):
    # given
    user = person("Tara")
    # then: no standing yet → 0
    assert selectors.trust_level(user=user) == 0
    MemberStanding.objects.create(user=user, trust_level=3)
    selectors.trust_level_forget(user)
    # when asked twice in one request, one query
    with django_assert_num_queries(1):
        assert selectors.trust_level(user=user) == 3
        assert selectors.trust_level(user=user) == 3
    assert selectors.trust_level(user=AnonymousUser()) == 0


def test_locked_level_wins(person):
    user = person()
    MemberStanding.objects.create(user=user, trust_level=1, level_locked=4)
    assert selectors.trust_level(user=user) == 4


def test_every_reader_of_the_level_applies_the_same_pinned_level_rule(person):
    """trust_level (one row), the leaderboard's _level_of (standing loaded with the person) and
    the level badges' condition are one rule: ranks.level_in_force / level_at_least_q."""
    from django.contrib.auth import get_user_model

    from apiary.recognition import ranks

    cases = [(None, None), (3, None), (1, 4), (4, 0), (2, 2)]
    people = []
    for computed, locked in cases:
        user = person()
        if computed is not None:
            MemberStanding.objects.create(user=user, trust_level=computed, level_locked=locked)
        people.append(user)
    loaded = get_user_model().objects.select_related("recognition_standing")
    for user in people:
        level = selectors.trust_level(user=user)
        assert selectors._level_of(loaded.get(pk=user.pk)) == level
        has_standing = MemberStanding.objects.filter(user=user).exists()
        for at_least in range(5):
            standing = MemberStanding.objects.filter(ranks.level_at_least_q(at_least), user=user)
            assert standing.exists() == (has_standing and level >= at_least), (level, at_least)
    assert [selectors.trust_level(user=u) for u in people] == [0, 3, 4, 0, 2]


def test_flag_weight_by_level_and_role(person, make_space, manager):
    # given
    new, trusted, leader, mod = person(), person(), person(), person()
    space = make_space("garden", moderators=[mod])
    MemberStanding.objects.create(user=trusted, trust_level=3)
    MemberStanding.objects.create(user=leader, trust_level=4)
    # then
    assert selectors.flag_weight(user=new, space=space) == 1
    assert selectors.flag_weight(user=trusted, space=space) == 2
    assert selectors.flag_weight(user=leader, space=space.pk) == 3
    assert selectors.flag_weight(user=mod, space=space) >= 1000
    assert selectors.flag_weight(user=manager, space=space) >= 1000
    assert selectors.flag_weight(user=AnonymousUser(), space=space) == 0
    # a moderator elsewhere is an ordinary member here
    other = make_space("orchard")
    assert selectors.flag_weight(user=mod, space=other) == 1
