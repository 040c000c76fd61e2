"""The community's access chokepoint: the one place that decides who may see or do what.

Every read of a space, post, comment, attachment, poll result, profile feed, search hit, tag page,
feed, sitemap, export and notification goes through a function here; a new page cannot forget
the check because the selectors it calls already filter with :func:`posts_visible`.

Rules (issue 7):

- **public** space: anyone reads it, anonymous visitors included.
- **registered**: any logged-in member reads it; an anonymous visitor gets *not available*.
- **closed**: anyone learns it exists (name and description); only active members read its
  content; others get *not available* with how to get in.
- **secret**: non-members get exactly what a non-existent object gets (404).
- A post narrows its space with ``audience``: ``registered`` (logged-in visitors only) or
  ``members`` (the space's members only); everyone else gets *not available*.
- Drafts are the author's; pending and hidden posts are the author's and the moderators';
  removed posts only the moderators'. For everyone else they do not exist (404).
- Staff with ``community.manage`` (community managers, administrators) administer everything,
  except that another person's draft stays private.
- Banned members are outsiders who may not join again; a banned member of a secret space gets 404.

A decision is a :class:`Decision`: ``allow``, ``not_available`` (HTTP 403, carrying the space and
the ways in: log in / register for anonymous visitors, join / request membership / contact the
space admin for logged-in non-members) or ``not_found`` (HTTP 404). Views and the API turn it
into a response the same way: views catch :class:`NotAvailable` (a ``PermissionDenied``) and
``Http404``; the API calls :func:`api_raise`.

Membership lookups are cached on the user object for the request (one query for all of a
user's memberships), so filtering a list costs no query per row.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from enum import StrEnum

from django.core.exceptions import PermissionDenied
from django.db import connection
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.http import Http404
from django.utils import timezone
from django.utils.translation import gettext as _

from apiary.accounts.access import Perm, user_has_permission
from apiary.community.models import (
    Attachment,
    Audience,
    Comment,
    CommentState,
    ContestEntry,
    JoinPolicy,
    MembershipState,
    Notification,
    Post,
    PostState,
    ResultsVisibility,
    Space,
    SpaceMembership,
    SpaceRole,
    Visibility,
)


class Outcome(StrEnum):
    ALLOW = "allow"
    NOT_AVAILABLE = "not_available"  # 403: exists, but not for you (with the ways in)
    NOT_FOUND = "not_found"  # 404: indistinguishable from an object that does not exist


class Way(StrEnum):
    """How an outsider can get in; the page and the API list these."""

    LOGIN = "login"
    REGISTER = "register"
    JOIN = "join"
    REQUEST_MEMBERSHIP = "request_membership"
    REQUEST_PENDING = "request_pending"  # already asked; waiting for a moderator
    CONTACT_ADMIN = "contact_admin"


@dataclass(frozen=True)
class Decision:
    outcome: Outcome
    reason: str = ""  # machine code: login_required, membership_required, banned, forbidden, …
    space: Space | None = None  # set on not_available (its existence is not secret)
    ways: tuple[Way, ...] = field(default_factory=tuple)
    message: str = ""  # translated sentence for pages and API errors

    @property
    def allowed(self) -> bool:
        return self.outcome == Outcome.ALLOW

    @property
    def status(self) -> int:
        return {Outcome.ALLOW: 200, Outcome.NOT_AVAILABLE: 403, Outcome.NOT_FOUND: 404}[
            self.outcome
        ]

    def raise_if_denied(self) -> None:
        if self.outcome == Outcome.NOT_FOUND:
            raise Http404
        if self.outcome == Outcome.NOT_AVAILABLE:
            raise NotAvailable(self)

    def __bool__(self) -> bool:
        return self.allowed


ALLOW = Decision(Outcome.ALLOW)
NOT_FOUND = Decision(Outcome.NOT_FOUND, reason="not_found")


class NotAvailable(PermissionDenied):
    """403 with the decision attached, so the page can say how to get in."""

    def __init__(self, decision: Decision) -> None:
        super().__init__(decision.message)
        self.decision = decision


def forbidden(message: str, *, reason: str = "forbidden", space: Space | None = None) -> Decision:
    return Decision(Outcome.NOT_AVAILABLE, reason=reason, space=space, message=message)


# --- who is the user --------------------------------------------------------------------------


def is_authenticated(user) -> bool:
    return user is not None and user.is_authenticated and user.is_active


def is_manager(user) -> bool:
    """Staff community managers and administrators administer every space."""
    return user_has_permission(user, Perm.COMMUNITY_MANAGE)


def can_participate(user) -> bool:
    return user_has_permission(user, Perm.COMMUNITY_PARTICIPATE)


_CACHE_ATTR = "_community_memberships"


def _memberships(user) -> dict[int, tuple[str, str]]:
    """space_id → (role, state) for every membership of the user; one query per request."""
    if not is_authenticated(user):
        return {}
    cached = getattr(user, _CACHE_ATTR, None)
    if cached is None:
        cached = {
            space_id: (role, state)
            for space_id, role, state in SpaceMembership.objects.filter(user=user).values_list(
                "space_id", "role", "state"
            )
        }
        setattr(user, _CACHE_ATTR, cached)
    return cached


def memberships_forget(user) -> None:
    """Services call this after changing the user's memberships (same request)."""
    if user is not None and hasattr(user, _CACHE_ATTR):
        delattr(user, _CACHE_ATTR)


