"""Posts of every type: create, draft → publish, edit with revision, pin, lock, delete; accepted
answers, idea votes and statuses, polls and photo contests."""

from __future__ import annotations

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _

from apiary.community import access, markdown
from apiary.community.models import (
    Attachment,
    Audience,
    Comment,
    CommentState,
    ContestEntry,
    ContestVote,
    IdeaStatus,
    IdeaVote,
    PollOption,
    PollVote,
    Post,
    PostRevision,
    PostState,
    PostType,
    ResultsVisibility,
    Space,
)
from apiary.community.services._common import (
    activity_record,
    deny,
    invalid,
    rate_check,
    require,
)

MAX_TITLE = 200
MAX_BODY = 60_000
MAX_POLL_OPTIONS = 20


def _validate_text(title: str, body: str) -> tuple[str, str]:
    title = (title or "").strip()
    if not title:
        invalid("title", _("A title is required."))
    if len(title) > MAX_TITLE:
        invalid("title", _("At most %(n)s characters.") % {"n": MAX_TITLE})
    if len(body or "") > MAX_BODY:
        invalid("body", _("At most %(n)s characters.") % {"n": MAX_BODY})
    return title, body or ""


def _render_into(post: Post) -> set[str]:
    rendered = markdown.render(post.body)
    post.body_html = rendered.html
    post.excerpt = markdown.excerpt(rendered.plain)
    return rendered.mentions


def _space_touch(space_id: int, *, posts_delta: int = 0) -> None:
    Space.objects.filter(pk=space_id).update(
        posts_count=F("posts_count") + posts_delta, last_activity_at=timezone.now()
    )


def _after_publish(post: Post, mentions: set[str]) -> None:
    from apiary.community.services.social import follow_add, new_post_fanout

    _space_touch(post.space_id, posts_delta=1)
    if post.author_id:
        follow_add(follower=post.author, post=post, quiet=True)
    new_post_fanout(post=post, mentions=mentions)


@transaction.atomic
def post_create(
    *,
    author,
    space: Space,
    type: str = PostType.DISCUSSION,
    title: str,
    body: str = "",
    audience: str = Audience.EVERYONE,
    publish: bool = True,
    tags=(),
    language: str = "",
    attachment_ids=(),
    poll_options=(),
    poll_multiple: bool = False,
    poll_closes_at=None,
    poll_results: str = ResultsVisibility.ALWAYS,
    contest_entries_until=None,
    contest_voting_from=None,
    contest_voting_until=None,
    reshare_of: Post | None = None,
    session_key: str = "",
) -> Post:
    require(access.can_post(user=author, space=space))
    if type not in PostType.values:
        invalid("type", _("Unknown post type."))
    if audience not in Audience.values:
        invalid("audience", _("Unknown audience."))
    if poll_results not in ResultsVisibility.values:
        invalid("poll_results", _("Unknown results visibility."))
    title, body = _validate_text(title, body)
    rate_check(user=author, action="post")
    # apiary.moderation: posting limits, and a new member's first post or spam is held (pending)
    from apiary.moderation import services as moderation

    hold = moderation.post_screen(
        author=author, space=space, title=title, body=body, publish=publish
    )
    now = timezone.now()
    post = Post(
        space=space,
        type=type,
        title=title,
        body=body,
        audience=audience,
        language=(language or "")[:8],
        author=author,
        state=PostState.PENDING if hold else PostState.PUBLISHED if publish else PostState.DRAFT,
        reshare_of=reshare_of,
        published_at=now if publish and not hold else None,
        created_at=now,
        updated_at=now,
        last_activity_at=now,
    )
    if type == PostType.IDEA:
        post.idea_status = IdeaStatus.NEW
    if type == PostType.POLL:
        labels = [str(o).strip() for o in poll_options if str(o).strip()]
        if len(labels) < 2:
            invalid("poll_options", _("A poll needs at least two options."))
        if len(labels) > MAX_POLL_OPTIONS:
            invalid("poll_options", _("At most %(n)s options.") % {"n": MAX_POLL_OPTIONS})
        if len({label.lower() for label in labels}) != len(labels):
            invalid("poll_options", _("Options must differ."))
        if any(len(label) > 200 for label in labels):
            invalid("poll_options", _("An option has at most 200 characters."))
        if poll_closes_at is not None and poll_closes_at <= now:
            invalid("poll_closes_at", _("The closing time must be in the future."))
        post.poll_multiple = bool(poll_multiple)
        post.poll_closes_at = poll_closes_at
        post.poll_results = poll_results
    if type == PostType.CONTEST:
        if not (contest_voting_from and contest_voting_until):
            invalid("contest_voting_until", _("A contest needs a voting window."))
        if contest_voting_until <= contest_voting_from:
            invalid("contest_voting_until", _("Voting must end after it starts."))
        post.contest_entries_until = contest_entries_until or contest_voting_from
        post.contest_voting_from = contest_voting_from
        post.contest_voting_until = contest_voting_until
    mentions = _render_into(post)
    post.save()
    if type == PostType.POLL:
        PollOption.objects.bulk_create(
            [PollOption(post=post, label=label, position=i) for i, label in enumerate(labels)]
        )
    if tags:
        from apiary.community.services.social import post_tags_set

        post_tags_set(actor=author, post=post, tags=list(tags))
    if attachment_ids:
        _attach(author, post, attachment_ids)
    activity_record(
        kind="post.create",
        user=author,
        session_key=session_key,
        space_id=space.pk,
        post_id=post.pk,
        data={"type": type, "published": publish and not hold},
    )
    if hold:
        moderation.hold_open(hold=hold, post=post)
    elif publish:
        _after_publish(post, mentions)
    return post


