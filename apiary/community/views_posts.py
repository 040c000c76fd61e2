"""Post pages and everything done on a post: write and edit (with history and drafts), comments,
reactions, accepted answers, idea votes and statuses, polls, photo contests, files and shares.

Each post is read with ``access.post_for_view`` (or ``post_for_edit`` / ``post_for_moderation``)
and everything on its page comes from ``selectors.post_detail`` / ``comment_list``; a file is
served only after ``access.attachment_for_download``. Every POST goes through Django's CSRF check.
"""

from __future__ import annotations

import functools
import mimetypes

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from apiary.community import access, markdown, selectors, services, topic_cache, views_support
from apiary.community.forms import CommentForm, IdeaStatusForm, PostForm
from apiary.community.models import IdeaStatus, PostType, ReactionKind
from apiary.community.views import (
    anonymous_may_see_post,
    community_view,
    htmx_aware,
    paginate,
    session_key,
    show_errors,
)

REACTION_EMOJI = {
    ReactionKind.LIKE: "👍",
    ReactionKind.LOVE: "❤️",
    ReactionKind.INSIGHTFUL: "💡",
    ReactionKind.LAUGH: "😄",
    ReactionKind.CELEBRATE: "🎉",
}
PREVIEW_MAX = 100_000


def _post_url(post) -> str:
    return reverse("community:post", args=[post.pk])


def _reaction_bar(counts: dict, mine: set) -> list[dict]:
    return [
        {
            "kind": kind.value,
            "label": kind.label,
            "emoji": REACTION_EMOJI[kind],
            "count": counts.get(kind.value, 0),
            "mine": kind.value in mine,
        }
        for kind in ReactionKind
    ]


def _comment_bar(comment) -> list[dict]:
    # Comments carry one total; their bar is the "like" toggle with that total.
    mine = getattr(comment, "my_reactions", set()) or set()
    return [
        {
            "kind": ReactionKind.LIKE.value,
            "label": ReactionKind.LIKE.label,
            "emoji": REACTION_EMOJI[ReactionKind.LIKE],
            "count": comment.reactions_count,
            "mine": ReactionKind.LIKE.value in mine,
        }
    ]


def _poll_context(poll, interact: bool) -> dict | None:
    if poll is None:
        return None
    total = poll.total or 0
    options = []
    for option in poll.options:
        count = (poll.counts or {}).get(option.pk, 0) if poll.results_visible else None
        options.append(
            {
                "pk": option.pk,
                "label": option.label,
                "votes_count": count,
                "percent": round(100 * count / total) if count and total else 0,
            }
        )
    return {
        "options": options,
        "mine": poll.my_choices,
        "closed": poll.closed,
        "show_results": poll.results_visible,
        "total": total,
        "can_vote": interact and not poll.closed,
    }


# --- the post page ----------------------------------------------------------------------------