def membership_state(user, space: Space | int) -> tuple[str, str] | None:
    space_id = space if isinstance(space, int) else space.pk
    return _memberships(user).get(space_id)


def space_role(user, space: Space | int) -> str | None:
    """The user's *active* role in the space (owner/moderator/member) or None."""
    found = membership_state(user, space)
    if found and found[1] == MembershipState.ACTIVE:
        return found[0]
    return None


def is_member(user, space: Space | int) -> bool:
    return space_role(user, space) is not None


def member_space_ids(user) -> set[int]:
    """The spaces the user is an active member of (the request's membership cache)."""
    return set(_space_ids(user))


def is_banned(user, space: Space | int) -> bool:
    found = membership_state(user, space)
    return bool(found and found[1] == MembershipState.BANNED)


def _space_ids(user, *, states=(MembershipState.ACTIVE,), roles=None) -> list[int]:
    return [
        sid
        for sid, (role, state) in _memberships(user).items()
        if state in states and (roles is None or role in roles)
    ]


def can_moderate(*, user, space: Space | int) -> bool:
    """Space owners and moderators, and staff community managers."""
    if is_manager(user):
        return True
    return space_role(user, space) in (SpaceRole.OWNER, SpaceRole.MODERATOR)


def can_administer_space(*, user, space: Space | int) -> bool:
    """Settings, roles and invitations: space owners and staff community managers."""
    if is_manager(user):
        return True
    return space_role(user, space) == SpaceRole.OWNER


# --- spaces -----------------------------------------------------------------------------------


def _ways_in(user, space: Space) -> tuple[Way, ...]:
    if not is_authenticated(user):
        return (Way.LOGIN, Way.REGISTER)
    found = membership_state(user, space)
    if found and found[1] == MembershipState.PENDING:
        return (Way.REQUEST_PENDING,)
    if space.join_policy == JoinPolicy.OPEN and space.visibility in (
        Visibility.PUBLIC,
        Visibility.REGISTERED,
    ):
        return (Way.JOIN,)
    if space.join_policy in (JoinPolicy.OPEN, JoinPolicy.REQUEST):
        return (Way.REQUEST_MEMBERSHIP,)
    return (Way.CONTACT_ADMIN,)


def _not_available(user, space: Space, *, reason: str) -> Decision:
    if not is_authenticated(user):
        message = _("This content is available to members only. Log in or register to see it.")
        reason = "login_required"
    elif reason == "banned":
        message = _("You cannot take part in this space.")
        return Decision(Outcome.NOT_AVAILABLE, reason="banned", space=space, message=message)
    else:
        message = _(
            "This content is available to members of the space only. "
            "Ask to join or contact the space administrator."
        )
    return Decision(
        Outcome.NOT_AVAILABLE,
        reason=reason,
        space=space,
        ways=_ways_in(user, space),
        message=message,
    )


def space_exists_for(user, space: Space) -> bool:
    """May the user learn that the space exists (its name and description)?"""
    # A sub-space of a secret space is itself secret (space_create enforces it), so the
    # space's own visibility is enough.
    if space.visibility != Visibility.SECRET or is_manager(user):
        return True
    return is_member(user, space)


def space_read_decision(*, user, space: Space) -> Decision:
    """May the user read the space's content?"""
    if is_manager(user):
        return ALLOW
    if not space_exists_for(user, space):
        return NOT_FOUND
    vis = space.visibility
    if is_banned(user, space) and vis != Visibility.PUBLIC:
        return _not_available(user, space, reason="banned")
    if vis == Visibility.PUBLIC:
        return ALLOW
    if vis == Visibility.REGISTERED:
        if is_authenticated(user):
            return ALLOW
        return _not_available(user, space, reason="login_required")
    # closed, or secret with membership
    if is_member(user, space):
        return ALLOW
    return _not_available(user, space, reason="membership_required")