def _attach(user, post: Post, attachment_ids) -> None:
    ids = [int(i) for i in attachment_ids]
    found = Attachment.objects.filter(
        pk__in=ids, uploader=user, post__isnull=True, comment__isnull=True
    )
    if found.count() != len(set(ids)):
        invalid("attachment_ids", _("Attach only your own new uploads."))
    found.update(post=post)


@transaction.atomic
def post_publish(*, actor, post: Post) -> Post:
    if post.state != PostState.DRAFT:
        invalid("state", _("Only drafts can be published."))
    if post.author_id != actor.pk:
        deny(_("Only the author can publish a draft."), space=post.space)
    require(access.can_post(user=actor, space=post.space))
    from apiary.moderation import services as moderation  # held like a new post (see create)

    hold = moderation.post_screen(author=actor, space=post.space, title=post.title, body=post.body)
    now = timezone.now()
    post.state = PostState.PENDING if hold else PostState.PUBLISHED
    post.published_at = None if hold else now
    post.last_activity_at = now
    post.updated_at = now
    post.save(update_fields=["state", "published_at", "last_activity_at", "updated_at"])
    activity_record(kind="post.publish", user=actor, space_id=post.space_id, post_id=post.pk)
    if hold:
        moderation.hold_open(hold=hold, post=post)
    else:
        _after_publish(post, markdown.render(post.body).mentions)
    return post


def _require_edit(actor, post: Post) -> None:
    require(access.post_decision(user=actor, post=post))
    if not access.can_edit_post(user=actor, post=post):
        deny(_("You cannot edit this post."), space=post.space)