@community_view
def post_view(request: HttpRequest, post_id: int) -> HttpResponse:
    """The topic page. Everything below the access check is computed on demand (zero-argument
    callables the template calls), so when the anonymous page's head and main column come
    from the cache (``topic_cache_key``) the topic costs one query: the access check's."""
    user = request.user
    post = access.post_for_view(user=user, post_id=post_id)
    page_param = request.GET.get("page")
    comment_id = _int(request, "comment")

    @functools.cache
    def detail():
        return selectors.post_detail(user=user, post=post)

    @functools.cache
    def comment_page():
        page = selectors.comment_page(user=user, post=post, page=page_param, comment_id=comment_id)
        shared = _comment_key_context()
        for comment in page.object_list:
            comment.reaction_bar = _comment_bar(comment)
            comment.cache_key = comment_cache_key(comment, post, shared)
            comment.reply_list = getattr(comment, "visible_replies", [])
            for reply in comment.reply_list:
                reply.reaction_bar = _comment_bar(reply)
                reply.cache_key = comment_cache_key(reply, post, shared)
        return page

    @functools.cache
    def interact():
        return access.can_interact(user=user, post=post).allowed

    @functools.cache
    def attachments():
        files = list(detail().attachments)
        older = views_support.attachment_older_versions(post=post) if files else []
        _older_versions(files, older)
        return files

    @functools.cache
    def reshare_targets():
        return _reshare_targets(user, post) if interact() else []

    @functools.cache
    def can():
        d = detail()
        return {
            "edit": d.can_edit,
            "comment": d.can_comment.allowed,
            "moderate": d.can_moderate,
            "accept": d.can_accept,
            "vote": interact() and post.type == PostType.IDEA,
            "share": interact(),
            "upload": d.can_edit and post.type == PostType.DOCUMENT,
        }

    og = None
    if anonymous_may_see_post(post):
        og = {
            "type": "article",
            "title": post.title,
            "description": post.excerpt,
            "url": request.build_absolute_uri(_post_url(post)),
        }
    from apiary.community.middleware import view_once  # once per visit per post per 30 min

    if view_once(request, f"p{post.pk}"):
        services.post_view_record(user=user, post=post, session_key=session_key(request))
    share_token = request.session.pop(f"community_share_{post.pk}", None)
    context = {
        "post": post,
        "space": post.space,
        "topic_cache_key": topic_cache_key(
            user=user, post=post, page=page_param, comment_id=comment_id
        ),
        "tags": lambda: detail().tags,
        "attachments": attachments,
        "post_reactions": lambda: _reaction_bar(detail().reaction_counts, detail().my_reactions),
        "comments": lambda: comment_page().object_list,
        "comment_page": comment_page,
        "accepted": lambda: detail().accepted_comment,
        # The answer may sit on another page of a long thread: link to the page that shows it.
        "accepted_url": lambda: (
            selectors.comment_url(post.pk, post.accepted_comment_id)
            if post.accepted_comment_id
            else ""
        ),
        "reshare_of": lambda: detail().reshare_of,
        "voted": lambda: detail().my_idea_vote,
        "poll": lambda: _poll_context(detail().poll, interact()),
        "contest": lambda: (
            _contest_context(detail().contest, interact()) if detail().contest else None
        ),
        "idea_statuses": IdeaStatus.choices,
        "can": can,
        "can_react": interact,
        "following_author": bool(
            user.is_authenticated
            and post.author_id
            and selectors.is_following(user=user, user_target=post.author)
        ),
        "share_url": request.build_absolute_uri(reverse("community:share_link", args=[share_token]))
        if share_token
        else "",
        "reshare_targets": reshare_targets,
        "og": og,
        # Members-only and closed content stays out of search engines even for readers.
        "noindex": og is None,
        "section": "community",
    }
    # A page every anonymous visitor shares is rendered with placeholders for the CSRF token
    # and the live counters; topic_cache's middleware keeps it and fills them in per request.
    mark = topic_cache.view_mark(request, post) if context["topic_cache_key"] else None
    if mark is not None:
        context.update(
            csrf_token=topic_cache.CSRF_MARK,
            views_count=topic_cache.VIEWS_MARK,
            shares_count=topic_cache.SHARES_MARK,
        )
    else:
        context.update(views_count=post.views_count, shares_count=post.shares_count)
    response = render(request, "community/post.html", context)
    if mark is not None:
        response.apiary_topic_cache = mark
    return response


def _comment_key_context() -> tuple:
    from django.utils import timezone, translation

    return (translation.get_language(), timezone.get_current_timezone_name())


def comment_cache_key(comment, post, shared: tuple) -> str:
    """The key of a reply's shared part in ``_comment.html`` (avatar, author, labels, time,
    text): a digest of everything it shows, so an edit, a moderation state, a renamed author or
    a newly accepted answer is a new key. Nothing in that part depends on the viewer, so one
    rendering serves everyone who may read the reply (the page decided that)."""
    import hashlib

    author = comment.author
    parts = (
        comment.pk,
        comment.parent_id is not None,
        comment.state,
        comment.created_at,
        comment.edited_at,
        comment.body_html,
        (author.pk, author.display_name, author.email) if author else None,
        comment.pk == post.accepted_comment_id,
        shared,
    )
    digest = hashlib.blake2b(repr(parts).encode(), digest_size=16).hexdigest()
    return f"community:comment:{digest}"


