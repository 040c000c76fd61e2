"""Moderation writes: screening new content, counting flags, the queue's decisions, sanctions and
settings. Every decision leaves a :class:`ModerationAction` row (the audit trail).

How it hooks into the community (each a one-line, lazily imported call in community services, so
there is exactly one path per write):

- ``post_create`` / ``post_publish`` call :func:`post_screen` before saving (rate limits raise
  ``RateLimited``; a new member's first post and spam come back as a :class:`Hold`, saved as
  ``pending``) and :func:`hold_open` after saving;
- ``comment_create`` calls :func:`comment_screen` / :func:`hold_open` the same way;
- ``flag_create`` calls :func:`flag_received`, which weighs the open flags with the flaggers'
  trust (``recognition``) and hides the content at the threshold;
- ``community.access`` asks :func:`selectors.suspension_message` before any write (post, comment,
  reaction, vote, flag, share, edit).

Notifications to the author are stored directly (``_notice``), not through
``community.services.notify``: that one announces only published content to readers, while these
tell the author about their own hidden or held content, which they can still open.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _

from apiary.community import access as community_access
from apiary.community import services as community_services
from apiary.community.models import (
    Comment,
    CommentState,
    Flag,
    FlagState,
    Notification,
    Post,
    PostState,
    Space,
)
from apiary.community.services import RateLimited
from apiary.community.services._common import invalid
from apiary.core.ratelimit import rate_limit_count, rate_limit_hit
from apiary.moderation import access, selectors, spam, trust
from apiary.moderation.models import (
    ActionKind,
    HiddenBy,
    ItemReason,
    ItemState,
    MemberSanction,
    ModerationAction,
    ModerationItem,
    ModerationSettings,
    SanctionKind,
)

REPEAT_WINDOW = timedelta(minutes=10)
MAX_SUSPEND_DAYS = 3650
NOTE_MAX = 1000


class NoticeKind:
    """Notification kinds of this app (plain strings on ``community.Notification.kind``; the
    wording lives in ``community.selectors.notification_render``)."""

    HIDDEN = "mod_hidden"
    HELD = "mod_held"
    APPROVED = "mod_approved"
    REMOVED = "mod_removed"
    WARNED = "mod_warned"
    SUSPENDED = "mod_suspended"


@dataclass(frozen=True)
class Hold:
    reason: str  # ItemReason
    signals: list = field(default_factory=list)


def _exempt(user, space) -> bool:
    """Staff managers and the space's moderators and owners are not screened or limited."""
    return community_access.can_moderate(user=user, space=space)


# --- screening new content --------------------------------------------------------------------


def _rate(user, *, kind: str, per_minute: int, per_hour: int) -> str:
    """Count one post/comment. Over the per-minute limit, or twice the per-hour one: 429. Over
    the per-hour limit: accepted but held (reason ``rate``), so an unusually busy member loses
    nothing and a flood lands in the queue instead of the space. Returns "" or ``"rate"``."""
    key = str(user.pk)
    if rate_limit_hit(
        bucket=f"moderation.{kind}.minute", key=key, limit=per_minute, window_seconds=60
    ):
        if kind == "post":
            msg = _("You can publish at most %(n)s posts a minute. Please wait a minute.")
        else:
            msg = _("You can write at most %(n)s replies a minute. Please wait a minute.")
        raise RateLimited(msg % {"n": per_minute})
    hits = rate_limit_count(
        bucket=f"moderation.{kind}.hour", key=key, limit=2 * per_hour, window_seconds=3600
    )
    if hits < 0:
        if kind == "post":
            msg = _("You can publish at most %(n)s posts an hour. Please try again later.")
        else:
            msg = _("You can write at most %(n)s replies an hour. Please try again later.")
        raise RateLimited(msg % {"n": per_hour})
    return ItemReason.RATE if hits > per_hour else ""