@transaction.atomic
def post_update(
    *,
    actor,
    post: Post,
    title: str | None = None,
    body: str | None = None,
    audience=None,
    tags=None,
) -> Post:
    """Edit; the text before the edit is kept as a revision (edit history)."""
    _require_edit(actor, post)
    new_title, new_body = _validate_text(
        post.title if title is None else title, post.body if body is None else body
    )
    if audience is not None and audience not in Audience.values:
        invalid("audience", _("Unknown audience."))
    changed_text = new_title != post.title or new_body != post.body
    if changed_text:
        number = (
            post.revisions.order_by("-number").values_list("number", flat=True).first() or 0
        ) + 1
        PostRevision.objects.create(
            post=post, number=number, title=post.title, body=post.body, editor=actor
        )
        post.title, post.body = new_title, new_body
        _render_into(post)
        post.edited_at = timezone.now()
    if audience is not None:
        post.audience = audience
    post.updated_at = timezone.now()
    post.save()
    if tags is not None:
        from apiary.community.services.social import post_tags_set

        post_tags_set(actor=actor, post=post, tags=list(tags))
    activity_record(kind="post.edit", user=actor, space_id=post.space_id, post_id=post.pk)
    return post


def _require_moderator(actor, post: Post) -> None:
    require(access.post_decision(user=actor, post=post))
    if not access.can_moderate(user=actor, space=post.space_id):
        deny(_("Only the space's moderators can do this."), space=post.space)


def post_pin(*, actor, post: Post, pinned: bool = True) -> Post:
    _require_moderator(actor, post)
    post.pinned_at = timezone.now() if pinned else None
    post.save(update_fields=["pinned_at"])
    activity_record(kind="post.pin", user=actor, space_id=post.space_id, post_id=post.pk)
    return post


def post_lock(*, actor, post: Post, locked: bool = True) -> Post:
    _require_moderator(actor, post)
    post.locked_at = timezone.now() if locked else None
    post.save(update_fields=["locked_at"])
    activity_record(kind="post.lock", user=actor, space_id=post.space_id, post_id=post.pk)
    return post


@transaction.atomic
def post_delete(*, actor, post: Post) -> Post:
    """Soft delete (state "removed"): the row stays for the audit trail and moderation."""
    _require_edit(actor, post)
    if post.state == PostState.PUBLISHED:
        _space_touch(post.space_id, posts_delta=-1)
    post.state = PostState.REMOVED
    post.updated_at = timezone.now()
    post.save(update_fields=["state", "updated_at"])
    activity_record(kind="post.delete", user=actor, space_id=post.space_id, post_id=post.pk)
    return post


@transaction.atomic
def post_moderate(*, actor, post: Post, state: str) -> Post:
    """Approve a pending post, hide one for review, restore or remove it."""
    _require_moderator(actor, post)
    if state not in (PostState.PUBLISHED, PostState.HIDDEN, PostState.REMOVED):
        invalid("state", _("Choose published, hidden or removed."))
    was_published = post.state == PostState.PUBLISHED
    first_publish = post.state == PostState.PENDING and state == PostState.PUBLISHED
    post.state = state
    if first_publish and post.published_at is None:
        post.published_at = timezone.now()
    post.save(update_fields=["state", "published_at"])
    if was_published != (state == PostState.PUBLISHED):
        _space_touch(post.space_id, posts_delta=1 if state == PostState.PUBLISHED else -1)
    if first_publish:
        from apiary.community.services.social import new_post_fanout

        new_post_fanout(post=post, mentions=markdown.render(post.body).mentions)
    activity_record(
        kind="post.moderate",
        user=actor,
        space_id=post.space_id,
        post_id=post.pk,
        data={"state": state},
    )
    return post


# --- questions --------------------------------------------------------------------------------


@transaction.atomic
def answer_accept(*, actor, post: Post, comment: Comment) -> Post:
    """The asker or a moderator marks one answer as accepted (a later one replaces it)."""
    require(access.post_decision(user=actor, post=post))
    if post.type != PostType.QUESTION:
        invalid("post", _("Only questions have accepted answers."))
    if comment.post_id != post.pk or comment.state != CommentState.PUBLISHED:
        invalid("comment", _("Choose a published answer to this question."))
    is_asker = access.is_authenticated(actor) and post.author_id == actor.pk
    if not (is_asker or access.can_moderate(user=actor, space=post.space_id)):
        deny(_("Only the asker or a moderator can accept an answer."), space=post.space)
    post.accepted_comment = comment
    post.save(update_fields=["accepted_comment"])
    if comment.author_id and comment.author_id != actor.pk:
        from apiary.community.services.social import notify

        notify(
            kind="accepted",
            recipient_ids=[comment.author_id],
            actor=actor,
            post=post,
            comment=comment,
        )
    activity_record(
        kind="answer.accept",
        user=actor,
        space_id=post.space_id,
        post_id=post.pk,
        comment_id=comment.pk,
    )
    return post