def topic_cache_key(*, user, post, page, comment_id=None) -> str:
    """The cache key of the topic page's head and main column as an anonymous visitor sees
    them, or "" (no caching). Only anonymous visitors share a rendering: all of them see the
    same thing (``access`` decides their view by post and space alone), while a member's page
    depends on who they are (their reactions and votes, buttons, their own pending replies,
    a moderator's hidden ones). Those blocks hold no form and so no CSRF token for anonymous
    visitors: nothing personal can be cached.

    The key is a digest of every input of those blocks, so a change is a new key in every
    server process at once and nothing is ever invalidated by hand: the post's own row (every
    field but the live counters), ``render_version`` (database triggers bump it for replies,
    reactions, tags, files, poll options, contest entries and renamed people: migration
    0004), the space and parent space (name, address, visibility, archive), the author's
    name, the page asked for, the language and time zone, and what the clock decides (poll
    closed, contest phase). Reshares are not cached: whether the original shows depends on
    another post."""
    if user.is_authenticated or post.reshare_of_id or comment_id is not None:
        return ""
    import hashlib

    from django.utils import timezone, translation

    space, parent, author = post.space, post.space.parent, post.author
    fields = tuple(
        getattr(post, f.attname)
        for f in type(post)._meta.concrete_fields
        if f.attname not in topic_cache.UNCACHED_POST_FIELDS
    )
    page = page if page == "last" else str(_page_number(page))
    # what the clock decides: the same rule as the whole page's expiry (topic_cache.valid_until)
    clock = topic_cache.clock_passed(post, timezone.now())
    parts = (
        fields,
        (space.pk, space.slug, space.name, space.visibility, space.archived_at, space.parent_id),
        (parent.slug, parent.name) if parent else None,
        (author.display_name, author.email, author.is_active) if author else None,
        page,
        translation.get_language(),
        timezone.get_current_timezone_name(),
        clock,
    )
    digest = hashlib.blake2b(repr(parts).encode(), digest_size=16).hexdigest()
    return f"community:topic:{post.pk}:{digest}"


def _page_number(value) -> int:
    try:
        return max(1, int(value))
    except (TypeError, ValueError):
        return 1


def _int(request: HttpRequest, name: str) -> int | None:
    try:
        return int(request.GET.get(name, ""))
    except ValueError:
        return None


def comment_url(post, comment) -> str:
    """A comment's address: the page of the thread that shows it (long topics are paged)."""
    return selectors.comment_url(post.pk, comment.pk)


def _older_versions(current: list, older: list) -> None:
    by_id = {a.pk: a for a in older}
    for file in current:
        older, cursor = [], file.replaces_id
        while cursor and cursor in by_id:
            older.append(by_id[cursor])
            cursor = by_id[cursor].replaces_id
        file.older_versions = older


def _contest_context(contest, interact: bool) -> dict:
    counts_visible = contest.counts_visible
    entries = list(contest.entries)
    for entry in entries:
        if not counts_visible:
            entry.votes_count = None
    return {
        "entries": entries,
        "can_vote": interact and contest.voting_open,
        "can_enter": interact and contest.entries_open,
        "my_vote": contest.my_vote_entry_id,
        "counts_visible": counts_visible,
    }


def _reshare_targets(user, post) -> list:
    """Spaces the user may post in, other than the post's own."""
    cards = selectors.space_list(user=user)
    return [
        c.space
        for c in cards
        if c.space.pk != post.space_id and access.can_post(user=user, space=c.space).allowed
    ]


# --- writing ----------------------------------------------------------------------------------


def _form_errors(form, exc: ValidationError) -> None:
    if not hasattr(exc, "error_dict"):
        form.add_error(None, exc.messages)
        return
    for field, msgs in exc.message_dict.items():
        form.add_error(field if field in form.fields else None, msgs)


