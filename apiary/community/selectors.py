"""Community reads. Every function filters through ``access`` (posts_visible, comments_visible,
space_visible_queryset, notifications_visible), so nothing here can hand a page or the API a row
the viewer may not see. List selectors preload what their rows show (no N+1; tests count
queries)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from django.db.models import Count, Exists, OuterRef, Prefetch, Q, QuerySet
from django.http import Http404
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from apiary.community import access
from apiary.community.models import (
    Attachment,
    Comment,
    CommentState,
    ContestEntry,
    ContestVote,
    Follow,
    IdeaStatus,
    IdeaVote,
    MembershipState,
    Notification,
    NotificationKind,
    PollOption,
    PollVote,
    Post,
    PostRevision,
    PostState,
    PostTag,
    PostType,
    Profile,
    Reaction,
    Space,
    SpaceInvitation,
    SpaceMembership,
    Tag,
)

# --- spaces -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class SpaceCard:
    space: Space
    role: str | None
    state: str | None
    can_read: bool
    ways: tuple = ()
    posts_count: int | None = None  # None when the viewer may not read the space
    members_count: int | None = None


def _cards(user, qs: QuerySet) -> list[SpaceCard]:
    cards = []
    for space in qs:
        decision = access.space_read_decision(user=user, space=space)
        found = access.membership_state(user, space)
        readable = decision.allowed
        cards.append(
            SpaceCard(
                space=space,
                role=found[0] if found and found[1] == MembershipState.ACTIVE else None,
                state=found[1] if found else None,
                can_read=readable,
                ways=decision.ways,
                posts_count=space.posts_count if readable else None,
                members_count=space.members_count if readable else None,
            )
        )
    return cards


def space_card(*, user, space: Space) -> SpaceCard:
    return _cards(user, [space])[0]


def space_list(*, user, parent: Space | None = None, include_archived: bool = False):
    """Top-level spaces (or the children of ``parent``) whose existence the viewer may know."""
    qs = access.space_visible_queryset(user).select_related("parent")
    qs = qs.filter(parent=parent) if parent is not None else qs.filter(parent__isnull=True)
    if not include_archived:
        qs = qs.filter(archived_at__isnull=True)
    return _cards(user, qs.order_by("name"))


def space_children(*, user, space: Space) -> list[SpaceCard]:
    return space_list(user=user, parent=space)


def space_contacts(*, space: Space) -> list:
    """Owners to contact about a closed space (its existence is not secret)."""
    return [
        m.user
        for m in SpaceMembership.objects.filter(
            space=space, role="owner", state=MembershipState.ACTIVE
        ).select_related("user")
    ]


# --- posts ------------------------------------------------------------------------------------


def post_list(
    *,
    user,
    space: Space | None = None,
    type: str | None = None,
    tag: str | None = None,
    author=None,
    answered: bool | None = None,
    idea_status: str | None = None,
    state: str | None = PostState.PUBLISHED,
    order: str = "activity",
    pinned_first: bool = True,
    search: str = "",
) -> QuerySet:
    """Posts the viewer may read, newest activity first (pinned first within a space)."""
    qs = Post.objects.all()
    if state:
        qs = qs.filter(state=state)
    if space is not None:
        qs = qs.filter(space=space)
    if type:
        qs = qs.filter(type=type)
    if tag:
        qs = qs.filter(post_tags__tag__slug=tag)
    if author is not None:
        qs = qs.filter(author=author)
    if answered is not None:
        # Through COALESCE, not IS [NOT] NULL: SQLite would otherwise walk the accepted-answer
        # index (900,000 unanswered posts at 1M) and sort them, instead of the space's own
        # (space, type, state, activity) index (benchmarks/community_pages.py: 1.8 s → 20 ms).
        from django.db.models.functions import Coalesce

        qs = qs.alias(_answer=Coalesce("accepted_comment_id", 0))
        qs = qs.filter(_answer__gt=0) if answered else qs.filter(_answer=0)
    if idea_status:
        qs = qs.filter(idea_status=idea_status)
    if search:
        qs = qs.filter(Q(title__icontains=search) | Q(body__icontains=search))
    qs = access.posts_visible(user, qs).select_related("space", "author")
    ordering = {
        "activity": ["-last_activity_at", "-id"],
        "new": ["-published_at", "-id"],
        "top": ["-votes_count", "-reactions_count", "-id"],
        "views": ["-views_count", "-id"],
    }.get(order)
    if ordering is None:
        raise ValueError(order)
    if pinned_first and space is not None:
        from django.db.models import F

        ordering = [F("pinned_at").desc(nulls_last=True), *ordering]
    return qs.order_by(*ordering)


PINNED_MAX = 50  # pinned posts listed first in a space (pinning is for a handful)
WALK_MAX = 40_000  # newest posts walked for a page before the list falls back to one query
WALK_CHUNK = 200  # the first chunk walked (at least three pages' worth), doubling after
_WALK_ORDERS = {"activity": ("-last_activity_at", "-id"), "new": ("-published_at", "-id")}
_WALK_FILTERS = {"user", "type", "tag", "order"}  # nothing else narrows a walked list


def post_list_page(*, offset: int, limit: int, **filters) -> list[Post]:
    """One page of ``post_list(**filters)``, read the way that follows an index:

    - in a space, pinned posts first, read by their own partial index, then the rest by the
      list's own order and index (one query sorted "pinned first" sorts every post of the space
      for each page: the API's list of the biggest space at 1M posts took 0.8 s on PostgreSQL);
    - across spaces, newest first (``_walked_page``);
    - otherwise the one query."""
    space = filters.get("space")
    if space is not None:
        posts = post_list(**filters, pinned_first=False)
        pinned = list(
            posts.filter(pinned_at__isnull=False).order_by("-pinned_at", "-id")[:PINNED_MAX]
        )
        rows = pinned[offset : offset + limit]
        if len(rows) < limit:
            start = max(0, offset - len(pinned))
            rows += list(posts.filter(pinned_at__isnull=True)[start : start + limit - len(rows)])
        return rows
    walkable = {k for k, v in filters.items() if v not in (None, "")} <= _WALK_FILTERS
    if walkable and filters.get("order", "activity") in _WALK_ORDERS:
        rows = _walked_page(filters=filters, offset=offset, limit=limit)
        if rows is not None:
            return rows
    return list(post_list(**filters)[offset : offset + limit])


def _walked_page(*, filters: dict, offset: int, limit: int) -> list[Post] | None:
    """A page of a list across spaces (ordered by activity or publication; maybe a type or a
    tag), read by walking the published posts newest first on the ``(state, order)`` index and
    keeping, chunk by chunk, those the viewer may read. One query
    joining spaces (and a tag) lets the planner start from the spaces and sort every visible
    post: 1.7–2.0 s a page at 1M posts on SQLite (2.8 s for the home page's list, the first
    to be read this way). ``None`` when ``WALK_MAX`` posts were walked
    without filling the page (most of them hidden from the viewer, or a rare filter): the one
    query is then the better plan."""
    from apiary.community.search import in_ids  # search imports this module

    walk = Post.objects.filter(state=PostState.PUBLISHED)
    if filters.get("type"):
        walk = walk.filter(type=filters["type"])
    if filters.get("tag"):
        tag_id = Tag.objects.filter(slug=filters["tag"]).values_list("pk", flat=True).first()
        if tag_id is None:
            return []
        walk = walk.filter(Exists(PostTag.objects.filter(tag_id=tag_id, post=OuterRef("pk"))))
    order = _WALK_ORDERS[filters.get("order") or "activity"]
    walk = walk.order_by(*order).values_list("pk", flat=True)
    visible = post_list(**{**filters, "tag": None}, pinned_first=False)  # same order
    wanted = offset + limit
    found: list[Post] = []
    start, chunk = 0, max(WALK_CHUNK, 3 * wanted)
    while start < WALK_MAX:
        ids = list(walk[start : start + chunk])
        if ids:
            # Only as many as the page still wants (same order as the walk): a chunk's other
            # visible posts would be loaded as models for nothing (~180 of 200 on the home page).
            found += visible.filter(in_ids('"community_post"."id"', ids))[: wanted - len(found)]
        if len(found) >= wanted or len(ids) < chunk:
            return found[offset:wanted]
        start, chunk = start + chunk, 2 * chunk
    return None


class PostPages:
    """``post_list(**filters)`` for ``LookaheadPage``: a slice is ``post_list_page``."""

    def __init__(self, **filters) -> None:
        self.filters = filters

    def __getitem__(self, page: slice) -> list[Post]:
        start = page.start or 0
        return post_list_page(offset=start, limit=page.stop - start, **self.filters)


def recent_posts(*, user, limit: int = 20) -> list[Post]:
    """The newest active posts the viewer may read (the home page's list): the first page of
    the walked list across spaces (``_walked_page``)."""
    return post_list_page(user=user, offset=0, limit=limit)


@dataclass
class PollView:
    options: list
    counts: dict | None
    total: int | None
    my_choices: set
    closed: bool
    results_visible: bool
    multiple: bool


@dataclass
class ContestView:
    entries: list
    counts_visible: bool
    my_vote_entry_id: int | None
    entries_open: bool
    voting_open: bool
    winners: list


@dataclass
class PostDetail:
    post: Post
    tags: list
    attachments: list
    reaction_counts: dict
    my_reactions: set
    my_idea_vote: bool
    poll: PollView | None
    contest: ContestView | None
    reshare_of: Post | None
    can_edit: bool
    can_comment: access.Decision
    can_moderate: bool
    can_accept: bool
    accepted_comment: Comment | None
    extra: dict = field(default_factory=dict)


def poll_view(*, user, post: Post) -> PollView:
    options = list(PollOption.objects.filter(post=post))
    mine = set()
    if access.is_authenticated(user):
        mine = set(
            PollVote.objects.filter(post=post, user=user).values_list("option_id", flat=True)
        )
    visible = access.poll_results_visible(user=user, post=post, has_voted=bool(mine))
    return PollView(
        options=options,
        counts={o.pk: o.votes_count for o in options} if visible else None,
        total=post.votes_count if visible else None,
        my_choices=mine,
        closed=access.poll_is_closed(post),
        results_visible=visible,
        multiple=post.poll_multiple,
    )


def contest_view(*, user, post: Post) -> ContestView:
    now = timezone.now()
    moderator = access.can_moderate(user=user, space=post.space_id)
    entries_qs = ContestEntry.objects.filter(post=post).select_related("author", "image")
    if not moderator:
        entries_qs = entries_qs.filter(removed_at__isnull=True)
    entries = list(entries_qs)
    my_vote = None
    if access.is_authenticated(user):
        my_vote = (
            ContestVote.objects.filter(post=post, user=user)
            .values_list("entry_id", flat=True)
            .first()
        )
    counts_visible = access.contest_votes_visible(user=user, post=post)
    if not counts_visible:
        for entry in entries:
            entry.votes_count = None  # never shown while voting runs
    voting_open = (
        post.contest_voting_from is not None
        and post.contest_voting_from <= now < post.contest_voting_until
        and post.contest_decided_at is None
    )
    return ContestView(
        entries=entries,
        counts_visible=counts_visible,
        my_vote_entry_id=my_vote,
        entries_open=post.contest_entries_until is None or post.contest_entries_until > now,
        voting_open=voting_open,
        winners=sorted((e for e in entries if e.winner_rank), key=lambda e: e.winner_rank),
    )


def post_detail(*, user, post: Post) -> PostDetail:
    """Everything a post page shows besides comments. ``post`` must come from post_for_view."""
    tags = list(Tag.objects.filter(post_tags__post=post).order_by("slug"))
    attachments = list(
        Attachment.objects.filter(post=post, superseded_at__isnull=True).order_by("created_at")
    )
    counts = dict(
        Reaction.objects.filter(post=post)
        .values("kind")
        .annotate(n=Count("id"))
        .values_list("kind", "n")
    )
    mine = set()
    my_idea_vote = False
    if access.is_authenticated(user):
        mine = set(Reaction.objects.filter(post=post, user=user).values_list("kind", flat=True))
        if post.type == PostType.IDEA:
            my_idea_vote = IdeaVote.objects.filter(post=post, user=user).exists()
    reshare = None
    if post.reshare_of_id:
        original = (
            Post.objects.select_related("space", "author").filter(pk=post.reshare_of_id).first()
        )
        if original is not None and access.post_decision(user=user, post=original).allowed:
            reshare = original
    accepted = None
    if post.accepted_comment_id:
        accepted = (
            access.comments_visible(user, Comment.objects.filter(pk=post.accepted_comment_id))
            .select_related("author")
            .first()
        )
    moderator = access.can_moderate(user=user, space=post.space_id)
    is_author = access.is_authenticated(user) and post.author_id == user.pk
    return PostDetail(
        post=post,
        tags=tags,
        attachments=attachments,
        reaction_counts=counts,
        my_reactions=mine,
        my_idea_vote=my_idea_vote,
        poll=poll_view(user=user, post=post) if post.type == PostType.POLL else None,
        contest=contest_view(user=user, post=post) if post.type == PostType.CONTEST else None,
        reshare_of=reshare,
        can_edit=access.can_edit_post(user=user, post=post),
        can_comment=access.can_comment(user=user, post=post),
        can_moderate=moderator,
        can_accept=post.type == PostType.QUESTION and (is_author or moderator),
        accepted_comment=accepted,
    )


def comment_list(*, user, post: Post) -> list[Comment]:
    """Top-level comments of a post with their visible replies (``.visible_replies``) and the
    viewer's reactions (``.my_reactions``); three queries whatever the thread's size."""
    visible = access.comments_visible(user, Comment.objects.filter(post=post)).select_related(
        "author"
    )
    rows = list(visible.order_by("created_at", "id"))
    mine: dict[int, set] = defaultdict(set)
    if access.is_authenticated(user) and rows:
        for cid, kind in Reaction.objects.filter(
            user=user, comment_id__in=[c.pk for c in rows]
        ).values_list("comment_id", "kind"):
            mine[cid].add(kind)
    top, replies = [], defaultdict(list)
    for c in rows:
        c.my_reactions = mine.get(c.pk, set())
        if c.parent_id:
            replies[c.parent_id].append(c)
        else:
            top.append(c)
    for c in top:
        c.visible_replies = replies.get(c.pk, [])
    return top


COMMENTS_PER_PAGE = 20


def _with_replies_and_reactions(user, post: Post, top: list[Comment]) -> list[Comment]:
    """Attach ``.visible_replies`` and ``.my_reactions`` to a page of top-level comments: two
    more queries (three for a logged-in viewer), whatever the page holds."""
    replies: dict[int, list[Comment]] = defaultdict(list)
    if top:
        rows = (
            access.comments_visible(
                user, Comment.objects.filter(post=post, parent_id__in=[c.pk for c in top])
            )
            .select_related("author")
            .order_by("created_at", "id")
        )
        for reply in rows:
            replies[reply.parent_id].append(reply)
    everyone = [*top, *(r for rs in replies.values() for r in rs)]
    mine: dict[int, set] = defaultdict(set)
    if access.is_authenticated(user) and everyone:
        for cid, kind in Reaction.objects.filter(
            user=user, comment_id__in=[c.pk for c in everyone]
        ).values_list("comment_id", "kind"):
            mine[cid].add(kind)
    for c in everyone:
        c.my_reactions = mine.get(c.pk, set())
    for c in top:
        c.visible_replies = replies.get(c.pk, [])
    return top


def comment_page(
    *, user, post: Post, page=1, comment_id: int | None = None, per_page: int = COMMENTS_PER_PAGE
):
    """One page of a post's top-level comments, oldest first, each with its visible replies
    (``.visible_replies``) and the viewer's reactions (``.my_reactions``): a Django ``Page``
    (``.object_list``, ``.number``, ``.paginator.num_pages``). A topic with thousands of
    replies costs the same as one with fifty: a count, the page, its replies.

    ``page`` is a number or ``"last"``; ``comment_id`` (a link to one comment, e.g. from a
    notification) picks the page that shows it, when the viewer may see it."""
    from django.core.paginator import Paginator

    top = access.comments_visible(user, Comment.objects.filter(post=post, parent__isnull=True))
    paginator = Paginator(top.select_related("author").order_by("created_at", "id"), per_page)
    if comment_id is not None:
        target = (
            access.comments_visible(user, Comment.objects.filter(post=post, pk=comment_id))
            .values_list("parent_id", "pk", "created_at")
            .first()
        )
        if target is not None:
            thread = target[0] or target[1]
            anchor = top.filter(pk=thread).values_list("created_at", "pk").first()
            if anchor is not None:
                before = top.filter(
                    Q(created_at__lt=anchor[0]) | Q(created_at=anchor[0], pk__lt=anchor[1])
                ).count()
                page = before // per_page + 1
    if page == "last":
        page = paginator.num_pages
    result = paginator.get_page(page)
    result.object_list = _with_replies_and_reactions(user, post, list(result.object_list))
    return result


def revision_list(*, user, post: Post) -> QuerySet:
    """Edit history: the author, moderators and managers only."""
    if not access.can_edit_post(user=user, post=post) and not access.can_moderate(
        user=user, space=post.space_id
    ):
        raise access.NotAvailable(
            access.forbidden(_("Only the author and moderators see the history."), space=post.space)
        )
    return PostRevision.objects.filter(post=post).select_related("editor").order_by("-number")


def roadmap(*, user, space: Space | None = None) -> dict[str, list[Post]]:
    """Ideas the viewer may see, grouped by status (new ideas are not on the roadmap)."""
    qs = Post.objects.filter(type=PostType.IDEA, state=PostState.PUBLISHED).exclude(
        idea_status=IdeaStatus.NEW
    )
    if space is not None:
        qs = qs.filter(space=space)
    qs = access.posts_visible(user, qs).select_related("space", "author")
    grouped: dict[str, list[Post]] = {s: [] for s in IdeaStatus.values if s != IdeaStatus.NEW}
    for post in qs.order_by("-votes_count", "-id")[:500]:
        grouped[post.idea_status].append(post)
    return grouped


# --- tags, profiles, follows ------------------------------------------------------------------


def tag_get(*, slug: str) -> Tag:
    tag = Tag.objects.filter(slug=slug).first()
    if tag is None:
        raise Http404
    return tag


def tag_posts(*, user, slug: str) -> tuple[Tag, QuerySet]:
    """The tag and its posts the viewer may read, newest activity first (a queryset: count it;
    read pages with ``post_list_page(user=…, tag=…)`` or ``PostPages``, which walk the posts by
    activity: joining a tag on 200,000 posts and sorting them took ~1 s a page)."""
    tag = tag_get(slug=slug)
    return tag, post_list(user=user, tag=tag.slug)


def tag_cloud(*, user, limit: int = 50) -> list[tuple[Tag, int]]:
    """Tags with the number of posts *the viewer may see* (closed content is not counted)."""
    visible = access.posts_visible(user, Post.objects.filter(state=PostState.PUBLISHED))
    rows = (
        Tag.objects.filter(post_tags__post__in=visible)
        .annotate(n=Count("post_tags"))
        .order_by("-n", "slug")[:limit]
    )
    return [(t, t.n) for t in rows]


def profile_get(*, handle: str) -> Profile:
    profile = Profile.objects.select_related("user").filter(handle=handle.lower()).first()
    if profile is None or not profile.user.is_active:
        raise Http404
    return profile


def profile_feed(*, viewer, user) -> QuerySet:
    return (
        access.profile_posts_visible(viewer=viewer, author=user)
        .select_related("space", "author")
        .order_by("-published_at", "-id")
    )


def profile_comments(*, viewer, user) -> QuerySet:
    return (
        access.profile_comments_visible(viewer=viewer, author=user)
        .select_related("post", "post__space")
        .order_by("-created_at", "-id")
    )


def follow_list(*, user) -> QuerySet:
    qs = Follow.objects.filter(follower=user).select_related("user", "space", "tag", "post")
    # a space or post the user no longer may see is not listed
    return qs.filter(
        (Q(space__isnull=True) | Q(space__in=access.space_visible_queryset(user)))
        & (Q(post__isnull=True) | Q(post__in=access.posts_visible(user)))
    )


def is_following(*, user, user_target=None, space=None, tag=None, post=None) -> bool:
    if not access.is_authenticated(user):
        return False
    target = {
        k: v
        for k, v in {"user": user_target, "space": space, "tag": tag, "post": post}.items()
        if v is not None
    }
    return Follow.objects.filter(follower=user, **target).exists()


# --- notifications ----------------------------------------------------------------------------


def notification_list(*, user, unread_only: bool = False) -> QuerySet:
    qs = access.notifications_visible(user)
    if unread_only:
        qs = qs.filter(read_at__isnull=True)
    return qs.select_related("actor", "space", "post", "comment").order_by("-created_at", "-id")


def notification_unread_count(*, user) -> int:
    return access.notifications_visible(user).filter(read_at__isnull=True).count()


def notifications_for_email(*, user) -> list[Notification]:
    """Unread, not yet e-mailed, and still visible (access re-checked at sending time)."""
    qs = notification_list(user=user, unread_only=True).filter(emailed_at__isnull=True)
    return [n for n in qs if access.notification_visible(user=user, notification=n)]


def _url(name: str, *args) -> str:
    try:
        return reverse(f"community:{name}", args=args)
    except NoReverseMatch:
        return ""


def comment_url(post_id: int, comment_id: int) -> str:
    """A reply's address: the page of its thread that shows it (long topics are paged)."""
    return f"{_url('post', post_id)}?comment={comment_id}#comment-{comment_id}"


def notification_render(notification: Notification) -> dict:
    """Wording and link, built now from the referenced objects. Call only on notifications that
    came through notification_list (already access-filtered)."""
    actor = notification.actor.name if notification.actor_id else _("Someone")
    post = notification.post
    title = post.title if post is not None else ""
    space = notification.space.name if notification.space_id else ""
    texts = {
        NotificationKind.REPLY: _("%(actor)s commented on “%(title)s”"),
        NotificationKind.MENTION: _("%(actor)s mentioned you in “%(title)s”"),
        NotificationKind.NEW_POST: _("%(actor)s posted “%(title)s” in %(space)s"),
        NotificationKind.ACCEPTED: _("%(actor)s accepted your answer to “%(title)s”"),
        NotificationKind.IDEA_STATUS: _("The idea “%(title)s” is now %(status)s"),
        NotificationKind.MEMBERSHIP: _("You are now a member of %(space)s"),
        NotificationKind.MEMBERSHIP_REQUEST: _("%(actor)s asks to join %(space)s"),
        NotificationKind.CONTEST_WINNER: _("Your entry won in “%(title)s”"),
        # apiary.moderation's notices to authors (plain kinds: no model choices involved)
        "mod_held": _("“%(title)s” waits for a moderator's approval"),
        "mod_hidden": _(
            "“%(title)s” was hidden after members flagged it; a moderator will review it"
        ),
        "mod_approved": _("A moderator approved “%(title)s”"),
        "mod_removed": _("A moderator removed your content in %(space)s"),
        "mod_warned": _("A moderator sent you a warning about your posts in %(space)s"),
        "mod_suspended": _("You are suspended from posting in %(space)s"),
    }
    text = texts.get(notification.kind, "%(title)s") % {
        "actor": actor,
        "title": title,
        "space": space or _("the community"),
        "status": post.get_idea_status_display() if post is not None and post.idea_status else "",
    }
    if post is not None:
        url = _url("post", post.pk)
        if notification.comment_id and url:
            url = comment_url(post.pk, notification.comment_id)
    elif notification.kind == NotificationKind.MEMBERSHIP_REQUEST and notification.space_id:
        url = _url("members", notification.space.slug)
    elif notification.space_id:
        url = _url("space", notification.space.slug)
    else:
        url = ""
    return {
        "id": notification.pk,
        "kind": notification.kind,
        "text": text,
        "url": url,
        "created_at": notification.created_at,
        "read": notification.read_at is not None,
    }


# --- membership administration ----------------------------------------------------------------


def membership_list(*, actor, space: Space, state: str | None = None) -> QuerySet:
    if not access.can_moderate(user=actor, space=space):
        raise access.NotAvailable(
            access.forbidden(_("Only the space's moderators can do this."), space=space)
        )
    qs = SpaceMembership.objects.filter(space=space).select_related("user")
    if state:
        qs = qs.filter(state=state)
    return qs.order_by("state", "role", "user__display_name", "id")


def invitation_list(*, actor, space: Space) -> QuerySet:
    if not access.can_administer_space(user=actor, space=space):
        raise access.NotAvailable(
            access.forbidden(_("Only the space's owners can do this."), space=space)
        )
    return SpaceInvitation.objects.filter(space=space).select_related("created_by")


# --- export -----------------------------------------------------------------------------------


def space_export(*, user, space: Space) -> dict:
    """A JSON-ready export of a space: only the posts and comments the user may read."""
    access.space_for_view(user=user, space_id=space.pk)
    posts = list(
        access.posts_visible(user, Post.objects.filter(space=space, state=PostState.PUBLISHED))
        .select_related("author")
        .prefetch_related(
            Prefetch(
                "comments",
                queryset=access.comments_visible(
                    user, Comment.objects.filter(state=CommentState.PUBLISHED)
                ).select_related("author"),
                to_attr="export_comments",
            )
        )
        .order_by("id")
    )
    return {
        "space": {"slug": space.slug, "name": space.name, "visibility": space.visibility},
        "exported_at": timezone.now().isoformat(),
        "posts": [
            {
                "id": p.pk,
                "type": p.type,
                "title": p.title,
                "body": p.body,
                "author": p.author.name if p.author_id else None,
                "published_at": p.published_at.isoformat() if p.published_at else None,
                "comments": [
                    {
                        "id": c.pk,
                        "author": c.author.name if c.author_id else None,
                        "body": c.body,
                        "created_at": c.created_at.isoformat(),
                    }
                    for c in p.export_comments
                ],
            }
            for p in posts
        ],
    }