def answer_unaccept(*, actor, post: Post) -> Post:
    require(access.post_decision(user=actor, post=post))
    is_asker = access.is_authenticated(actor) and post.author_id == actor.pk
    if not (is_asker or access.can_moderate(user=actor, space=post.space_id)):
        deny(_("Only the asker or a moderator can change the accepted answer."), space=post.space)
    post.accepted_comment = None
    post.save(update_fields=["accepted_comment"])
    activity_record(kind="answer.unaccept", user=actor, space_id=post.space_id, post_id=post.pk)
    return post


# --- ideas ------------------------------------------------------------------------------------


def _locked_post(post: Post) -> Post:
    # The row lock serialises votes on one post, so counters and "one per member" hold under
    # concurrent clicks (SQLite already serialises writers).
    return Post.objects.select_for_update().get(pk=post.pk)


@transaction.atomic
def idea_vote(*, user, post: Post) -> IdeaVote:
    require(access.can_interact(user=user, post=post))
    if post.type != PostType.IDEA:
        invalid("post", _("Only ideas take votes."))
    if post.idea_status in (IdeaStatus.SHIPPED, IdeaStatus.DECLINED):
        invalid("post", _("Voting on this idea has ended."))
    _locked_post(post)
    existing = IdeaVote.objects.filter(post=post, user=user).first()
    if existing:
        return existing  # idempotent: a second click is not a second vote
    rate_check(user=user, action="vote")
    try:
        with transaction.atomic():
            vote = IdeaVote.objects.create(post=post, user=user)
    except IntegrityError:
        return IdeaVote.objects.get(post=post, user=user)
    Post.objects.filter(pk=post.pk).update(votes_count=F("votes_count") + 1)
    activity_record(kind="idea.vote", user=user, space_id=post.space_id, post_id=post.pk)
    return vote


@transaction.atomic
def idea_unvote(*, user, post: Post) -> None:
    require(access.post_decision(user=user, post=post))
    _locked_post(post)
    deleted, _detail = IdeaVote.objects.filter(post=post, user=user).delete()
    if deleted:
        Post.objects.filter(pk=post.pk).update(votes_count=F("votes_count") - 1)
        activity_record(kind="idea.unvote", user=user, space_id=post.space_id, post_id=post.pk)


@transaction.atomic
def idea_status_set(*, actor, post: Post, status: str, response: str = "") -> Post:
    """Moderators move an idea along new → under review → planned → in progress → shipped /
    declined, with an optional official response; voters are told."""
    _require_moderator(actor, post)
    if post.type != PostType.IDEA:
        invalid("post", _("Only ideas have a status."))
    if status not in IdeaStatus.values:
        invalid("status", _("Unknown status."))
    if len(response or "") > MAX_BODY:
        invalid("response", _("At most %(n)s characters.") % {"n": MAX_BODY})
    if status == IdeaStatus.DECLINED and not (response or post.official_response).strip():
        invalid("response", _("Say why the idea is declined."))
    old = post.idea_status
    post.idea_status = status
    if response:
        post.official_response = response
        post.official_response_html = markdown.render(response).html
        post.official_response_by = actor
        post.official_response_at = timezone.now()
    post.last_activity_at = timezone.now()
    post.save()
    if old != status:
        from apiary.community.services.social import notify

        voters = list(IdeaVote.objects.filter(post=post).values_list("user_id", flat=True))
        if post.author_id:
            voters.append(post.author_id)
        notify(kind="idea_status", recipient_ids=voters, actor=actor, post=post)
    activity_record(
        kind="idea.status",
        user=actor,
        space_id=post.space_id,
        post_id=post.pk,
        data={"from": old, "to": status},
    )
    return post