def _space_get(*, slug: str | None = None, space_id: int | None = None) -> Space:
    qs = Space.objects.select_related("parent")
    try:
        if slug is not None:
            return qs.get(slug=slug)
        if space_id is not None:
            return qs.get(pk=space_id)
    except (Space.DoesNotExist, ValueError, TypeError):
        pass
    raise Http404


def space_for_view(*, user, slug: str | None = None, space_id: int | None = None) -> Space:
    """The space, when the user may read its content. Raises Http404 (missing or secret) or
    :class:`NotAvailable` (403 with the ways in)."""
    space = _space_get(slug=slug, space_id=space_id)
    space_read_decision(user=user, space=space).raise_if_denied()
    return space


def space_decision_for(
    *, user, slug: str | None = None, space_id: int | None = None
) -> tuple[Space | None, Decision]:
    """Non-raising form: ``(space or None, decision)``; the space is None on not_found."""
    try:
        space = _space_get(slug=slug, space_id=space_id)
    except Http404:
        return None, NOT_FOUND
    decision = space_read_decision(user=user, space=space)
    if decision.outcome == Outcome.NOT_FOUND:
        return None, decision
    return space, decision


def space_for_join(*, user, slug: str | None = None, space_id: int | None = None) -> Space:
    """The space whose existence the user may know (join, request, the not-available page)."""
    space = _space_get(slug=slug, space_id=space_id)
    if not space_exists_for(user, space):
        raise Http404
    return space


def space_for_manage(*, user, slug: str | None = None, space_id: int | None = None) -> Space:
    """Owners and staff managers (settings, roles, invitations); 404 when secret to the user,
    403 otherwise."""
    space = _space_get(slug=slug, space_id=space_id)
    space_read_decision(user=user, space=space).raise_if_denied()
    if not can_administer_space(user=user, space=space):
        raise NotAvailable(forbidden(_("Only the space's owners can do this."), space=space))
    return space


def space_for_moderation(*, user, slug: str | None = None, space_id: int | None = None) -> Space:
    space = _space_get(slug=slug, space_id=space_id)
    space_read_decision(user=user, space=space).raise_if_denied()
    if not can_moderate(user=user, space=space):
        raise NotAvailable(forbidden(_("Only the space's moderators can do this."), space=space))
    return space


def space_visible_queryset(user, qs: QuerySet | None = None) -> QuerySet:
    """Spaces whose existence the user may know (directory, breadcrumbs). Secret spaces only
    for their members."""
    qs = Space.objects.all() if qs is None else qs
    if is_manager(user):
        return qs
    return qs.filter(~Q(visibility=Visibility.SECRET) | Q(pk__in=_space_ids(user)))


def space_readable_q(user, prefix: str = "") -> Q | None:
    """A Q over spaces whose *content* the user may read (None = everything)."""
    if is_manager(user):
        return None
    member_ids = _space_ids(user)
    banned_ids = _space_ids(user, states=(MembershipState.BANNED,))
    p = prefix
    readable = Q(**{f"{p}visibility": Visibility.PUBLIC})
    if is_authenticated(user):
        registered = Q(**{f"{p}visibility": Visibility.REGISTERED})
        if banned_ids:
            registered &= ~Q(**{f"{p}pk__in": banned_ids})
        readable |= registered
    if member_ids:
        readable |= Q(**{f"{p}pk__in": member_ids})
    return readable


def space_readable_queryset(user, qs: QuerySet | None = None) -> QuerySet:
    qs = Space.objects.all() if qs is None else qs
    cond = space_readable_q(user)
    return qs if cond is None else qs.filter(cond)


# --- posts ------------------------------------------------------------------------------------


def _post_state_visible(user, post: Post) -> bool:
    if post.state == PostState.PUBLISHED:
        return True
    mine = is_authenticated(user) and post.author_id == user.pk
    if post.state == PostState.DRAFT:
        return mine
    if post.state in (PostState.PENDING, PostState.HIDDEN):
        return mine or can_moderate(user=user, space=post.space_id)
    return can_moderate(user=user, space=post.space_id)  # removed