@community_view
def post_new_view(request: HttpRequest, slug: str) -> HttpResponse:
    user = request.user
    space = access.space_for_view(user=user, slug=slug)
    access.can_post(user=user, space=space).raise_if_denied()
    initial_type = request.GET.get("type") if request.GET.get("type") in PostType.values else ""
    form = PostForm(
        request.POST or None,
        request.FILES or None,
        initial={"type": initial_type or PostType.DISCUSSION, "audience": "everyone"},
    )
    status = 200
    if request.method == "POST":
        status = 400
        if form.is_valid():
            data = form.cleaned_data
            try:
                attachment_ids = []
                if data.get("file"):
                    upload = data["file"]
                    attachment = services.attachment_upload(
                        user=user, fileobj=upload, filename=upload.name
                    )
                    attachment_ids.append(attachment.pk)
                post = services.post_create(
                    author=user,
                    space=space,
                    type=data["type"],
                    title=data["title"],
                    body=data["body"],
                    audience=data["audience"],
                    publish=request.POST.get("action") != "draft",
                    tags=form.tag_list(),
                    attachment_ids=attachment_ids,
                    poll_options=form.option_list(),
                    poll_multiple=data.get("poll_multiple") or False,
                    poll_closes_at=data.get("poll_closes_at"),
                    poll_results=data.get("poll_results") or "always",
                    contest_entries_until=data.get("contest_entries_until"),
                    contest_voting_from=data.get("contest_voting_from"),
                    contest_voting_until=data.get("contest_voting_until"),
                    session_key=session_key(request),
                )
            except ValidationError as exc:
                _form_errors(form, exc)
            else:
                if post.state == "draft":
                    messages.success(request, _("Draft saved. Only you can see it."))
                elif post.state == "pending":
                    messages.info(request, _("Thanks! A moderator will review your post first."))
                return redirect(_post_url(post))
    return render(
        request,
        "community/post_form.html",
        {"form": form, "space": space, "post": None, "section": "community"},
        status=status,
    )


@community_view
def post_edit_view(request: HttpRequest, post_id: int) -> HttpResponse:
    user = request.user
    post = access.post_for_edit(user=user, post_id=post_id)
    detail = selectors.post_detail(user=user, post=post)
    initial = {
        "title": post.title,
        "body": post.body,
        "audience": post.audience,
        "tags": ", ".join(t.name for t in detail.tags),
    }
    form = PostForm(request.POST or None, initial=initial, editing=True)
    status = 200
    if request.method == "POST":
        status = 400
        if form.is_valid():
            data = form.cleaned_data
            try:
                post = services.post_update(
                    actor=user,
                    post=post,
                    title=data["title"],
                    body=data["body"],
                    audience=data["audience"],
                    tags=form.tag_list(),
                )
                if post.state == "draft" and request.POST.get("action") == "publish":
                    post = services.post_publish(actor=user, post=post)
            except ValidationError as exc:
                _form_errors(form, exc)
            else:
                messages.success(request, _("Saved."))
                return redirect(_post_url(post))
    return render(
        request,
        "community/post_form.html",
        {"form": form, "space": post.space, "post": post, "section": "community"},
        status=status,
    )


@community_view
def post_history_view(request: HttpRequest, post_id: int) -> HttpResponse:
    user = request.user
    post = access.post_for_view(user=user, post_id=post_id)
    revisions = list(selectors.revision_list(user=user, post=post))
    return render(
        request,
        "community/post_history.html",
        {"post": post, "space": post.space, "revisions": revisions, "section": "community"},
    )


@login_required
@require_POST
def preview_view(request: HttpRequest) -> HttpResponse:
    """htmx: the editor's preview, rendered and sanitised exactly as the saved post will be."""
    text = (request.POST.get("body") or "")[:PREVIEW_MAX]
    rendered = markdown.render(text)
    return htmx_aware(
        render(request, "community/_preview.html", {"html": rendered.html, "empty": not text})
    )


@login_required
def drafts_view(request: HttpRequest) -> HttpResponse:
    drafts = selectors.post_list(
        user=request.user, author=request.user, state="draft", order="new", pinned_first=False
    )
    page = paginate(request, drafts)
    return render(
        request,
        "community/drafts.html",
        {"posts": page.object_list, "page_obj": page, "section": "community"},
    )


# --- comments and reactions -------------------------------------------------------------------