def _recent_texts(author) -> list[str]:
    since = timezone.now() - REPEAT_WINDOW
    texts = []
    for title, body in Post.objects.filter(author=author, created_at__gte=since).values_list(
        "title", "body"
    )[:50]:
        texts.extend([body, f"{title}\n{body}"])
    texts.extend(
        Comment.objects.filter(author=author, created_at__gte=since).values_list("body", flat=True)[
            :50
        ]
    )
    return texts


def _spam_verdict(author, text: str, level: int) -> spam.Verdict:
    joined = getattr(author, "date_joined", None)
    age = (timezone.now() - joined).total_seconds() / 3600 if joined else None
    return spam.assess(
        text, recent_texts=_recent_texts(author), account_age_hours=age, trust_level=level
    )


def post_screen(*, author, space: Space, title: str, body: str, publish: bool = True):
    """Before a post is saved: rate limits (raise), then hold or not. Returns a :class:`Hold`
    (save the post as pending, then call :func:`hold_open`) or None (publish as usual)."""
    if _exempt(author, space):
        return None
    conf = selectors.moderation_settings(space=space)
    rate = _rate(
        author, kind="post", per_minute=conf.posts_per_minute, per_hour=conf.posts_per_hour
    )
    if not publish:
        return None  # drafts are screened when published
    level = trust.trust_level(user=author)
    if conf.spam_check:
        verdict = _spam_verdict(author, f"{title}\n{body}", level)
        if verdict.is_spam:
            return Hold(ItemReason.SPAM, verdict.signals)
    if rate:
        return Hold(ItemReason.RATE, ["posts_per_hour"])
    if conf.first_post_hold and level == 0 and conf.first_post_count > 0:
        approved = Post.objects.filter(author=author, state=PostState.PUBLISHED).count()
        if approved < conf.first_post_count:
            return Hold(ItemReason.FIRST_POST, [])
    return None


def comment_screen(*, author, post: Post, body: str):
    """Before a comment is saved: rate limits (raise) and spam. Replies are not held as "first
    posts" (the topic is), so a newcomer can answer a question at once."""
    space = post.space
    if _exempt(author, space):
        return None
    conf = selectors.moderation_settings(space=space)
    rate = _rate(
        author,
        kind="comment",
        per_minute=conf.comments_per_minute,
        per_hour=conf.comments_per_hour,
    )
    if conf.spam_check:
        verdict = _spam_verdict(author, body, trust.trust_level(user=author))
        if verdict.is_spam:
            return Hold(ItemReason.SPAM, verdict.signals)
    if rate:
        return Hold(ItemReason.RATE, ["comments_per_hour"])
    return None


def hold_open(*, hold: Hold, post: Post | None = None, comment: Comment | None = None):
    """The content was saved as pending: put it in the queue, record it, tell the author."""
    target_post = post if post is not None else comment.post
    author_id = (post or comment).author_id
    item = ModerationItem.objects.create(
        space_id=target_post.space_id,
        post=post if comment is None else None,
        comment=comment,
        author_id=author_id,
        reason=hold.reason,
        hidden_by=HiddenBy.SYSTEM,
        signals=list(hold.signals),
    )
    _audit(ActionKind.HOLD, actor=None, item=item, data={"reason": hold.reason})
    _notice(NoticeKind.HELD, item=item)
    return item


# --- flags ------------------------------------------------------------------------------------


def _target_of(flag: Flag) -> tuple[Post, Comment | None]:
    if flag.comment_id:
        comment = Comment.objects.select_related("post", "post__space").get(pk=flag.comment_id)
        return comment.post, comment
    return Post.objects.select_related("space").get(pk=flag.post_id), None


def _pending_item(post: Post, comment: Comment | None) -> ModerationItem | None:
    qs = ModerationItem.objects.select_for_update().filter(state=ItemState.PENDING)
    if comment is not None:
        return qs.filter(comment=comment).first()
    return qs.filter(post=post, comment__isnull=True).first()