def post_decision(*, user, post: Post) -> Decision:
    """May the user read this post (its title, text, comments, attachments)?"""
    space = post.space
    decision = space_read_decision(user=user, space=space)
    if decision.outcome == Outcome.NOT_FOUND:
        return decision
    if not _post_state_visible(user, post):
        return NOT_FOUND
    if not decision.allowed:
        return decision
    if is_manager(user) or (is_authenticated(user) and post.author_id == user.pk):
        return ALLOW
    if post.audience == Audience.REGISTERED and not is_authenticated(user):
        return _not_available(user, space, reason="login_required")
    if post.audience == Audience.MEMBERS and not is_member(user, space):
        return _not_available(user, space, reason="membership_required")
    return ALLOW


def _post_get(post_id) -> Post:
    try:
        return Post.objects.select_related("space", "space__parent", "author").get(pk=post_id)
    except (Post.DoesNotExist, ValueError, TypeError):
        raise Http404 from None


def post_for_view(*, user, post_id: int) -> Post:
    """The post, or Http404 / :class:`NotAvailable`."""
    post = _post_get(post_id)
    post_decision(user=user, post=post).raise_if_denied()
    return post


def post_decision_for(*, user, post_id: int) -> tuple[Post | None, Decision]:
    """Non-raising form for pages that render the not-available page themselves."""
    try:
        post = _post_get(post_id)
    except Http404:
        return None, NOT_FOUND
    decision = post_decision(user=user, post=post)
    return (post if decision.outcome != Outcome.NOT_FOUND else None), decision


def posts_visible(user, qs: QuerySet | None = None) -> QuerySet:
    """Filter any post queryset to what the user may read. Every list, search, feed, tag page,
    profile, sitemap and export uses this; a post the user may not read is simply absent."""
    qs = Post.objects.all() if qs is None else qs
    return qs.filter(posts_visible_q(user))


def posts_visible_q(user, prefix: str = "") -> Q:
    """The rule of :func:`posts_visible` as a condition over posts reached through ``prefix``
    (``"post__"`` from comments): a join, where ``post__in=posts_visible(user)`` would make the
    database list every visible post first (SQLite materialises that subquery: a million rows
    for one topic's comments)."""
    p = prefix
    authed = is_authenticated(user)
    if is_manager(user):
        # everything except other people's drafts
        return ~Q(**{f"{p}state": PostState.DRAFT}) | Q(**{f"{p}author_id": user.pk})
    readable = space_readable_q(user, f"{p}space__")
    mod_ids = _space_ids(user, roles=(SpaceRole.OWNER, SpaceRole.MODERATOR))

    state = Q(**{f"{p}state": PostState.PUBLISHED})
    if authed:
        state |= Q(**{f"{p}author_id": user.pk}) & ~Q(**{f"{p}state": PostState.REMOVED})
    if mod_ids:
        state |= Q(**{f"{p}space_id__in": mod_ids}) & ~Q(**{f"{p}state": PostState.DRAFT})

    audience = audience_q(user, p)
    if authed:
        audience |= Q(**{f"{p}author_id": user.pk})
    return readable & state & audience


def audience_q(user, prefix: str = "") -> Q:
    """The audience part of :func:`posts_visible_q` over ``{prefix}audience`` and
    ``{prefix}space_id`` alone (the author's own posts are added by the caller:
    :func:`posts_visible_q` by ``author_id``, :func:`post_copies_visible_q` by post id)."""
    p = prefix
    audience = Q(**{f"{p}audience": Audience.EVERYONE})
    if is_authenticated(user):
        audience |= Q(**{f"{p}audience": Audience.REGISTERED})
    member_ids = _space_ids(user)
    if member_ids:
        audience |= Q(**{f"{p}audience": Audience.MEMBERS, f"{p}space_id__in": member_ids})
    return audience


def _authored_only_posts(user) -> QuerySet | None:
    """The user's posts they may read only because they wrote them (the author clause of
    :func:`posts_visible_q` on the audience): members-only posts in spaces they are not an
    active member of (left, removed or banned since). None for visitors."""
    if not is_authenticated(user):
        return None
    return Post.objects.filter(author_id=user.pk, audience=Audience.MEMBERS).exclude(
        space_id__in=_space_ids(user)
    )


def authored_only_post_ids(user) -> list[int]:
    """:func:`_authored_only_posts` as ids (one indexed query; usually none). Empty for
    visitors and staff managers (who read everything anyway)."""
    if is_manager(user):
        return []
    own = _authored_only_posts(user)
    return [] if own is None else list(own.values_list("pk", flat=True))