# --- polls ------------------------------------------------------------------------------------


@transaction.atomic
def poll_vote(*, user, post: Post, option_ids) -> list[PollVote]:
    """Cast (or replace) the member's ballot. Single-choice polls take exactly one option."""
    require(access.can_interact(user=user, post=post))
    if post.type != PostType.POLL:
        invalid("post", _("This post is not a poll."))
    if access.poll_is_closed(post):
        invalid("option_ids", _("This poll is closed."))
    ids = list(dict.fromkeys(int(i) for i in option_ids))
    if not ids:
        invalid("option_ids", _("Choose an option."))
    if not post.poll_multiple and len(ids) != 1:
        invalid("option_ids", _("Choose exactly one option."))
    _locked_post(post)
    options = list(PollOption.objects.filter(post=post, pk__in=ids))
    if len(options) != len(ids):
        invalid("option_ids", _("Choose options of this poll."))
    rate_check(user=user, action="vote")
    previous = list(
        PollVote.objects.filter(post=post, user=user).values_list("option_id", flat=True)
    )
    if previous:
        PollVote.objects.filter(post=post, user=user).delete()
        PollOption.objects.filter(pk__in=previous).update(votes_count=F("votes_count") - 1)
    else:
        Post.objects.filter(pk=post.pk).update(votes_count=F("votes_count") + 1)
    votes = PollVote.objects.bulk_create(
        [PollVote(post=post, option=o, user=user) for o in options]
    )
    PollOption.objects.filter(pk__in=ids).update(votes_count=F("votes_count") + 1)
    activity_record(kind="poll.vote", user=user, space_id=post.space_id, post_id=post.pk)
    return votes


@transaction.atomic
def poll_unvote(*, user, post: Post) -> None:
    require(access.can_interact(user=user, post=post))
    if access.poll_is_closed(post):
        invalid("option_ids", _("This poll is closed."))
    _locked_post(post)
    previous = list(
        PollVote.objects.filter(post=post, user=user).values_list("option_id", flat=True)
    )
    if previous:
        PollVote.objects.filter(post=post, user=user).delete()
        PollOption.objects.filter(pk__in=previous).update(votes_count=F("votes_count") - 1)
        Post.objects.filter(pk=post.pk).update(votes_count=F("votes_count") - 1)
        activity_record(kind="poll.unvote", user=user, space_id=post.space_id, post_id=post.pk)


# --- contests ---------------------------------------------------------------------------------


@transaction.atomic
def contest_entry_create(
    *, user, post: Post, title: str, caption: str = "", image_id: int | None = None
) -> ContestEntry:
    require(access.can_interact(user=user, post=post))
    if post.type != PostType.CONTEST:
        invalid("post", _("This post is not a contest."))
    now = timezone.now()
    if post.contest_entries_until and post.contest_entries_until <= now:
        invalid("post", _("Entries are closed."))
    title = (title or "").strip()
    if not title or len(title) > MAX_TITLE:
        invalid("title", _("Give the entry a title of at most 200 characters."))
    image = None
    if image_id is not None:
        image = Attachment.objects.filter(
            pk=image_id, uploader=user, kind="image", post__isnull=True, comment__isnull=True
        ).first()
        if image is None:
            invalid("image_id", _("Upload the photo first; use your own new image."))
    if ContestEntry.objects.filter(post=post, author=user).exists():
        invalid("post", _("You already entered this contest."))
    rate_check(user=user, action="post")
    entry = ContestEntry.objects.create(
        post=post,
        author=user,
        title=title,
        caption=caption,
        caption_html=markdown.render(caption).html,
        image=image,
    )
    Post.objects.filter(pk=post.pk).update(last_activity_at=now)
    activity_record(kind="contest.entry", user=user, space_id=post.space_id, post_id=post.pk)
    return entry


