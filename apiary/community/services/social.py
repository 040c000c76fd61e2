"""Follows, notifications (fan-out filtered by access), profiles and @handles, tags, flags and
view records."""

from __future__ import annotations

import re

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.text import slugify
from django.utils.translation import gettext as _

from apiary.community import access
from apiary.community.models import (
    Comment,
    Flag,
    FlagReason,
    Follow,
    Notification,
    NotificationKind,
    Post,
    PostTag,
    Profile,
    Space,
    Tag,
)
from apiary.community.services._common import activity_record, invalid, rate_check, require
from apiary.core.db import counting_write

MAX_TAGS = 8
MAX_MENTIONS = 20  # a post naming more members is not allowed to ping them all
HANDLE_RE = re.compile(r"^[a-z0-9_]{2,40}$")


# --- notifications ----------------------------------------------------------------------------


def notify(
    *,
    kind: str,
    recipient_ids,
    actor=None,
    space: Space | None = None,
    post: Post | None = None,
    comment: Comment | None = None,
) -> int:
    """Store notifications for those recipients who may see the content (never the actor).
    Returns how many were stored."""
    ids = {int(i) for i in recipient_ids if i}
    if actor is not None and getattr(actor, "pk", None):
        ids.discard(actor.pk)
    if not ids:
        return 0
    if post is not None:
        ids = set(access.recipients_who_can_see(user_ids=ids, post=post, comment=comment))
    elif space is not None:
        ids = _space_knowers(ids, space)
    if not ids:
        return 0
    Notification.objects.bulk_create(
        [
            Notification(
                recipient_id=uid,
                kind=kind,
                actor=actor if getattr(actor, "pk", None) else None,
                space=space or (post.space if post is not None else None),
                post=post,
                comment=comment,
            )
            for uid in sorted(ids)
        ]
    )
    return len(ids)


def _space_knowers(ids: set[int], space: Space) -> set[int]:
    """Who may learn that the space exists (membership notifications)."""
    from apiary.accounts.models import User

    return {u.pk for u in User.objects.filter(pk__in=ids) if access.space_exists_for(u, space)}


def _mentioned_ids(mentions: set[str]) -> set[int]:
    handles = sorted(mentions)[:MAX_MENTIONS]
    if not handles:
        return set()
    return set(Profile.objects.filter(handle__in=handles).values_list("user_id", flat=True))


def new_post_fanout(*, post: Post, mentions: set[str]) -> None:
    """A post was published: tell followers of its space, author and tags, and those named."""
    tag_ids = list(post.post_tags.values_list("tag_id", flat=True))
    follower_ids = set(
        Follow.objects.filter(space_id=post.space_id).values_list("follower_id", flat=True)
    )
    if post.author_id:
        follower_ids |= set(
            Follow.objects.filter(user_id=post.author_id).values_list("follower_id", flat=True)
        )
    if tag_ids:
        follower_ids |= set(
            Follow.objects.filter(tag_id__in=tag_ids).values_list("follower_id", flat=True)
        )
    mentioned = _mentioned_ids(mentions)
    notify(kind=NotificationKind.MENTION, recipient_ids=mentioned, actor=post.author, post=post)
    notify(
        kind=NotificationKind.NEW_POST,
        recipient_ids=follower_ids - mentioned,
        actor=post.author,
        post=post,
    )


def new_comment_fanout(*, comment: Comment, mentions: set[str]) -> None:
    post = comment.post
    follower_ids = set(Follow.objects.filter(post=post).values_list("follower_id", flat=True))
    if comment.parent_id and comment.parent.author_id:
        follower_ids.add(comment.parent.author_id)
    mentioned = _mentioned_ids(mentions)
    notify(
        kind=NotificationKind.MENTION,
        recipient_ids=mentioned,
        actor=comment.author,
        post=post,
        comment=comment,
    )
    notify(
        kind=NotificationKind.REPLY,
        recipient_ids=follower_ids - mentioned,
        actor=comment.author,
        post=post,
        comment=comment,
    )


def notifications_mark_read(*, user, ids=None) -> int:
    qs = Notification.objects.filter(recipient=user, read_at__isnull=True)
    if ids is not None:
        qs = qs.filter(pk__in=[int(i) for i in ids])
    return qs.update(read_at=timezone.now())


# --- follows ----------------------------------------------------------------------------------


def _follow_target(user, space, tag, post) -> dict:
    given = {k: v for k, v in {"user": user, "space": space, "tag": tag, "post": post}.items() if v}
    if len(given) != 1:
        invalid("target", _("Follow exactly one person, space, tag or post."))
    return given


def follow_add(*, follower, user=None, space=None, tag=None, post=None, quiet=False) -> Follow:
    """Follow one target. You can only follow what you can see (a secret space is 404)."""
    target = _follow_target(user, space, tag, post)
    if not access.is_authenticated(follower):
        invalid("follower", _("Log in to follow."))
    if space is not None:
        require(access.space_read_decision(user=follower, space=space))
    if post is not None:
        require(access.post_decision(user=follower, post=post))
    if user is not None and user.pk == follower.pk:
        invalid("user", _("You cannot follow yourself."))
    existing = Follow.objects.filter(follower=follower, **target).first()
    if existing:
        return existing
    try:
        with transaction.atomic():
            follow = Follow.objects.create(follower=follower, **target)
    except IntegrityError:
        return Follow.objects.get(follower=follower, **target)
    if not quiet:
        activity_record(
            kind="follow",
            user=follower,
            space_id=getattr(space, "pk", None),
            post_id=getattr(post, "pk", None),
            data={"target": next(iter(target))},
        )
    return follow