def post_copies_visible_q(
    user, prefix: str = "", *, post_field: str | None = "post_id"
) -> Q | None:
    """The rule of :func:`posts_visible` for rows that carry copies of a post's columns instead
    of a join to posts — ``{prefix}space_id``, ``{prefix}audience`` and the post's id in
    ``{prefix}{post_field}`` (recognition's ledger: a leaderboard stays one indexed aggregate).
    None = everything (staff managers).

    The space must be readable (a short list of ids), and the audience must admit the user
    (:func:`audience_q`) or the post be the user's own (the author clause of
    :func:`posts_visible_q`, as a subquery of the user's :func:`_authored_only_posts`). Rows
    without a post id (``post_field=None``: per-space totals) cannot take the author clause and
    are exact only while :func:`authored_only_post_ids` is empty. Post state is the caller's
    (recognition reverses the points of anything unpublished)."""
    if is_manager(user):
        return None
    p = prefix
    readable = list(space_readable_queryset(user).values_list("pk", flat=True))
    audience = audience_q(user, p)
    own = _authored_only_posts(user) if post_field else None
    if own is not None:
        audience |= Q(**{f"{p}{post_field}__in": own.values("pk")})
    return audience & Q(**{f"{p}space_id__in": readable})


def open_posts(qs: QuerySet | None = None) -> QuerySet:
    """Viewer-free: published posts every logged-in account may read without any membership
    (public and registered spaces; audience everyone or registered) — what
    :func:`posts_visible` gives a signed-in member of no space. Recognition's community-wide
    count badges add up only this evidence, so a badge says nothing about closed or secret
    spaces or members-only posts."""
    qs = Post.objects.all() if qs is None else qs
    return qs.filter(
        state=PostState.PUBLISHED,
        space__visibility__in=(Visibility.PUBLIC, Visibility.REGISTERED),
        audience__in=(Audience.EVERYONE, Audience.REGISTERED),
    )


def post_for_edit(*, user, post_id: int) -> Post:
    """IDOR guard for edit/delete: the author, a moderator of the space, or a staff manager.
    Someone who may read but not edit gets 403; someone who may not read gets what reading
    would give them (404 or not available)."""
    post = post_for_view(user=user, post_id=post_id)
    if not can_edit_post(user=user, post=post):
        raise NotAvailable(forbidden(_("You cannot edit this post."), space=post.space))
    return post


def post_for_moderation(*, user, post_id: int) -> Post:
    post = post_for_view(user=user, post_id=post_id)
    if not can_moderate(user=user, space=post.space_id):
        raise NotAvailable(
            forbidden(_("Only the space's moderators can do this."), space=post.space)
        )
    return post


def can_edit_post(*, user, post: Post) -> bool:
    if not is_authenticated(user):
        return False
    if can_moderate(user=user, space=post.space_id):
        return True
    if post.author_id != user.pk or not can_participate(user):
        return False
    if post.state == PostState.REMOVED or post.is_locked or post.space.is_archived:
        return False
    return not is_banned(user, post.space_id) and not _suspension_message(user, post.space_id)


def _participation(user, space: Space) -> Decision:
    """Common rules for writing into a space (posts, comments, votes, reactions)."""
    if not is_authenticated(user):
        return _not_available(user, space, reason="login_required")
    if not can_participate(user):
        return forbidden(_("Your account cannot take part in the community."), space=space)
    if is_manager(user):
        return ALLOW
    if is_banned(user, space):
        return _not_available(user, space, reason="banned")
    suspended = _suspension_message(user, space)
    if suspended:
        return forbidden(suspended, reason="suspended", space=space)
    if space.is_archived:
        return forbidden(_("This space is archived."), reason="archived", space=space)
    return ALLOW


def _suspension_message(user, space) -> str | None:
    """Suspensions belong to apiary.moderation; every write (post, comment, reaction, vote,
    flag, share, edit) asks here, cached per request there."""
    from apiary.moderation.selectors import suspension_message

    return suspension_message(user, space)


def can_post(*, user, space: Space) -> Decision:
    """May the user start a post in the space?"""
    decision = space_read_decision(user=user, space=space)
    if not decision.allowed:
        return decision
    decision = _participation(user, space)
    if not decision.allowed or is_manager(user):
        return decision
    if space.members_only_posting and not is_member(user, space):
        return _not_available(user, space, reason="membership_required")
    return ALLOW


def can_interact(*, user, post: Post) -> Decision:
    """Reactions, idea votes, poll and contest votes, flags, shares: the post must be readable
    and published, the user a participant."""
    decision = post_decision(user=user, post=post)
    if not decision.allowed:
        return decision
    if post.state != PostState.PUBLISHED:
        return forbidden(_("This post is not published."), reason="not_published", space=post.space)
    return _participation(user, post.space)