@require_POST
@community_view
def comment_create_view(request: HttpRequest, post_id: int) -> HttpResponse:
    user = request.user
    post = access.post_for_view(user=user, post_id=post_id)
    access.can_comment(user=user, post=post).raise_if_denied()
    form = CommentForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Write something before posting."))
        return redirect(_post_url(post) + "#comment-form")
    parent = None
    if form.cleaned_data.get("parent"):
        parent = access.comment_for_view(user=user, comment_id=form.cleaned_data["parent"])
        if parent.post_id != post.pk:
            raise Http404
    try:
        comment = services.comment_create(
            author=user,
            post=post,
            body=form.cleaned_data["body"],
            parent=parent,
            session_key=session_key(request),
        )
    except ValidationError as exc:
        show_errors(request, exc)
        return redirect(_post_url(post) + "#comment-form")
    if comment.state == "pending":
        messages.info(request, _("Thanks! Your reply will appear once a moderator approves it."))
    return redirect(comment_url(post, comment))


@require_POST
@community_view
def react_view(request: HttpRequest, post_id: int) -> HttpResponse:
    user = request.user
    post = access.post_for_view(user=user, post_id=post_id)
    access.can_interact(user=user, post=post).raise_if_denied()
    kind = request.POST.get("kind", "")
    if kind not in ReactionKind.values:
        messages.error(request, _("Unknown reaction."))
        return redirect(_post_url(post))
    comment = None
    if request.POST.get("comment"):
        comment = access.comment_for_view(user=user, comment_id=request.POST["comment"])
        if comment.post_id != post.pk:
            raise Http404
    target = {"comment": comment} if comment else {"post": post}
    # Toggle: the button says what the viewer currently has (aria-pressed); read it back from
    # the selectors rather than trusting the form.
    if comment is not None:
        mine = _comment_mine(user, post, comment.pk)
    else:
        mine = selectors.post_detail(user=user, post=post).my_reactions
    try:
        if kind in mine:
            services.reaction_remove(user=user, kind=kind, **target)
        else:
            services.reaction_add(user=user, kind=kind, **target)
    except ValidationError as exc:
        show_errors(request, exc)
    if request.htmx:
        return htmx_aware(_reaction_fragment(request, post, comment))
    return redirect(comment_url(post, comment) if comment else _post_url(post))


def _comment_mine(user, post, comment_id: int) -> set:
    # The one comment's page entry, not the whole thread (topics run to thousands of replies).
    for c in selectors.comment_page(user=user, post=post, comment_id=comment_id).object_list:
        for c2 in [c, *getattr(c, "visible_replies", [])]:
            if c2.pk == comment_id:
                return getattr(c2, "my_reactions", set()) or set()
    return set()


def _reaction_fragment(request, post, comment) -> HttpResponse:
    user = request.user
    if comment is not None:
        fresh = access.comment_for_view(user=user, comment_id=comment.pk)
        fresh.my_reactions = _comment_mine(user, post, comment.pk)
        bar = _comment_bar(fresh)
    else:
        fresh_post = access.post_for_view(user=user, post_id=post.pk)
        detail = selectors.post_detail(user=user, post=fresh_post)
        bar = _reaction_bar(detail.reaction_counts, detail.my_reactions)
    return render(
        request,
        "community/_reactions.html",
        {"post": post, "comment": comment, "reactions": bar, "can_react": True},
    )


# --- moderation, answers ----------------------------------------------------------------------

_MODERATE = {
    "pin": lambda actor, post: services.post_pin(actor=actor, post=post, pinned=True),
    "unpin": lambda actor, post: services.post_pin(actor=actor, post=post, pinned=False),
    "lock": lambda actor, post: services.post_lock(actor=actor, post=post, locked=True),
    "unlock": lambda actor, post: services.post_lock(actor=actor, post=post, locked=False),
    "approve": lambda actor, post: services.post_moderate(
        actor=actor, post=post, state="published"
    ),
    "hide": lambda actor, post: services.post_moderate(actor=actor, post=post, state="hidden"),
    "remove": lambda actor, post: services.post_delete(actor=actor, post=post),
}


