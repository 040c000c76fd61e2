"""``{% avatar person [small] [href] %}``: a member's round initial, linking to their profile.

The one definition of the avatar markup (it was a template, ``_avatar.html``, and a copy
inlined in ``_comment.html`` that had to be kept alike by hand). A tag rather than an include:
the topic page renders one per reply, and an ``{% include %}`` costs about as much again as the
markup itself (a context push and a second template); ``_comment.html`` also passes the
profile address it already reversed for the author link (``href``) so it is reversed once.
``person`` None (a deleted account) gives the anonymous "?" avatar.
"""

from __future__ import annotations

from django import template
from django.urls import reverse
from django.utils.html import format_html

register = template.Library()


@register.simple_tag
def avatar(person, small=False, href=""):
    css = "cm-avatar small" if small else "cm-avatar"
    if not person:
        return format_html('<span class="{}" aria-hidden="true">?</span>', css)
    return format_html(
        '<a class="{}" href="{}" style="--avatar:hsl({},35%,42%)" aria-hidden="true"'
        ' tabindex="-1">{}</a>',
        css,
        href or reverse("community:profile", args=[person.pk]),
        # a hue per member, spread around the circle (was {% widthratio person.pk 1 47 %})
        person.pk * 47,
        person.name[:1],
    )
