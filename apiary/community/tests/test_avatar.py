"""The avatar markup has one definition (``{% avatar %}``, templatetags/community_ui.py), used
by the topic's replies (``_comment.html``, inside their fragment cache) and every other page."""

from __future__ import annotations

import pytest
from django.template import engines
from django.test import Client

from apiary.accounts.models import User

BROWSER = "Mozilla/5.0 (X11; Linux x86_64; rv:130.0) Gecko/20100101 Firefox/130.0"


def _render(source: str, **context) -> str:
    return engines["django"].from_string("{% load community_ui %}" + source).render(context)


def test_the_avatar_tag_renders_the_markup():
    person = User(pk=3, display_name="<Ann>", email="ann@example.org")
    assert _render("{% avatar p %}", p=person) == (
        '<a class="cm-avatar" href="/community/u/3/" style="--avatar:hsl(141,35%,42%)"'
        ' aria-hidden="true" tabindex="-1">&lt;</a>'
    )
    small = _render("{% avatar p True '/given/' %}", p=person)
    assert small.startswith('<a class="cm-avatar small" href="/given/"')
    assert _render("{% avatar p small=True %}", p=None) == (
        '<span class="cm-avatar small" aria-hidden="true">?</span>'
    )
    # no display name: the initial of the e-mail's local part, as User.name says
    assert _render("{% avatar p %}", p=User(pk=1, email="zed@example.org")).endswith(">z</a>")


@pytest.mark.django_db
def test_the_topic_page_shows_the_same_avatar_for_authors_and_repliers(world):
    post, comment = world.posts["public"], world.comments["public"]
    body = Client(HTTP_USER_AGENT=BROWSER).get(f"/community/p/{post.pk}/").content.decode()
    for person in (post.author, comment.author):
        assert _render("{% avatar p %}", p=person) in body