def _voting_open(post: Post) -> bool:
    now = timezone.now()
    return (
        post.contest_voting_from is not None
        and post.contest_voting_from <= now < post.contest_voting_until
        and post.contest_decided_at is None
    )


@transaction.atomic
def contest_vote(*, user, entry: ContestEntry) -> ContestVote:
    """One vote per member per contest; voting again moves the vote. Not for your own entry."""
    post = entry.post
    require(access.can_interact(user=user, post=post))
    if not _voting_open(post):
        invalid("entry", _("Voting is not open."))
    if entry.removed_at is not None:
        invalid("entry", _("This entry was removed."))
    if entry.author_id == user.pk:
        invalid("entry", _("You cannot vote for your own entry."))
    _locked_post(post)
    rate_check(user=user, action="vote")
    existing = ContestVote.objects.filter(post=post, user=user).first()
    if existing and existing.entry_id == entry.pk:
        return existing
    if existing:
        ContestEntry.objects.filter(pk=existing.entry_id).update(votes_count=F("votes_count") - 1)
        existing.entry = entry
        existing.created_at = timezone.now()
        existing.save(update_fields=["entry", "created_at"])
        vote = existing
    else:
        vote = ContestVote.objects.create(post=post, entry=entry, user=user)
        Post.objects.filter(pk=post.pk).update(votes_count=F("votes_count") + 1)
    ContestEntry.objects.filter(pk=entry.pk).update(votes_count=F("votes_count") + 1)
    activity_record(kind="contest.vote", user=user, space_id=post.space_id, post_id=post.pk)
    return vote


@transaction.atomic
def contest_unvote(*, user, post: Post) -> None:
    require(access.post_decision(user=user, post=post))
    if not _voting_open(post):
        invalid("entry", _("Voting is not open."))
    _locked_post(post)
    existing = ContestVote.objects.filter(post=post, user=user).first()
    if existing:
        ContestEntry.objects.filter(pk=existing.entry_id).update(votes_count=F("votes_count") - 1)
        Post.objects.filter(pk=post.pk).update(votes_count=F("votes_count") - 1)
        existing.delete()
        activity_record(kind="contest.unvote", user=user, space_id=post.space_id, post_id=post.pk)


@transaction.atomic
def contest_decide(*, actor, post: Post, winner_ids=None) -> list[ContestEntry]:
    """Name the winners (ordered ids), or by default the three entries with most votes (ties:
    earlier entry first). Allowed once voting has ended."""
    _require_moderator(actor, post)
    if post.type != PostType.CONTEST:
        invalid("post", _("This post is not a contest."))
    if post.contest_voting_until and post.contest_voting_until > timezone.now():
        invalid("post", _("Voting has not ended yet."))
    entries = ContestEntry.objects.filter(post=post, removed_at__isnull=True)
    if winner_ids is None:
        winners = list(entries.order_by("-votes_count", "created_at", "id")[:3])
    else:
        ids = [int(i) for i in winner_ids]
        by_id = {e.pk: e for e in entries.filter(pk__in=ids)}
        if len(by_id) != len(set(ids)):
            invalid("winner_ids", _("Choose entries of this contest."))
        winners = [by_id[i] for i in dict.fromkeys(ids)]
    entries.update(winner_rank=None)
    for rank, entry in enumerate(winners, start=1):
        entry.winner_rank = rank
        entry.save(update_fields=["winner_rank"])
    post.contest_decided_at = timezone.now()
    post.save(update_fields=["contest_decided_at"])
    from apiary.community.services.social import notify

    notify(
        kind="contest_winner",
        recipient_ids=[e.author_id for e in winners if e.author_id],
        actor=actor,
        post=post,
    )
    activity_record(
        kind="contest.decide",
        user=actor,
        space_id=post.space_id,
        post_id=post.pk,
        data={"winners": [e.pk for e in winners]},
    )
    return winners