@transaction.atomic
def flag_received(*, flag: Flag) -> ModerationItem:
    """A new flag: open (or update) the target's queue item; hide the content once the weighted
    open flags reach the threshold, or at once when a moderator or staff member flagged it."""
    post, comment = _target_of(flag)
    space = post.space
    # The row lock serialises concurrent flags on one post, so the weight is summed once per
    # flag and the content is hidden exactly once (SQLite serialises writers anyway).
    Post.objects.select_for_update().filter(pk=post.pk).first()
    item = _pending_item(post, comment)
    if item is None:
        try:
            with transaction.atomic():
                item = ModerationItem.objects.create(
                    space=space,
                    post=None if comment is not None else post,
                    comment=comment,
                    author_id=(comment or post).author_id,
                    reason=ItemReason.FLAGS,
                    opened_at=flag.created_at,
                )
        except IntegrityError:
            item = _pending_item(post, comment)
    flags = list(selectors.item_flags(item).filter(state=FlagState.OPEN).select_related("user"))
    weight = sum(trust.flag_weight(user=f.user, space=space) for f in flags)
    staff_flag = community_access.can_moderate(user=flag.user, space=space)
    item.flags_weight = weight
    item.flags_count = len(flags)
    threshold = selectors.moderation_settings(space=space).flag_threshold
    fields = ["flags_weight", "flags_count"]
    if item.hidden_at is None and (staff_flag or weight >= threshold):
        if _hide(post, comment):
            item.hidden_at = timezone.now()
            item.hidden_by = HiddenBy.STAFF if staff_flag else HiddenBy.COMMUNITY
            fields += ["hidden_at", "hidden_by"]
            _audit(
                ActionKind.HIDE,
                actor=None,
                item=item,
                data={"weight": weight, "threshold": threshold, "by": item.hidden_by},
            )
            _notice(NoticeKind.HIDDEN, item=item)
    item.save(update_fields=fields)
    return item


def _hide(post: Post, comment: Comment | None) -> bool:
    """Published → hidden, keeping the counters right. False if it was not published."""
    now = timezone.now()
    if comment is not None:
        done = Comment.objects.filter(pk=comment.pk, state=CommentState.PUBLISHED).update(
            state=CommentState.HIDDEN
        )
        if done:
            comment.state = CommentState.HIDDEN
            Post.objects.filter(pk=post.pk).update(comments_count=F("comments_count") - 1)
        return bool(done)
    done = Post.objects.filter(pk=post.pk, state=PostState.PUBLISHED).update(
        state=PostState.HIDDEN, updated_at=now
    )
    if done:
        post.state = PostState.HIDDEN
        Space.objects.filter(pk=post.space_id).update(posts_count=F("posts_count") - 1)
    return bool(done)


# --- decisions --------------------------------------------------------------------------------


def _require_item_moderator(actor, item: ModerationItem) -> None:
    if not community_access.can_moderate(user=actor, space=item.space_id):
        raise community_access.NotAvailable(
            community_access.forbidden(_("Only the space's moderators can do this."))
        )


def _require_pending(item: ModerationItem) -> None:
    if item.state != ItemState.PENDING:
        invalid("item", _("This item was already decided."))


def _note(note: str) -> str:
    note = (note or "").strip()
    if len(note) > NOTE_MAX:
        invalid("note", _("At most %(n)s characters.") % {"n": NOTE_MAX})
    return note


def _resolve_flags(item: ModerationItem, *, actor, state: str, from_states=(FlagState.OPEN,)):
    selectors.item_flags(item).filter(state__in=from_states).update(
        state=state, resolved_by=actor, resolved_at=timezone.now()
    )


def _decide(item: ModerationItem, *, actor, state: str, by_community: bool) -> None:
    item.state = state
    item.resolved_at = timezone.now()
    item.resolved_by = actor
    item.handled_by_community = by_community
    item.save(update_fields=["state", "resolved_at", "resolved_by", "handled_by_community"])