@require_POST
@community_view
def moderate_view(request: HttpRequest, post_id: int, action: str) -> HttpResponse:
    if action not in _MODERATE:
        raise Http404
    post = access.post_for_moderation(user=request.user, post_id=post_id)
    try:
        _MODERATE[action](request.user, post)
    except ValidationError as exc:
        show_errors(request, exc)
    if action == "remove":
        messages.success(request, _("The post was removed."))
        return redirect("community:space", slug=post.space.slug)
    return redirect(_post_url(post))


@require_POST
@community_view
def accept_view(request: HttpRequest, post_id: int) -> HttpResponse:
    user = request.user
    post = access.post_for_view(user=user, post_id=post_id)
    comment_id = request.POST.get("comment", "")
    try:
        if comment_id:
            comment = access.comment_for_view(user=user, comment_id=comment_id)
            if comment.post_id != post.pk:
                raise Http404
            services.answer_accept(actor=user, post=post, comment=comment)
            messages.success(request, _("Marked as the accepted answer."))
        else:
            services.answer_unaccept(actor=user, post=post)
    except ValidationError as exc:
        show_errors(request, exc)
    return redirect(_post_url(post))


# --- ideas ------------------------------------------------------------------------------------


@require_POST
@community_view
def idea_vote_view(request: HttpRequest, post_id: int) -> HttpResponse:
    user = request.user
    post = access.post_for_view(user=user, post_id=post_id)
    try:
        if request.POST.get("vote") == "0":
            services.idea_unvote(user=user, post=post)
        else:
            services.idea_vote(user=user, post=post)
    except ValidationError as exc:
        show_errors(request, exc)
    return redirect(_post_url(post) + "#idea-box")


@require_POST
@community_view
def idea_status_view(request: HttpRequest, post_id: int) -> HttpResponse:
    user = request.user
    post = access.post_for_moderation(user=user, post_id=post_id)
    form = IdeaStatusForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Choose a valid status."))
        return redirect(_post_url(post))
    try:
        services.idea_status_set(
            actor=user,
            post=post,
            status=form.cleaned_data["status"],
            response=form.cleaned_data["response"],
        )
    except ValidationError as exc:
        show_errors(request, exc)
    else:
        messages.success(request, _("Status saved."))
    return redirect(_post_url(post))


# --- polls ------------------------------------------------------------------------------------


@require_POST
@community_view
def poll_vote_view(request: HttpRequest, post_id: int) -> HttpResponse:
    user = request.user
    post = access.post_for_view(user=user, post_id=post_id)
    try:
        option_ids = [int(v) for v in request.POST.getlist("option")]
    except ValueError:
        option_ids = []
    try:
        if not option_ids:
            messages.error(request, _("Choose an answer first."))
        else:
            services.poll_vote(user=user, post=post, option_ids=option_ids)
            messages.success(request, _("Thanks for voting."))
    except ValidationError as exc:
        show_errors(request, exc)
    return redirect(_post_url(post) + "#poll")


# --- contests ---------------------------------------------------------------------------------


@require_POST
@community_view
def entry_create_view(request: HttpRequest, post_id: int) -> HttpResponse:
    user = request.user
    post = access.post_for_view(user=user, post_id=post_id)
    access.can_interact(user=user, post=post).raise_if_denied()
    upload = request.FILES.get("image")
    try:
        image_id = None
        if upload is not None:
            image_id = services.attachment_upload(
                user=user, fileobj=upload, filename=upload.name
            ).pk
        services.contest_entry_create(
            user=user,
            post=post,
            title=(request.POST.get("title") or "").strip(),
            caption=request.POST.get("caption") or "",
            image_id=image_id,
        )
    except ValidationError as exc:
        show_errors(request, exc)
    else:
        messages.success(request, _("Your entry is in. Good luck!"))
    return redirect(_post_url(post) + "#contest")


@require_POST
@community_view
def entry_vote_view(request: HttpRequest, post_id: int, entry_id: int) -> HttpResponse:
    user = request.user
    post = access.post_for_view(user=user, post_id=post_id)
    contest = selectors.contest_view(user=user, post=post)
    entry = next((e for e in contest.entries if e.pk == entry_id), None)
    if entry is None:
        raise Http404
    try:
        if contest.my_vote_entry_id == entry.pk:
            services.contest_unvote(user=user, post=post)
        else:
            services.contest_vote(user=user, entry=entry)
    except ValidationError as exc:
        show_errors(request, exc)
    return redirect(f"{_post_url(post)}#entry-{entry.pk}")