def can_comment(*, user, post: Post) -> Decision:
    decision = can_interact(user=user, post=post)
    if not decision.allowed:
        return decision
    space = post.space
    if post.is_locked and not can_moderate(user=user, space=space):
        return forbidden(_("This post is locked."), reason="locked", space=space)
    if space.members_only_posting and not (is_member(user, space) or is_manager(user)):
        return _not_available(user, space, reason="membership_required")
    return ALLOW


# --- comments ---------------------------------------------------------------------------------


def _comment_state_visible(user, comment: Comment, space_id: int) -> bool:
    if comment.state == CommentState.PUBLISHED:
        return True
    mine = is_authenticated(user) and comment.author_id == user.pk
    if comment.state in (CommentState.PENDING, CommentState.HIDDEN):
        return mine or can_moderate(user=user, space=space_id)
    return can_moderate(user=user, space=space_id)


def comment_decision(*, user, comment: Comment) -> Decision:
    decision = post_decision(user=user, post=comment.post)
    if not decision.allowed:
        return decision
    if not _comment_state_visible(user, comment, comment.post.space_id):
        return NOT_FOUND
    return ALLOW


def _comment_get(comment_id) -> Comment:
    try:
        return Comment.objects.select_related("post", "post__space", "post__space__parent").get(
            pk=comment_id
        )
    except (Comment.DoesNotExist, ValueError, TypeError):
        raise Http404 from None


def comment_for_view(*, user, comment_id: int) -> Comment:
    comment = _comment_get(comment_id)
    comment_decision(user=user, comment=comment).raise_if_denied()
    return comment


def comment_for_edit(*, user, comment_id: int) -> Comment:
    comment = comment_for_view(user=user, comment_id=comment_id)
    if not can_edit_comment(user=user, comment=comment):
        raise NotAvailable(forbidden(_("You cannot edit this comment."), space=comment.post.space))
    return comment


def can_edit_comment(*, user, comment: Comment) -> bool:
    if not is_authenticated(user):
        return False
    post = comment.post
    if can_moderate(user=user, space=post.space_id):
        return True
    if comment.author_id != user.pk or not can_participate(user):
        return False
    if comment.state == CommentState.REMOVED or post.is_locked or post.space.is_archived:
        return False
    return not is_banned(user, post.space_id) and not _suspension_message(user, post.space_id)


def comments_visible(user, qs: QuerySet | None = None) -> QuerySet:
    """Filter a comment queryset (any posts) to what the user may read."""
    qs = Comment.objects.all() if qs is None else qs
    qs = qs.filter(posts_visible_q(user, "post__"))
    if is_manager(user):
        return qs
    state = Q(state=CommentState.PUBLISHED)
    if is_authenticated(user):
        state |= Q(author_id=user.pk) & ~Q(state=CommentState.REMOVED)
    mod_ids = _space_ids(user, roles=(SpaceRole.OWNER, SpaceRole.MODERATOR))
    if mod_ids:
        state |= Q(post__space_id__in=mod_ids)
    return qs.filter(state)


# --- attachments, polls, contests -------------------------------------------------------------


def attachment_decision(*, user, attachment: Attachment) -> Decision:
    if attachment.comment_id:
        return comment_decision(user=user, comment=attachment.comment)
    if attachment.post_id:
        return post_decision(user=user, post=attachment.post)
    entry = ContestEntry.objects.filter(image=attachment).select_related("post__space").first()
    if entry is not None:
        if entry.removed_at and not can_moderate(user=user, space=entry.post.space_id):
            return NOT_FOUND
        return post_decision(user=user, post=entry.post)
    # not attached yet: only the uploader (while writing a post) and staff managers
    if is_manager(user) or (is_authenticated(user) and attachment.uploader_id == user.pk):
        return ALLOW
    return NOT_FOUND


def attachment_for_download(*, user, attachment_id: int) -> Attachment:
    """The attachment, when the user may read what it is attached to; 404 / 403 otherwise."""
    try:
        attachment = Attachment.objects.select_related("post__space", "comment__post__space").get(
            pk=attachment_id
        )
    except (Attachment.DoesNotExist, ValueError, TypeError):
        raise Http404 from None
    attachment_decision(user=user, attachment=attachment).raise_if_denied()
    return attachment


def poll_is_closed(post: Post, now=None) -> bool:
    now = now or timezone.now()
    return post.poll_closes_at is not None and post.poll_closes_at <= now


