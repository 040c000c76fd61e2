"""Comments (one level of threading), reactions and shares."""

from __future__ import annotations

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _

from apiary.community import access, markdown
from apiary.community.models import (
    Comment,
    CommentState,
    Post,
    PostState,
    PostType,
    Reaction,
    ReactionKind,
    Share,
    ShareKind,
    Space,
)
from apiary.community.services._common import (
    activity_record,
    deny,
    digest,
    invalid,
    new_token,
    rate_check,
    require,
)

MAX_COMMENT = 20_000


@transaction.atomic
def comment_create(
    *, author, post: Post, body: str, parent: Comment | None = None, session_key: str = ""
) -> Comment:
    require(access.can_comment(user=author, post=post))
    body = (body or "").strip()
    if not body:
        invalid("body", _("Write something first."))
    if len(body) > MAX_COMMENT:
        invalid("body", _("At most %(n)s characters.") % {"n": MAX_COMMENT})
    if parent is not None:
        if parent.post_id != post.pk:
            invalid("parent", _("Reply to a comment of this post."))
        if parent.state != CommentState.PUBLISHED:
            invalid("parent", _("This comment cannot take replies."))
        if parent.parent_id:  # one level: replies to a reply join the same thread
            parent = parent.parent
    rate_check(user=author, action="comment")
    # apiary.moderation: posting limits; spam is held (pending, not counted until approved)
    from apiary.moderation import services as moderation

    hold = moderation.comment_screen(author=author, post=post, body=body)
    rendered = markdown.render(body)
    comment = Comment.objects.create(
        post=post,
        author=author,
        parent=parent,
        body=body,
        body_html=rendered.html,
        state=CommentState.PENDING if hold else CommentState.PUBLISHED,
    )
    if hold:
        moderation.hold_open(hold=hold, comment=comment)
    now = timezone.now()
    Post.objects.filter(pk=post.pk).update(
        comments_count=F("comments_count") + (0 if hold else 1), last_activity_at=now
    )
    Space.objects.filter(pk=post.space_id).update(last_activity_at=now)
    from apiary.community.services.social import follow_add, new_comment_fanout

    follow_add(follower=author, post=post, quiet=True)
    new_comment_fanout(comment=comment, mentions=rendered.mentions)
    activity_record(
        kind="comment.create",
        user=author,
        session_key=session_key,
        space_id=post.space_id,
        post_id=post.pk,
        comment_id=comment.pk,
        data={"reply": parent is not None, "answer": post.type == PostType.QUESTION},
    )
    return comment


def _require_comment_edit(actor, comment: Comment) -> None:
    require(access.comment_decision(user=actor, comment=comment))
    if not access.can_edit_comment(user=actor, comment=comment):
        deny(_("You cannot edit this comment."), space=comment.post.space)


def comment_update(*, actor, comment: Comment, body: str) -> Comment:
    _require_comment_edit(actor, comment)
    body = (body or "").strip()
    if not body:
        invalid("body", _("Write something first."))
    if len(body) > MAX_COMMENT:
        invalid("body", _("At most %(n)s characters.") % {"n": MAX_COMMENT})
    comment.body = body
    comment.body_html = markdown.render(body).html
    comment.edited_at = timezone.now()
    comment.save(update_fields=["body", "body_html", "edited_at"])
    activity_record(
        kind="comment.edit",
        user=actor,
        space_id=comment.post.space_id,
        post_id=comment.post_id,
        comment_id=comment.pk,
    )
    return comment


@transaction.atomic
def comment_delete(*, actor, comment: Comment) -> Comment:
    _require_comment_edit(actor, comment)
    if comment.state == CommentState.PUBLISHED:
        Post.objects.filter(pk=comment.post_id).update(comments_count=F("comments_count") - 1)
    comment.state = CommentState.REMOVED
    comment.save(update_fields=["state"])
    post = comment.post
    if post.accepted_comment_id == comment.pk:
        Post.objects.filter(pk=post.pk).update(accepted_comment=None)
    activity_record(
        kind="comment.delete",
        user=actor,
        space_id=post.space_id,
        post_id=post.pk,
        comment_id=comment.pk,
    )
    return comment


def _reaction_target(post, comment) -> tuple[Post, dict]:
    if (post is None) == (comment is None):
        invalid("target", _("React to a post or a comment."))
    if comment is not None:
        return comment.post, {"comment": comment}
    return post, {"post": post}