@require_POST
@community_view
def contest_winners_view(request: HttpRequest, post_id: int) -> HttpResponse:
    user = request.user
    post = access.post_for_moderation(user=user, post_id=post_id)
    try:
        ids = [int(v) for v in request.POST.getlist("entry")] or None
    except ValueError:
        ids = None
    try:
        services.contest_decide(actor=user, post=post, winner_ids=ids)
    except ValidationError as exc:
        show_errors(request, exc)
    else:
        messages.success(request, _("The winners are announced."))
    return redirect(_post_url(post) + "#contest")


# --- files ------------------------------------------------------------------------------------


@require_POST
@community_view
def attachment_upload_view(request: HttpRequest, post_id: int) -> HttpResponse:
    user = request.user
    post = access.post_for_edit(user=user, post_id=post_id)
    upload = request.FILES.get("file")
    if upload is None:
        messages.error(request, _("Choose a file to upload."))
        return redirect(_post_url(post) + "#attachments")
    replaces = None
    if request.POST.get("replaces"):
        current = selectors.post_detail(user=user, post=post).attachments
        replaces = next((a for a in current if str(a.pk) == request.POST["replaces"]), None)
        if replaces is None:
            raise Http404
    try:
        services.attachment_upload(
            user=user, fileobj=upload, filename=upload.name, post=post, replaces=replaces
        )
    except ValidationError as exc:
        show_errors(request, exc)
    else:
        messages.success(request, _("File uploaded."))
    return redirect(_post_url(post) + "#attachments")


@community_view
def attachment_view(request: HttpRequest, attachment_id: int) -> HttpResponse:
    """Files are stored outside the web root and only ever leave through here."""
    attachment = access.attachment_for_download(user=request.user, attachment_id=attachment_id)
    path = services.attachment_path(attachment)
    if not path.exists():
        raise Http404
    inline = request.GET.get("inline") == "1" and attachment.kind in ("image", "pdf")
    content_type = attachment.content_type or mimetypes.guess_type(attachment.original_name)[0]
    response = FileResponse(
        path.open("rb"),
        as_attachment=not inline,
        filename=attachment.original_name,
        content_type=content_type or "application/octet-stream",
    )
    # Never let a browser sniff an upload into HTML, and keep closed files out of shared caches.
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "default-src 'none'; img-src 'self'; sandbox"
    response["Cache-Control"] = "private, max-age=0"
    return response


# --- shares -----------------------------------------------------------------------------------


@require_POST
@community_view
def share_view(request: HttpRequest, post_id: int) -> HttpResponse:
    user = request.user
    post = access.post_for_view(user=user, post_id=post_id)
    kind = request.POST.get("kind")
    try:
        if kind == "internal":
            target = access.space_for_view(user=user, slug=request.POST.get("space", ""))
            share = services.share_internal(user=user, post=post, target_space=target)
            messages.success(request, _("Reshared into %(space)s.") % {"space": target.name})
            if share.target_post_id:
                return redirect("community:post", post_id=share.target_post_id)
        else:
            _share, token = services.share_external(user=user, post=post)
            # Shown once on the post page; only the digest is stored.
            request.session[f"community_share_{post.pk}"] = token
            messages.success(request, _("Share link created. Copy it from the Share box."))
    except ValidationError as exc:
        show_errors(request, exc)
    return redirect(_post_url(post) + "#share")


@community_view
def share_link_view(request: HttpRequest, token: str) -> HttpResponse:
    """An external share link: counted, then the post — if the visitor may read it. A share link
    never grants access; an outsider gets the same page as for the post's own address."""
    post = services.share_link_open(
        token=token, user=request.user, session_key=session_key(request)
    )
    if post is None:
        raise Http404
    access.post_for_view(user=request.user, post_id=post.pk)
    return redirect(_post_url(post))