def poll_results_visible(*, user, post: Post, has_voted: bool | None = None) -> bool:
    """Results (counts per option) per the poll's setting; the author and moderators always.
    The caller must already have been allowed to read the post (post_for_view)."""
    if not post_decision(user=user, post=post).allowed:
        return False
    if post.poll_results == ResultsVisibility.ALWAYS:
        return True
    authed = is_authenticated(user)
    if (authed and post.author_id == user.pk) or can_moderate(user=user, space=post.space_id):
        return True
    if poll_is_closed(post):
        return True
    if post.poll_results == ResultsVisibility.AFTER_VOTE and authed:
        if has_voted is None:
            has_voted = post.poll_votes.filter(user=user).exists()
        return has_voted
    return False


def contest_votes_visible(*, user, post: Post) -> bool:
    """Vote counts of a contest show once voting ended (so they do not steer the vote), to
    moderators always."""
    if not post_decision(user=user, post=post).allowed:
        return False
    if can_moderate(user=user, space=post.space_id):
        return True
    return post.contest_voting_until is not None and post.contest_voting_until <= timezone.now()


# --- profiles and notifications ---------------------------------------------------------------


def profile_posts_visible(*, viewer, author, qs: QuerySet | None = None) -> QuerySet:
    """An author's profile feed: only their published posts the viewer may read."""
    qs = Post.objects.all() if qs is None else qs
    return posts_visible(viewer, qs.filter(author=author, state=PostState.PUBLISHED))


def profile_comments_visible(*, viewer, author, qs: QuerySet | None = None) -> QuerySet:
    qs = Comment.objects.all() if qs is None else qs
    return comments_visible(viewer, qs.filter(author=author, state=CommentState.PUBLISHED))


def notification_visible(*, user, notification: Notification) -> bool:
    """Re-checked whenever a notification is read or e-mailed: the recipient must still be able
    to see what it points at (membership may have ended since it was created)."""
    if not is_authenticated(user) or notification.recipient_id != user.pk:
        return False
    if notification.comment_id:
        return comment_decision(user=user, comment=notification.comment).allowed
    if notification.post_id:
        return post_decision(user=user, post=notification.post).allowed
    if notification.space_id:
        return space_exists_for(user, notification.space)
    return True


def notifications_visible(user, qs: QuerySet | None = None) -> QuerySet:
    """The same rule as :func:`notification_visible`, as one database filter for lists."""
    if not is_authenticated(user):
        return Notification.objects.none()
    qs = Notification.objects.all() if qs is None else qs
    qs = qs.filter(recipient=user)
    cond = (
        (Q(post__isnull=True) | Q(post__in=posts_visible(user)))
        & (Q(comment__isnull=True) | Q(comment__in=comments_visible(user)))
        & (Q(space__isnull=True) | Q(space__in=space_visible_queryset(user)))
    )
    return qs.filter(cond)


def recipients_who_can_see(*, user_ids, post: Post, comment: Comment | None = None) -> list[int]:
    """Fan-out filter: of these users, those who may read the post (and the comment), as one
    query. Used before a notification is stored, so closed content never reaches an outsider's
    inbox. Only published content is announced; ``notification_visible`` re-checks on read."""
    from apiary.accounts.access import ROLE_PERMISSIONS
    from apiary.accounts.models import User

    ids = {int(i) for i in user_ids if i}
    if not ids or post.state != PostState.PUBLISHED:
        return []
    if comment is not None and comment.state != CommentState.PUBLISHED:
        return []
    space = post.space
    manager_roles = [r for r, perms in ROLE_PERMISSIONS.items() if Perm.COMMUNITY_MANAGE in perms]
    active = SpaceMembership.objects.filter(
        space=space, user=OuterRef("pk"), state=MembershipState.ACTIVE
    )
    banned = SpaceMembership.objects.filter(
        space=space, user=OuterRef("pk"), state=MembershipState.BANNED
    )
    if post.audience == Audience.MEMBERS or space.visibility in (
        Visibility.CLOSED,
        Visibility.SECRET,
    ):
        readers = Q(Exists(active))
    elif space.visibility == Visibility.REGISTERED:
        readers = ~Q(Exists(banned))
    else:
        # public space, everyone / registered audience: any active account (an explicit
        # condition: an empty Q() would vanish when OR-ed with the managers' condition)
        readers = Q(pk__isnull=False)
    cond = Q(role__in=manager_roles) | readers
    return list(
        User.objects.filter(pk__in=ids, is_active=True).filter(cond).values_list("pk", flat=True)
    )


# --- the anonymous topic page's stamp ---------------------------------------------------------