def _publish_target(actor, item: ModerationItem) -> None:
    """Make the item's content visible again (approve a hold, restore a hidden or removed one)."""
    if item.comment_id:
        comment = Comment.objects.select_related("post", "post__space").get(pk=item.comment_id)
        if comment.state == CommentState.PUBLISHED:
            return
        was_pending = comment.state == CommentState.PENDING
        Comment.objects.filter(pk=comment.pk).update(state=CommentState.PUBLISHED)
        Post.objects.filter(pk=comment.post_id).update(comments_count=F("comments_count") + 1)
        if was_pending:
            # First appearance: the reply and mention notifications it held back.
            from apiary.community import markdown
            from apiary.community.services.social import new_comment_fanout

            comment.state = CommentState.PUBLISHED
            new_comment_fanout(comment=comment, mentions=markdown.render(comment.body).mentions)
        return
    post = Post.objects.select_related("space").get(pk=item.post_id)
    if post.state != PostState.PUBLISHED:
        community_services.post_moderate(actor=actor, post=post, state=PostState.PUBLISHED)


@transaction.atomic
def item_approve(*, actor, item: ModerationItem, note: str = "", action=ActionKind.APPROVE):
    """The content is fine: publish it (approve a hold, un-hide flagged content); open flags are
    dismissed."""
    _require_item_moderator(actor, item)
    _require_pending(item)
    note = _note(note)
    was_out_of_sight = bool(item.hidden_at) or item.hidden_by == HiddenBy.SYSTEM
    _publish_target(actor, item)
    _resolve_flags(item, actor=actor, state=FlagState.DISMISSED)
    _decide(item, actor=actor, state=ItemState.APPROVED, by_community=False)
    _audit(action, actor=actor, item=item, note=note)
    if was_out_of_sight:
        _notice(NoticeKind.APPROVED, item=item)
    return item


def item_dismiss(*, actor, item: ModerationItem, note: str = ""):
    """The flags were wrong: like approving, recorded as a dismissal (flag items only)."""
    if item.reason != ItemReason.FLAGS:
        invalid("item", _("Only flagged content can be dismissed; approve held content."))
    return item_approve(actor=actor, item=item, note=note, action=ActionKind.DISMISS)


@transaction.atomic
def item_remove(*, actor, item: ModerationItem, note: str = ""):
    """Take the content down; the flags are upheld. If members' flags had hidden it before a
    moderator looked, the community handled it (the statistics count that)."""
    _require_item_moderator(actor, item)
    _require_pending(item)
    note = _note(note)
    if item.comment_id:
        comment = Comment.objects.select_related("post", "post__space").get(pk=item.comment_id)
        if comment.state != CommentState.REMOVED:
            community_services.comment_delete(actor=actor, comment=comment)
    else:
        post = Post.objects.select_related("space").get(pk=item.post_id)
        if post.state != PostState.REMOVED:
            community_services.post_delete(actor=actor, post=post)
    _resolve_flags(item, actor=actor, state=FlagState.UPHELD)
    _decide(
        item,
        actor=actor,
        state=ItemState.REMOVED,
        by_community=item.hidden_by == HiddenBy.COMMUNITY,
    )
    _audit(ActionKind.REMOVE, actor=actor, item=item, note=note)
    _notice(NoticeKind.REMOVED, item=item)
    return item


@transaction.atomic
def item_restore(*, actor, item: ModerationItem, note: str = ""):
    """Undo a removal: the content is published again and the item counts as approved."""
    _require_item_moderator(actor, item)
    if item.state != ItemState.REMOVED:
        invalid("item", _("Only removed content can be restored."))
    note = _note(note)
    _publish_target(actor, item)
    _resolve_flags(item, actor=actor, state=FlagState.DISMISSED, from_states=(FlagState.UPHELD,))
    _decide(item, actor=actor, state=ItemState.APPROVED, by_community=False)
    _audit(ActionKind.RESTORE, actor=actor, item=item, note=note)
    _notice(NoticeKind.APPROVED, item=item)
    return item


ITEM_ACTIONS = ("approve", "dismiss", "remove", "restore", "warn", "suspend")