def follow_remove(*, follower, user=None, space=None, tag=None, post=None) -> bool:
    target = _follow_target(user, space, tag, post)
    deleted, _detail = Follow.objects.filter(follower=follower, **target).delete()
    return bool(deleted)


# --- profiles ---------------------------------------------------------------------------------


def _handle_base(user) -> str:
    base = slugify(user.display_name or "", allow_unicode=False).replace("-", "_")
    if len(base) < 2:
        base = slugify(user.email.split("@", 1)[0]).replace("-", "_")
    return (base or "member")[:32]


def profile_ensure(*, user) -> Profile:
    """The member's profile, created on first need with a unique handle from their name."""
    found = Profile.objects.filter(user=user).first()
    if found:
        return found
    base = _handle_base(user)
    handle, n = base, 1
    while Profile.objects.filter(handle=handle).exists():
        n += 1
        handle = f"{base}{n}"
    try:
        with transaction.atomic():
            return Profile.objects.create(user=user, handle=handle)
    except IntegrityError:
        return Profile.objects.get(user=user)


def profile_update(*, user, handle: str | None = None, bio: str | None = None) -> Profile:
    profile = profile_ensure(user=user)
    if handle is not None:
        handle = handle.strip().lstrip("@").lower()
        if not HANDLE_RE.match(handle):
            invalid("handle", _("2–40 lower-case letters, digits or underscores."))
        if Profile.objects.filter(handle=handle).exclude(pk=profile.pk).exists():
            invalid("handle", _("This handle is taken."))
        profile.handle = handle
    if bio is not None:
        if len(bio) > 2000:
            invalid("bio", _("At most 2000 characters."))
        profile.bio = bio
    profile.save()
    return profile


# --- tags -------------------------------------------------------------------------------------


def tag_normalise(raw: str) -> tuple[str, str]:
    name = re.sub(r"\s+", " ", (raw or "").strip().lstrip("#"))[:60]
    slug = slugify(name, allow_unicode=True)[:60]
    return slug, name


def post_tags_set(*, actor, post: Post, tags: list[str]) -> list[Tag]:
    if not (
        access.can_edit_post(user=actor, post=post)
        or (access.is_authenticated(actor) and post.author_id == actor.pk)
    ):
        from apiary.community.services._common import deny

        deny(_("You cannot edit this post."), space=post.space)
    pairs = {}
    for raw in tags:
        slug, name = tag_normalise(str(raw))
        if slug:
            pairs.setdefault(slug, name)
    if len(pairs) > MAX_TAGS:
        invalid("tags", _("At most %(n)s tags.") % {"n": MAX_TAGS})
    existing = {t.slug: t for t in Tag.objects.filter(slug__in=list(pairs))}
    missing = [Tag(slug=s, name=n) for s, n in pairs.items() if s not in existing]
    if missing:
        Tag.objects.bulk_create(missing, ignore_conflicts=True)
        existing = {t.slug: t for t in Tag.objects.filter(slug__in=list(pairs))}
    PostTag.objects.filter(post=post).exclude(tag__slug__in=list(pairs)).delete()
    PostTag.objects.bulk_create(
        [PostTag(post=post, tag=t) for t in existing.values()], ignore_conflicts=True
    )
    return sorted(existing.values(), key=lambda t: t.slug)


# --- flags ------------------------------------------------------------------------------------


def flag_create(*, user, reason: str, post: Post | None = None, comment: Comment | None = None,
                note: str = "") -> Flag:  # fmt: skip
    """Record a member's flag (one per member per target); apiary.moderation queues it."""
    if (post is None) == (comment is None):
        invalid("target", _("Flag a post or a comment."))
    if reason not in FlagReason.values:
        invalid("reason", _("Unknown reason."))
    target_post = post if post is not None else comment.post
    require(access.can_interact(user=user, post=target_post))
    if comment is not None:
        require(access.comment_decision(user=user, comment=comment))
    existing = Flag.objects.filter(user=user, post=post, comment=comment).first()
    if existing:
        return existing  # flag stuffing: a second flag by the same member counts nothing
    rate_check(user=user, action="flag")
    try:
        with transaction.atomic():
            flag = Flag.objects.create(
                user=user, post=post, comment=comment, reason=reason, note=(note or "")[:500]
            )
    except IntegrityError:
        return Flag.objects.get(user=user, post=post, comment=comment)
    activity_record(
        kind="flag",
        user=user,
        space_id=target_post.space_id,
        post_id=target_post.pk,
        comment_id=getattr(comment, "pk", None),
        data={"reason": reason},
    )
    from apiary.moderation import services as moderation  # the queue, weighing, hiding

    moderation.flag_received(flag=flag)
    return flag


# --- views ------------------------------------------------------------------------------------


def post_view_record(*, user, post: Post, session_key: str = "") -> None:
    """Call after post_for_view allowed the page: one counter bump and one event, in one
    relaxed commit (``core.db.counting_write``)."""
    with counting_write():
        Post.objects.filter(pk=post.pk).update(views_count=F("views_count") + 1)
        activity_record(
            kind="post.view",
            user=user,
            session_key=session_key,
            space_id=post.space_id,
            post_id=post.pk,
        )


def space_view_record(*, user, space: Space, session_key: str = "") -> None:
    activity_record(kind="space.view", user=user, session_key=session_key, space_id=space.pk)