@transaction.atomic
def reaction_add(*, user, kind: str, post: Post | None = None, comment: Comment | None = None):
    """Idempotent: one reaction of each kind per member per target."""
    if kind not in ReactionKind.values:
        invalid("kind", _("Unknown reaction."))
    target_post, target = _reaction_target(post, comment)
    require(access.can_interact(user=user, post=target_post))
    if comment is not None:
        require(access.comment_decision(user=user, comment=comment))
        if comment.state != CommentState.PUBLISHED:
            invalid("comment", _("This comment is not published."))
    existing = Reaction.objects.filter(user=user, kind=kind, **target).first()
    if existing:
        return existing
    rate_check(user=user, action="vote")
    try:
        with transaction.atomic():
            reaction = Reaction.objects.create(user=user, kind=kind, **target)
    except IntegrityError:
        return Reaction.objects.get(user=user, kind=kind, **target)
    model = Comment if comment is not None else Post
    model.objects.filter(pk=(comment or post).pk).update(reactions_count=F("reactions_count") + 1)
    activity_record(
        kind="reaction",
        user=user,
        space_id=target_post.space_id,
        post_id=target_post.pk,
        comment_id=getattr(comment, "pk", None),
        data={"kind": kind},
    )
    return reaction


@transaction.atomic
def reaction_remove(*, user, kind: str, post: Post | None = None, comment=None) -> bool:
    target_post, target = _reaction_target(post, comment)
    require(access.post_decision(user=user, post=target_post))
    deleted, _detail = Reaction.objects.filter(user=user, kind=kind, **target).delete()
    if deleted:
        model = Comment if comment is not None else Post
        model.objects.filter(pk=(comment or post).pk).update(
            reactions_count=F("reactions_count") - 1
        )
        activity_record(
            kind="reaction.remove",
            user=user,
            space_id=target_post.space_id,
            post_id=target_post.pk,
            comment_id=getattr(comment, "pk", None),
            data={"kind": kind},
        )
    return bool(deleted)


@transaction.atomic
def share_internal(*, user, post: Post, target_space: Space, note: str = "") -> Share:
    """Reshare into another space the user may post in. The reshare is a new post that points
    at the original; readers of the target space see the original only if they may read it."""
    require(access.can_interact(user=user, post=post))
    if target_space.pk == post.space_id:
        invalid("target_space", _("Choose another space."))
    from apiary.community.services.posts import post_create

    reshare = post_create(
        author=user,
        space=target_space,
        type=PostType.DISCUSSION,
        title=post.title
        if access.post_decision(user=None, post=post).allowed
        else _("Shared post"),
        body=note,
        reshare_of=post,
    )
    share = Share.objects.create(post=post, user=user, kind=ShareKind.INTERNAL, target_post=reshare)
    Post.objects.filter(pk=post.pk).update(shares_count=F("shares_count") + 1)
    activity_record(
        kind="share",
        user=user,
        space_id=post.space_id,
        post_id=post.pk,
        data={"kind": "internal", "to_space": target_space.pk},
    )
    return share


def share_external(*, user, post: Post) -> tuple[Share, str]:
    """An external share link with a token (counted when opened). It never grants access: the
    visitor still goes through post_for_view."""
    require(access.can_interact(user=user, post=post))
    rate_check(user=user, action="share")
    raw, prefix, token_digest = new_token("shr")
    share = Share.objects.create(
        post=post, user=user, kind=ShareKind.EXTERNAL, prefix=prefix, digest=token_digest
    )
    Post.objects.filter(pk=post.pk).update(shares_count=F("shares_count") + 1)
    activity_record(
        kind="share", user=user, space_id=post.space_id, post_id=post.pk, data={"kind": "external"}
    )
    return share, raw


def share_link_open(*, token: str, user=None, session_key: str = "") -> Post | None:
    """Count an opened share link and return its post (the caller then calls post_for_view)."""
    share = (
        Share.objects.select_related("post")
        .filter(kind=ShareKind.EXTERNAL, digest=digest((token or "").strip()))
        .first()
    )
    if share is None or share.post.state != PostState.PUBLISHED:
        return None
    Share.objects.filter(pk=share.pk).update(opens_count=F("opens_count") + 1)
    activity_record(
        kind="share.open",
        user=user,
        session_key=session_key,
        space_id=share.post.space_id,
        post_id=share.post_id,
    )
    return share.post