def item_act(*, actor, item: ModerationItem, action: str, note: str = "", days: int | None = 7):
    """One of :data:`ITEM_ACTIONS` on a queue item (the page's and the API's buttons); warn and
    suspend sanction the item's author (``days``: None = until lifted)."""
    if action == "approve":
        item_approve(actor=actor, item=item, note=note)
    elif action == "dismiss":
        item_dismiss(actor=actor, item=item, note=note)
    elif action == "remove":
        item_remove(actor=actor, item=item, note=note)
    elif action == "restore":
        item_restore(actor=actor, item=item, note=note)
    elif action == "warn":
        member_warn(actor=actor, user=item.author, item=item, note=note)
    elif action == "suspend":
        member_suspend(actor=actor, user=item.author, item=item, days=days, note=note)
    else:
        raise ValueError(action)
    return item


# --- sanctions --------------------------------------------------------------------------------


def _sanction_scope(actor, user, space: Space | None) -> None:
    if not community_access.is_authenticated(actor):
        invalid("actor", _("Log in first."))
    if space is None:
        if not access.can_sanction_globally(actor):
            raise community_access.NotAvailable(
                community_access.forbidden(
                    _("Only staff community managers can act for the whole community.")
                )
            )
    elif not community_access.can_moderate(user=actor, space=space):
        raise community_access.NotAvailable(
            community_access.forbidden(_("Only the space's moderators can do this."), space=space)
        )
    if user is None:
        invalid("user", _("This member no longer exists."))
    if user.pk == actor.pk:
        invalid("user", _("You cannot sanction yourself."))
    if community_access.is_manager(user) or (
        space is not None and community_access.can_moderate(user=user, space=space)
    ):
        invalid("user", _("Moderators and staff cannot be warned or suspended here."))


@transaction.atomic
def member_warn(*, actor, user, space: Space | None = None, item=None, note: str = ""):
    """A recorded warning (shown in the member's history on every later queue item)."""
    space = item.space if item is not None and space is None else space
    _sanction_scope(actor, user, space)
    note = _note(note)
    if not note:
        invalid("note", _("Say what the warning is about."))
    sanction = MemberSanction.objects.create(
        user=user, space=space, kind=SanctionKind.WARN, reason=note, item=item, by=actor
    )
    _audit(
        ActionKind.WARN,
        actor=actor,
        item=item,
        space_id=getattr(space, "pk", None),
        target_user=user,
        note=note,
    )
    _notice(NoticeKind.WARNED, recipient_id=user.pk, space=space)
    return sanction


@transaction.atomic
def member_suspend(
    *, actor, user, space: Space | None = None, days: int | None = 7, item=None, note: str = ""
):
    """Suspend from one space (its moderators) or the whole community (staff managers) for
    ``days`` (None: until lifted). A suspended member reads as before but cannot post, reply,
    react, vote, flag, share or edit there."""
    space = item.space if item is not None and space is None else space
    _sanction_scope(actor, user, space)
    note = _note(note)
    if days is not None:
        try:
            days = int(days)
        except (TypeError, ValueError):
            invalid("days", _("Give the number of days."))
        if not 1 <= days <= MAX_SUSPEND_DAYS:
            invalid("days", _("Between 1 and %(n)s days.") % {"n": MAX_SUSPEND_DAYS})
    until = timezone.now() + timedelta(days=days) if days else None
    sanction = MemberSanction.objects.create(
        user=user,
        space=space,
        kind=SanctionKind.SUSPEND,
        until=until,
        reason=note,
        item=item,
        by=actor,
    )
    selectors.suspensions_forget(user)
    _audit(
        ActionKind.SUSPEND,
        actor=actor,
        item=item,
        space_id=getattr(space, "pk", None),
        target_user=user,
        note=note,
        data={"days": days},
    )
    _notice(NoticeKind.SUSPENDED, recipient_id=user.pk, space=space)
    return sanction


