"""The care chokepoints, walked for every role: who may read, reply, assign and manage."""

from __future__ import annotations

import pytest
from django.core.exceptions import PermissionDenied
from django.http import Http404

from apiary.accounts.models import Role
from apiary.care import access, selectors
from apiary.care.models import Conversation

pytestmark = pytest.mark.django_db

ROLES = [
    (Role.ADMIN, True, True),
    (Role.CARE_MANAGER, True, True),
    (Role.CARE_AGENT, True, False),
    (Role.COMMUNITY_MANAGER, False, False),
    (Role.ANALYST, False, False),
    (Role.MEMBER, False, False),
]


@pytest.fixture
def conversation(brand, support_rule, store, raw):
    store(raw(text="@northwind my order never arrived, I need help with a refund"))
    return Conversation.objects.get()


@pytest.mark.parametrize("role,inbox,manage", ROLES)
def test_every_role_against_every_chokepoint(make_user, conversation, agent2, role, inbox, manage):
    user = make_user(role)

    def allowed(fn, **kw) -> bool:
        try:
            fn(user=user, conversation_id=conversation.pk, **kw)
            return True
        except PermissionDenied:
            return False

    assert allowed(access.conversation_for_view) is inbox
    assert allowed(access.conversation_for_reply) is inbox
    assert allowed(access.conversation_for_assign, assignee_id=user.pk) is inbox
    assert allowed(access.conversation_for_assign, assignee_id=agent2.pk) is manage
    # the live feed leaks nothing to those outside the inbox
    assert bool(selectors.events_after(after_id=0, user=user)) is inbox


def test_missing_is_404_for_agents_and_403_first_for_others(make_user):
    agent = make_user(Role.CARE_AGENT)
    analyst = make_user(Role.ANALYST)
    with pytest.raises(Http404):
        access.conversation_for_view(user=agent, conversation_id=424242)
    with pytest.raises(Http404):
        access.conversation_for_view(user=agent, conversation_id="abc")
    with pytest.raises(PermissionDenied):
        access.conversation_for_view(user=analyst, conversation_id=424242)


def test_an_agent_may_unassign_only_their_own(make_user, conversation):
    me = make_user(Role.CARE_AGENT)
    other = make_user(Role.CARE_AGENT)
    Conversation.objects.filter(pk=conversation.pk).update(assignee=other)
    with pytest.raises(PermissionDenied):
        access.conversation_for_assign(user=me, conversation_id=conversation.pk, assignee_id=None)
    Conversation.objects.filter(pk=conversation.pk).update(assignee=me)
    access.conversation_for_assign(user=me, conversation_id=conversation.pk, assignee_id=None)


def test_inactive_users_are_refused(make_user, conversation):
    agent = make_user(Role.CARE_AGENT)
    agent.is_active = False
    agent.save()
    with pytest.raises(PermissionDenied):
        access.conversation_for_view(user=agent, conversation_id=conversation.pk)
