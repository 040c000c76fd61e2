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