# Every column post_decision reads for an anonymous visitor: the post's state, audience and
# space, and the space's visibility. The parent space's row comes too (its visibility: a
# sub-space is never more open than its parent, so a change there is a new stamp at once).
ANONYMOUS_DECISION_POST_FIELDS = frozenset({"state", "audience", "space_id"})
ANONYMOUS_DECISION_SPACE_FIELDS = frozenset({"visibility", "parent_id"})


@dataclass(frozen=True)
class StampShape:
    """What a cached anonymous topic page shows beyond what decides access
    (``topic_cache.STAMP_SHAPE``). The decision's own columns are always in the stamp: a shape
    that would leave one out is refused."""

    post_ignored: frozenset[str]  # post fields that never change the page
    space_ignored: frozenset[str]  # space fields that never change the page
    author_columns: tuple[str, ...]  # the author's columns the page shows
    live_columns: tuple[str, ...]  # post columns shown live: read last, not part of the stamp


@functools.cache
def _anonymous_stamp_sql(shape: StampShape) -> str:
    from apiary.accounts.models import User

    dropped = (ANONYMOUS_DECISION_POST_FIELDS & shape.post_ignored) | (
        ANONYMOUS_DECISION_SPACE_FIELDS & shape.space_ignored
    )
    if dropped:
        raise ValueError(f"the anonymous decision reads {sorted(dropped)}: they stay in the stamp")
    q = connection.ops.quote_name
    post_cols = [
        f.column for f in Post._meta.concrete_fields if f.attname not in shape.post_ignored
    ]
    space_cols = [
        f.column for f in Space._meta.concrete_fields if f.attname not in shape.space_ignored
    ]
    live_cols = [Post._meta.get_field(name).column for name in shape.live_columns]
    select = (
        [f"p.{q(c)}" for c in post_cols]
        + [f"s.{q(c)}" for c in space_cols]
        + [f"ps.{q(c)}" for c in space_cols]
        + [f"u.{q(c)}" for c in shape.author_columns]
        + [f"p.{q(c)}" for c in live_cols]
    )
    return (
        # identifiers from model metadata, quoted; the post id is a parameter
        f"SELECT {', '.join(select)} FROM {q(Post._meta.db_table)} p"  # noqa: S608
        f" JOIN {q(Space._meta.db_table)} s ON s.id = p.space_id"
        f" LEFT JOIN {q(Space._meta.db_table)} ps ON ps.id = s.parent_id"
        f" LEFT JOIN {q(User._meta.db_table)} u ON u.id = p.author_id"
        f" WHERE p.id = %s"
    )


def anonymous_topic_stamp(post_id: int, shape: StampShape) -> tuple | None:
    """The topic's *stamp* for the anonymous whole-page cache (``topic_cache``): one indexed raw
    row, read fresh on every request, holding every column that decides whether an anonymous
    visitor may read the post (:data:`ANONYMOUS_DECISION_POST_FIELDS`,
    :data:`ANONYMOUS_DECISION_SPACE_FIELDS`, for the post's space and its parent) plus what
    ``shape`` says the page shows, then ``shape.live_columns``. None when the post is gone.

    Why it lives here: a cached page is served without asking :func:`post_decision` again, so
    the rule "which columns decide what an anonymous visitor may see" must sit beside that
    decision. Anything that turns the answer into a 403/404 changes the stamp; the cache only
    keeps pages written after :func:`post_for_view` allowed an anonymous visitor."""
    with connection.cursor() as cursor:
        cursor.execute(_anonymous_stamp_sql(shape), [post_id])
        return cursor.fetchone()


# --- turning a decision into an HTTP answer ---------------------------------------------------


def decision_body(decision: Decision) -> dict:
    """What the API (and htmx fragments) say about a 403: the space and the ways in."""
    body: dict = {"ways": [str(w) for w in decision.ways]}
    if decision.space is not None:
        body["space"] = {"slug": decision.space.slug, "name": decision.space.name}
    return body


def api_raise(decision: Decision) -> None:
    """Raise the API's error for a denied decision (404 / 403 with the ways in)."""
    from apiary.core.errors import ApiError

    if decision.outcome == Outcome.NOT_FOUND:
        raise ApiError(404, "not_found", _("Not found."))
    if decision.outcome == Outcome.NOT_AVAILABLE:
        raise ApiError(
            403,
            decision.reason or "not_available",
            decision.message or _("You do not have permission to do this."),
            **decision_body(decision),
        )


def member_exists_q(user) -> Exists:
    """Annotation helper: does ``user`` hold an active membership of the outer space?"""
    return Exists(
        SpaceMembership.objects.filter(
            space=OuterRef("pk"), user_id=getattr(user, "pk", None), state=MembershipState.ACTIVE
        )
    )