@transaction.atomic
def member_unsuspend(*, actor, sanction: MemberSanction, note: str = ""):
    if sanction.kind != SanctionKind.SUSPEND or sanction.lifted_at is not None:
        invalid("sanction", _("This suspension is not active."))
    if sanction.space_id is None:
        if not access.can_sanction_globally(actor):
            raise community_access.NotAvailable(
                community_access.forbidden(
                    _("Only staff community managers can act for the whole community.")
                )
            )
    elif not community_access.can_moderate(user=actor, space=sanction.space_id):
        raise community_access.NotAvailable(
            community_access.forbidden(_("Only the space's moderators can do this."))
        )
    sanction.lifted_at = timezone.now()
    sanction.lifted_by = actor
    sanction.save(update_fields=["lifted_at", "lifted_by"])
    selectors.suspensions_forget(sanction.user)
    _audit(
        ActionKind.UNSUSPEND,
        actor=actor,
        space_id=sanction.space_id,
        target_user=sanction.user,
        note=_note(note),
        data={"sanction": sanction.pk},
    )
    return sanction


# --- settings ---------------------------------------------------------------------------------

# The one definition of what each setting may be: (lowest, highest) for the numbers, and the
# switches (true/false). The API's ``SettingsPatch`` and the page's ``SettingsForm`` take their
# bounds from here; ``settings_update`` checks them again for any other caller.
SETTING_LIMITS = {
    "flag_threshold": (1, 100),
    "first_post_count": (0, 50),
    "posts_per_minute": (1, 1000),
    "posts_per_hour": (1, 10000),
    "comments_per_minute": (1, 1000),
    "comments_per_hour": (1, 10000),
}
SETTING_SWITCHES = ("first_post_hold", "spam_check")


@transaction.atomic
def settings_update(*, actor, space: Space | None = None, **values) -> ModerationSettings:
    """Set (or with None: inherit) settings for a space (its owners, staff managers) or the whole
    community (staff managers)."""
    if not access.can_configure(user=actor, space=space):
        raise community_access.NotAvailable(
            community_access.forbidden(_("Only the space's owners can change this."), space=space)
        )
    unknown = set(values) - set(SETTING_LIMITS) - set(SETTING_SWITCHES)
    if unknown:
        invalid(sorted(unknown)[0], _("Unknown setting."))
    for name, value in values.items():
        if value is None:
            continue
        if name in SETTING_SWITCHES:
            if not isinstance(value, bool):
                invalid(name, _("Must be true or false."))
            continue
        low, high = SETTING_LIMITS[name]
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            invalid(name, _("Between %(low)s and %(high)s.") % {"low": low, "high": high})
    row = ModerationSettings.objects.select_for_update().filter(space=space).first()
    if row is None:
        row = ModerationSettings(space=space)
    for name, value in values.items():
        setattr(row, name, value)
    row.updated_at = timezone.now()
    row.updated_by = actor
    row.save()
    _audit(
        ActionKind.SETTINGS,
        actor=actor,
        space_id=getattr(space, "pk", None),
        data=dict(values),
    )
    return row


# --- helpers ----------------------------------------------------------------------------------


def _audit(
    action: str,
    *,
    actor,
    item: ModerationItem | None = None,
    space_id=None,
    target_user=None,
    note: str = "",
    data: dict | None = None,
) -> ModerationAction:
    if item is not None:
        space_id = space_id or item.space_id
        target_user = target_user or item.author
    return ModerationAction.objects.create(
        actor=actor if getattr(actor, "pk", None) else None,
        action=action,
        item=item,
        space_id=space_id,
        target_user=target_user,
        post_id=(item.post_id or getattr(item.comment, "post_id", None)) if item else None,
        comment_id=item.comment_id if item else None,
        note=note,
        data=data or {},
    )


def _notice(kind: str, *, item: ModerationItem | None = None, recipient_id=None, space=None):
    """An in-app notice to the author. Removed content is named by its space only (the author can
    no longer open it); held and hidden content links to itself (its author still can)."""
    post = comment = None
    if item is not None:
        recipient_id = item.author_id
        space = item.space
        if kind != NoticeKind.REMOVED:
            comment = item.comment
            post = comment.post if comment is not None else item.post
    if not recipient_id:
        return
    Notification.objects.create(
        recipient_id=recipient_id, kind=kind, space=space, post=post, comment=comment
    )
