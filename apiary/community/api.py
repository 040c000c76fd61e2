"""Community API under /api/v1/community/…: thin handlers. Reads go through ``access`` and
``selectors`` (lists filtered by ``access.posts_visible``), writes through ``services``.

Anonymous callers may read what anonymous visitors may read (``READ_AUTH``); writes need a token
or a session. A denied read answers exactly like the pages: 404 ``not_found`` for secret or
missing, 403 with ``ways`` (log in, register, join, request membership, contact the admin) and
the space for closed content."""

from __future__ import annotations

from functools import wraps

from django.contrib.auth.models import AnonymousUser
from django.http import FileResponse, Http404
from django.utils.translation import gettext as _
from ninja import File, Query, Router, Status
from ninja.files import UploadedFile

from apiary.accounts.access import api_user
from apiary.accounts.models import User
from apiary.community import access, selectors, services
from apiary.community.api_schemas import (
    AcceptIn,
    CommentIn,
    CommentPatch,
    EntryIn,
    FlagIn,
    FlagOnIn,
    FollowIn,
    IdeaStatusIn,
    InvitationIn,
    JoinIn,
    ModerateIn,
    PageQuery,
    PollVoteIn,
    PostIn,
    PostListQuery,
    PostPatch,
    ReactionIn,
    ReadIn,
    RoleIn,
    ShareIn,
    SpaceIn,
    SpacePatch,
    TokenIn,
    WinnersIn,
)
from apiary.community.models import (
    ContestEntry,
    Post,
    SpaceInvitation,
    SpaceMembership,
    Tag,
)
from apiary.core.auth import API_AUTH
from apiary.core.errors import ApiError


def _anonymous(request):
    return AnonymousUser()  # truthy: lets the handler run; access decides what it may read


READ_AUTH = [*API_AUTH, _anonymous]

router = Router(tags=["community"])


def chokepoint(view):
    """Turn the access layer's NotAvailable into the API's 403 with the ways in."""

    @wraps(view)
    def wrapped(request, *args, **kwargs):
        try:
            return view(request, *args, **kwargs)
        except access.NotAvailable as exc:
            access.api_raise(exc.decision)

    return wrapped


def _user(request):
    return api_user(request)


# Lists count this far ("count_capped" says there are more), as search and mention search do
# ("1000+"): counting 10,001 visible rows of a popular type or tag cost 84–136 ms on PostgreSQL.
COUNT_CAP = 1_000


def _count(qs) -> tuple[int, bool]:
    """The list's count, up to ``COUNT_CAP``: a full count of a million visible posts took
    0.4–0.5 s per request on PostgreSQL (and more on SQLite); counting in a subquery that
    stops after ``COUNT_CAP + 1`` rows (order dropped) costs a few milliseconds."""
    n = qs.order_by()[: COUNT_CAP + 1].count()
    return min(n, COUNT_CAP), n > COUNT_CAP


def _page(qs, page: PageQuery, render, rows=None) -> dict:
    """``rows``: the page when the caller read it another way (``selectors.post_list_page``)."""
    if rows is None:
        rows = list(qs[page.offset : page.offset + page.limit])
    count, capped = _count(qs)
    return {
        "items": [render(r) for r in rows],
        "count": count,
        "count_capped": capped,
        "limit": page.limit,
        "offset": page.offset,
    }


def _iso(dt):
    return dt.isoformat() if dt else None


def _author(user) -> dict | None:
    if user is None:
        return None
    return {"id": user.pk, "name": user.name}


def _space_card(card: selectors.SpaceCard) -> dict:
    s = card.space
    return {
        "slug": s.slug,
        "name": s.name,
        "description": s.description,
        "visibility": s.visibility,
        "join_policy": s.join_policy,
        "parent": s.parent.slug if s.parent_id else None,
        "language": s.language,
        "is_partner": s.is_partner,
        "archived": s.is_archived,
        "role": card.role,
        "membership_state": card.state,
        "can_read": card.can_read,
        "ways": [str(w) for w in card.ways],
        "posts_count": card.posts_count,
        "members_count": card.members_count,
    }


def _post_row(p: Post) -> dict:
    return {
        "id": p.pk,
        "space": p.space.slug,
        "type": p.type,
        "title": p.title,
        "excerpt": p.excerpt,
        "author": _author(p.author),
        "state": p.state,
        "audience": p.audience,
        "language": p.language,
        "pinned": p.is_pinned,
        "locked": p.is_locked,
        "idea_status": p.idea_status or None,
        "answered": p.accepted_comment_id is not None,
        "comments_count": p.comments_count,
        "reactions_count": p.reactions_count,
        "votes_count": p.votes_count,
        "shares_count": p.shares_count,
        "views_count": p.views_count,
        "published_at": _iso(p.published_at),
        "last_activity_at": _iso(p.last_activity_at),
    }


def _post_detail(user, post: Post) -> dict:
    d = selectors.post_detail(user=user, post=post)
    out = _post_row(post)
    out.update(
        body=post.body,
        body_html=post.body_html,
        tags=[t.slug for t in d.tags],
        attachments=[_attachment(a) for a in d.attachments],
        reactions=d.reaction_counts,
        my_reactions=sorted(d.my_reactions),
        my_idea_vote=d.my_idea_vote,
        accepted_comment_id=d.accepted_comment.pk if d.accepted_comment else None,
        official_response_html=post.official_response_html or None,
        reshare_of=d.reshare_of.pk if d.reshare_of else None,
        edited_at=_iso(post.edited_at),
        can_edit=d.can_edit,
        can_comment=d.can_comment.allowed,
        can_moderate=d.can_moderate,
    )
    if d.poll is not None:
        out["poll"] = _poll(d.poll)
    if d.contest is not None:
        out["contest"] = _contest(post, d.contest)
    return out


def _poll(v: selectors.PollView) -> dict:
    return {
        "multiple": v.multiple,
        "closed": v.closed,
        "results_visible": v.results_visible,
        "total": v.total,
        "my_choices": sorted(v.my_choices),
        "options": [
            {"id": o.pk, "label": o.label, "votes": (v.counts or {}).get(o.pk)} for o in v.options
        ],
    }


def _contest(post: Post, v: selectors.ContestView) -> dict:
    return {
        "entries_until": _iso(post.contest_entries_until),
        "voting_from": _iso(post.contest_voting_from),
        "voting_until": _iso(post.contest_voting_until),
        "entries_open": v.entries_open,
        "voting_open": v.voting_open,
        "counts_visible": v.counts_visible,
        "my_vote_entry_id": v.my_vote_entry_id,
        "entries": [
            {
                "id": e.pk,
                "title": e.title,
                "caption_html": e.caption_html,
                "author": _author(e.author),
                "image_id": e.image_id,
                "votes": e.votes_count,
                "winner_rank": e.winner_rank,
            }
            for e in v.entries
        ],
    }


def _attachment(a) -> dict:
    return {
        "id": a.pk,
        "name": a.original_name,
        "kind": a.kind,
        "content_type": a.content_type,
        "size": a.size,
        "width": a.width,
        "height": a.height,
        "version": a.version,
    }


def _comment(c) -> dict:
    return {
        "id": c.pk,
        "post_id": c.post_id,
        "parent_id": c.parent_id,
        "author": _author(c.author),
        "body": c.body,
        "body_html": c.body_html,
        "state": c.state,
        "reactions_count": c.reactions_count,
        "created_at": _iso(c.created_at),
        "edited_at": _iso(c.edited_at),
    }


def _membership(m: SpaceMembership) -> dict:
    return {
        "user": _author(m.user),
        "role": m.role,
        "state": m.state,
        "note": m.request_note,
        "created_at": _iso(m.created_at),
    }


def _space_by_slug(user, slug: str):
    return access.space_for_view(user=user, slug=slug)


# --- spaces -----------------------------------------------------------------------------------


@router.get("/community/spaces", auth=READ_AUTH)
def space_list(request, parent: str | None = None):
    user = _user(request)
    parent_space = access.space_for_join(user=user, slug=parent) if parent else None
    return [_space_card(c) for c in selectors.space_list(user=user, parent=parent_space)]


@router.get("/community/spaces/{slug}", auth=READ_AUTH)
@chokepoint
def space_get(request, slug: str):
    user = _user(request)
    space = _space_by_slug(user, slug)
    card = selectors.space_card(user=user, space=space)
    out = _space_card(card)
    out["children"] = [_space_card(c) for c in selectors.space_children(user=user, space=space)]
    return out


@router.post("/community/spaces", response={201: dict})
@chokepoint
def space_create(request, payload: SpaceIn):
    user = _user(request)
    data = payload.model_dump()
    parent_slug = data.pop("parent")
    parent = access.space_for_manage(user=user, slug=parent_slug) if parent_slug else None
    space = services.space_create(actor=user, parent=parent, **data)
    return Status(201, _space_card(selectors.space_card(user=user, space=space)))


@router.patch("/community/spaces/{slug}")
@chokepoint
def space_update(request, slug: str, payload: SpacePatch):
    user = _user(request)
    space = access.space_for_manage(user=user, slug=slug)
    data = payload.model_dump(exclude_unset=True)
    archived = data.pop("archived", None)
    if data:
        space = services.space_update(actor=user, space=space, **data)
    if archived is not None:
        space = services.space_archive(actor=user, space=space, archived=archived)
    access.memberships_forget(user)
    return _space_card(selectors.space_card(user=user, space=space))


@router.post("/community/spaces/{slug}/join")
@chokepoint
def space_join(request, slug: str, payload: JoinIn):
    user = _user(request)
    space = access.space_for_join(user=user, slug=slug)
    membership = services.space_join(user=user, space=space, note=payload.note)
    return _membership(membership)


@router.post("/community/spaces/{slug}/leave", response={204: None})
@chokepoint
def space_leave(request, slug: str):
    user = _user(request)
    space = access.space_for_join(user=user, slug=slug)
    services.space_leave(user=user, space=space)
    return Status(204, None)


@router.get("/community/spaces/{slug}/members")
@chokepoint
def member_list(request, slug: str, page: Query[PageQuery], state: str | None = None):
    user = _user(request)
    space = _space_by_slug(user, slug)
    return _page(selectors.membership_list(actor=user, space=space, state=state), page, _membership)


def _membership_of(space, user_id: int) -> SpaceMembership:
    m = SpaceMembership.objects.select_related("user", "space").filter(space=space, user_id=user_id)
    found = m.first()
    if found is None:
        raise ApiError(404, "not_found", _("No such member of this space."))
    return found


@router.post("/community/spaces/{slug}/members/{user_id}/{action}")
@chokepoint
def member_action(request, slug: str, user_id: int, action: str, payload: RoleIn | None = None):
    user = _user(request)
    space = _space_by_slug(user, slug)
    if action == "approve":
        return _membership(
            services.membership_approve(actor=user, membership=_membership_of(space, user_id))
        )
    if action == "reject":
        services.membership_reject(actor=user, membership=_membership_of(space, user_id))
        return {"ok": True}
    target = User.objects.filter(pk=user_id).first()
    if target is None:
        raise ApiError(404, "not_found", _("No such member."))
    if action == "role":
        if payload is None:
            raise ApiError(422, "validation_error", _('Send {"role": …}.'))
        return _membership(
            services.membership_role_set(actor=user, space=space, user=target, role=payload.role)
        )
    if action == "ban":
        return _membership(services.membership_ban(actor=user, space=space, user=target))
    if action == "unban":
        services.membership_unban(actor=user, space=space, user=target)
        return {"ok": True}
    if action == "remove":
        services.membership_remove(actor=user, space=space, user=target)
        return {"ok": True}
    raise ApiError(
        404, "not_found", _("Unknown action: use approve, reject, role, ban, unban or remove.")
    )


@router.get("/community/spaces/{slug}/export", auth=READ_AUTH)
@chokepoint
def space_export(request, slug: str):
    user = _user(request)
    return selectors.space_export(user=user, space=_space_by_slug(user, slug))


# --- invitations ------------------------------------------------------------------------------


def _invitation(i: SpaceInvitation, raw: str | None = None) -> dict:
    out = {
        "id": i.pk,
        "space": i.space.slug,
        "prefix": i.prefix,
        "role": i.role,
        "email": i.email,
        "max_uses": i.max_uses,
        "uses_count": i.uses_count,
        "expires_at": _iso(i.expires_at),
        "revoked": i.revoked_at is not None,
        "usable": i.is_usable,
    }
    if raw:
        out["token"] = raw  # shown once
    return out


@router.get("/community/spaces/{slug}/invitations")
@chokepoint
def invitation_list(request, slug: str, page: Query[PageQuery]):
    user = _user(request)
    space = _space_by_slug(user, slug)
    return _page(selectors.invitation_list(actor=user, space=space), page, _invitation)


@router.post("/community/spaces/{slug}/invitations", response={201: dict})
@chokepoint
def invitation_create(request, slug: str, payload: InvitationIn):
    user = _user(request)
    space = access.space_for_manage(user=user, slug=slug)
    invitation, raw = services.invitation_create(actor=user, space=space, **payload.model_dump())
    return Status(201, _invitation(invitation, raw))


@router.post("/community/invitations/accept")
@chokepoint
def invitation_accept(request, payload: TokenIn):
    user = _user(request)
    membership = services.invitation_accept(user=user, token=payload.token)
    return {"space": membership.space.slug, **_membership(membership)}


@router.delete("/community/invitations/{invitation_id}")
@chokepoint
def invitation_revoke(request, invitation_id: int):
    user = _user(request)
    invitation = SpaceInvitation.objects.select_related("space").filter(pk=invitation_id).first()
    if invitation is None:
        raise Http404
    access.space_for_manage(user=user, space_id=invitation.space_id)
    return _invitation(services.invitation_revoke(actor=user, invitation=invitation))


# --- posts ------------------------------------------------------------------------------------


@router.get("/community/posts", auth=READ_AUTH)
@chokepoint
def post_list(request, q: Query[PostListQuery]):
    user = _user(request)
    space = _space_by_slug(user, q.space) if q.space else None
    author = User.objects.filter(pk=q.author).first() if q.author else None
    if q.author and author is None:
        empty = {"items": [], "count": 0, "count_capped": False}
        return empty | {"limit": q.limit, "offset": q.offset}
    filters = {
        "user": user,
        "space": space,
        "type": q.type,
        "tag": q.tag,
        "author": author,
        "answered": q.answered,
        "idea_status": q.idea_status,
        "order": q.order,
        "search": q.q or "",
    }
    rows = selectors.post_list_page(offset=q.offset, limit=q.limit, **filters)
    return _page(selectors.post_list(**filters, pinned_first=False), q, _post_row, rows)


@router.get("/community/posts/{post_id}", auth=READ_AUTH)
@chokepoint
def post_get(request, post_id: int):
    user = _user(request)
    post = access.post_for_view(user=user, post_id=post_id)
    return _post_detail(user, post)


@router.post("/community/posts", response={201: dict})
@chokepoint
def post_create(request, payload: PostIn):
    user = _user(request)
    data = payload.model_dump()
    space = _space_by_slug(user, data.pop("space"))
    post = services.post_create(author=user, space=space, **data)
    return Status(201, _post_detail(user, post))


@router.patch("/community/posts/{post_id}")
@chokepoint
def post_update(request, post_id: int, payload: PostPatch):
    user = _user(request)
    post = access.post_for_edit(user=user, post_id=post_id)
    post = services.post_update(actor=user, post=post, **payload.model_dump(exclude_unset=True))
    return _post_detail(user, post)


@router.delete("/community/posts/{post_id}", response={204: None})
@chokepoint
def post_delete(request, post_id: int):
    user = _user(request)
    services.post_delete(actor=user, post=access.post_for_edit(user=user, post_id=post_id))
    return Status(204, None)


@router.post("/community/posts/{post_id}/publish")
@chokepoint
def post_publish(request, post_id: int):
    user = _user(request)
    post = access.post_for_edit(user=user, post_id=post_id)
    return _post_detail(user, services.post_publish(actor=user, post=post))


@router.post("/community/posts/{post_id}/pin")
@chokepoint
def post_pin(request, post_id: int, payload: FlagOnIn):
    user = _user(request)
    post = access.post_for_moderation(user=user, post_id=post_id)
    return _post_row(services.post_pin(actor=user, post=post, pinned=payload.on))


@router.post("/community/posts/{post_id}/lock")
@chokepoint
def post_lock(request, post_id: int, payload: FlagOnIn):
    user = _user(request)
    post = access.post_for_moderation(user=user, post_id=post_id)
    return _post_row(services.post_lock(actor=user, post=post, locked=payload.on))


@router.post("/community/posts/{post_id}/moderate")
@chokepoint
def post_moderate(request, post_id: int, payload: ModerateIn):
    user = _user(request)
    post = access.post_for_moderation(user=user, post_id=post_id)
    return _post_row(services.post_moderate(actor=user, post=post, state=payload.state))


@router.get("/community/posts/{post_id}/revisions")
@chokepoint
def revision_list(request, post_id: int, page: Query[PageQuery]):
    user = _user(request)
    post = access.post_for_view(user=user, post_id=post_id)
    return _page(
        selectors.revision_list(user=user, post=post),
        page,
        lambda r: {
            "number": r.number,
            "title": r.title,
            "body": r.body,
            "editor": _author(r.editor),
            "created_at": _iso(r.created_at),
        },
    )


# --- comments, reactions, answers -------------------------------------------------------------


@router.get("/community/posts/{post_id}/comments", auth=READ_AUTH)
@chokepoint
def comment_list(request, post_id: int):
    user = _user(request)
    post = access.post_for_view(user=user, post_id=post_id)
    out = []
    for c in selectors.comment_list(user=user, post=post):
        row = _comment(c)
        row["replies"] = [_comment(r) for r in c.visible_replies]
        out.append(row)
    return out


@router.post("/community/posts/{post_id}/comments", response={201: dict})
@chokepoint
def comment_create(request, post_id: int, payload: CommentIn):
    user = _user(request)
    post = access.post_for_view(user=user, post_id=post_id)
    parent = None
    if payload.parent_id:
        parent = access.comment_for_view(user=user, comment_id=payload.parent_id)
    comment = services.comment_create(author=user, post=post, body=payload.body, parent=parent)
    return Status(201, _comment(comment))


@router.patch("/community/comments/{comment_id}")
@chokepoint
def comment_update(request, comment_id: int, payload: CommentPatch):
    user = _user(request)
    comment = access.comment_for_edit(user=user, comment_id=comment_id)
    return _comment(services.comment_update(actor=user, comment=comment, body=payload.body))


@router.delete("/community/comments/{comment_id}", response={204: None})
@chokepoint
def comment_delete(request, comment_id: int):
    user = _user(request)
    comment = access.comment_for_edit(user=user, comment_id=comment_id)
    services.comment_delete(actor=user, comment=comment)
    return Status(204, None)


@router.post("/community/posts/{post_id}/reactions")
@chokepoint
def post_react(request, post_id: int, payload: ReactionIn):
    user = _user(request)
    post = access.post_for_view(user=user, post_id=post_id)
    services.reaction_add(user=user, kind=payload.kind, post=post)
    return {"kind": payload.kind, "reacted": True}


@router.delete("/community/posts/{post_id}/reactions/{kind}")
@chokepoint
def post_unreact(request, post_id: int, kind: str):
    user = _user(request)
    post = access.post_for_view(user=user, post_id=post_id)
    return {"kind": kind, "removed": services.reaction_remove(user=user, kind=kind, post=post)}


@router.post("/community/comments/{comment_id}/reactions")
@chokepoint
def comment_react(request, comment_id: int, payload: ReactionIn):
    user = _user(request)
    comment = access.comment_for_view(user=user, comment_id=comment_id)
    services.reaction_add(user=user, kind=payload.kind, comment=comment)
    return {"kind": payload.kind, "reacted": True}


@router.delete("/community/comments/{comment_id}/reactions/{kind}")
@chokepoint
def comment_unreact(request, comment_id: int, kind: str):
    user = _user(request)
    comment = access.comment_for_view(user=user, comment_id=comment_id)
    return {
        "kind": kind,
        "removed": services.reaction_remove(user=user, kind=kind, comment=comment),
    }


@router.post("/community/posts/{post_id}/accept")
@chokepoint
def answer_accept(request, post_id: int, payload: AcceptIn):
    user = _user(request)
    post = access.post_for_view(user=user, post_id=post_id)
    if payload.comment_id is None:
        post = services.answer_unaccept(actor=user, post=post)
    else:
        comment = access.comment_for_view(user=user, comment_id=payload.comment_id)
        post = services.answer_accept(actor=user, post=post, comment=comment)
    return {"accepted_comment_id": post.accepted_comment_id}


@router.post("/community/posts/{post_id}/flags", response={201: dict})
@chokepoint
def flag_create(request, post_id: int, payload: FlagIn):
    user = _user(request)
    post = access.post_for_view(user=user, post_id=post_id)
    comment = None
    if payload.comment_id:
        comment = access.comment_for_view(user=user, comment_id=payload.comment_id)
        if comment.post_id != post.pk:
            raise ApiError(422, "validation_error", _("The comment is not on this post."))
    flag = services.flag_create(
        user=user,
        reason=payload.reason,
        note=payload.note,
        post=None if comment else post,
        comment=comment,
    )
    return Status(201, {"id": flag.pk, "reason": flag.reason, "state": flag.state})


# --- ideas, polls, contests -------------------------------------------------------------------


@router.post("/community/posts/{post_id}/vote")
@chokepoint
def idea_vote(request, post_id: int):
    user = _user(request)
    post = access.post_for_view(user=user, post_id=post_id)
    services.idea_vote(user=user, post=post)
    post.refresh_from_db(fields=["votes_count"])
    return {"voted": True, "votes_count": post.votes_count}


@router.delete("/community/posts/{post_id}/vote")
@chokepoint
def idea_unvote(request, post_id: int):
    user = _user(request)
    post = access.post_for_view(user=user, post_id=post_id)
    services.idea_unvote(user=user, post=post)
    post.refresh_from_db(fields=["votes_count"])
    return {"voted": False, "votes_count": post.votes_count}


@router.post("/community/posts/{post_id}/status")
@chokepoint
def idea_status(request, post_id: int, payload: IdeaStatusIn):
    user = _user(request)
    post = access.post_for_moderation(user=user, post_id=post_id)
    post = services.idea_status_set(actor=user, post=post, **payload.model_dump())
    return _post_detail(user, post)


@router.get("/community/roadmap", auth=READ_AUTH)
@chokepoint
def roadmap(request, space: str | None = None):
    user = _user(request)
    space_obj = _space_by_slug(user, space) if space else None
    grouped = selectors.roadmap(user=user, space=space_obj)
    return {status: [_post_row(p) for p in posts] for status, posts in grouped.items()}


@router.get("/community/posts/{post_id}/poll", auth=READ_AUTH)
@chokepoint
def poll_get(request, post_id: int):
    user = _user(request)
    post = access.post_for_view(user=user, post_id=post_id)
    if post.type != "poll":
        raise ApiError(404, "not_found", _("This post is not a poll."))
    return _poll(selectors.poll_view(user=user, post=post))


@router.post("/community/posts/{post_id}/poll/vote")
@chokepoint
def poll_vote(request, post_id: int, payload: PollVoteIn):
    user = _user(request)
    post = access.post_for_view(user=user, post_id=post_id)
    services.poll_vote(user=user, post=post, option_ids=payload.option_ids)
    post.refresh_from_db()
    return _poll(selectors.poll_view(user=user, post=post))


@router.delete("/community/posts/{post_id}/poll/vote")
@chokepoint
def poll_unvote(request, post_id: int):
    user = _user(request)
    post = access.post_for_view(user=user, post_id=post_id)
    services.poll_unvote(user=user, post=post)
    post.refresh_from_db()
    return _poll(selectors.poll_view(user=user, post=post))


@router.get("/community/posts/{post_id}/contest", auth=READ_AUTH)
@chokepoint
def contest_get(request, post_id: int):
    user = _user(request)
    post = access.post_for_view(user=user, post_id=post_id)
    if post.type != "contest":
        raise ApiError(404, "not_found", _("This post is not a contest."))
    return _contest(post, selectors.contest_view(user=user, post=post))


@router.post("/community/posts/{post_id}/entries", response={201: dict})
@chokepoint
def contest_entry(request, post_id: int, payload: EntryIn):
    user = _user(request)
    post = access.post_for_view(user=user, post_id=post_id)
    entry = services.contest_entry_create(user=user, post=post, **payload.model_dump())
    return Status(201, {"id": entry.pk, "title": entry.title, "image_id": entry.image_id})


@router.post("/community/entries/{entry_id}/vote")
@chokepoint
def contest_vote(request, entry_id: int):
    user = _user(request)
    entry = ContestEntry.objects.filter(pk=entry_id).first()
    if entry is None:
        raise Http404
    post = access.post_for_view(user=user, post_id=entry.post_id)
    entry.post = post
    services.contest_vote(user=user, entry=entry)
    return {"voted_entry_id": entry.pk}


@router.post("/community/posts/{post_id}/winners")
@chokepoint
def contest_winners(request, post_id: int, payload: WinnersIn):
    user = _user(request)
    post = access.post_for_moderation(user=user, post_id=post_id)
    winners = services.contest_decide(actor=user, post=post, winner_ids=payload.winner_ids)
    return {"winners": [{"id": e.pk, "rank": e.winner_rank} for e in winners]}


# --- shares, tags, attachments ----------------------------------------------------------------


@router.post("/community/posts/{post_id}/shares", response={201: dict})
@chokepoint
def share_create(request, post_id: int, payload: ShareIn):
    user = _user(request)
    post = access.post_for_view(user=user, post_id=post_id)
    if payload.kind == "internal":
        if not payload.target_space:
            raise ApiError(422, "validation_error", _("Name the target space."))
        target = _space_by_slug(user, payload.target_space)
        share = services.share_internal(
            user=user, post=post, target_space=target, note=payload.note
        )
        return Status(201, {"id": share.pk, "kind": "internal", "post_id": share.target_post_id})
    share, raw = services.share_external(user=user, post=post)
    return Status(201, {"id": share.pk, "kind": "external", "token": raw})


@router.get("/community/tags", auth=READ_AUTH)
def tag_list(request, limit: int = 50):
    if not 1 <= limit <= 200:
        raise ApiError(422, "validation_error", _("limit must be 1–200."))
    user = _user(request)
    return [
        {"slug": t.slug, "name": t.name, "count": n}
        for t, n in selectors.tag_cloud(user=user, limit=limit)
    ]


@router.get("/community/tags/{slug}/posts", auth=READ_AUTH)
def tag_posts(request, slug: str, page: Query[PageQuery]):
    user = _user(request)
    tag, qs = selectors.tag_posts(user=user, slug=slug)
    rows = selectors.post_list_page(user=user, tag=tag.slug, offset=page.offset, limit=page.limit)
    out = _page(qs, page, _post_row, rows)
    out["tag"] = {"slug": tag.slug, "name": tag.name}
    return out


@router.post("/community/attachments", response={201: dict})
@chokepoint
def attachment_upload(request, file: File[UploadedFile], post_id: int | None = None):
    user = _user(request)
    post = access.post_for_edit(user=user, post_id=post_id) if post_id else None
    attachment = services.attachment_upload(
        user=user, fileobj=file, filename=file.name or "file", post=post
    )
    return Status(201, _attachment(attachment))


@router.get("/community/attachments/{attachment_id}", auth=READ_AUTH)
@chokepoint
def attachment_download(request, attachment_id: int):
    user = _user(request)
    attachment = access.attachment_for_download(user=user, attachment_id=attachment_id)
    path = services.attachment_path(attachment)
    if not path.exists():
        raise ApiError(404, "not_found", _("The file is missing from storage."))
    inline = attachment.kind == "image"
    response = FileResponse(
        path.open("rb"),
        as_attachment=not inline,
        filename=attachment.original_name,
        content_type=attachment.content_type,
    )
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    response["Cache-Control"] = "private, no-store"
    return response


# --- people, follows, notifications -----------------------------------------------------------


@router.get("/community/people/{user_id}/posts", auth=READ_AUTH)
def profile_posts(request, user_id: int, page: Query[PageQuery]):
    user = _user(request)
    author = User.objects.filter(pk=user_id, is_active=True).first()
    if author is None:
        raise ApiError(404, "not_found", _("Not found."))
    return _page(selectors.profile_feed(viewer=user, user=author), page, _post_row)


@router.get("/community/follows")
def follow_list(request):
    user = _user(request)
    out = []
    for f in selectors.follow_list(user=user):
        if f.user_id:
            out.append({"user_id": f.user_id, "name": f.user.name})
        elif f.space_id:
            out.append({"space": f.space.slug, "name": f.space.name})
        elif f.tag_id:
            out.append({"tag": f.tag.slug})
        else:
            out.append({"post_id": f.post_id, "title": f.post.title})
    return out


def _follow_target(user, payload: FollowIn) -> dict:
    given = [v for v in payload.model_dump().values() if v is not None]
    if len(given) != 1:
        raise ApiError(
            422, "validation_error", _("Give exactly one of user_id, space, tag, post_id.")
        )
    if payload.user_id is not None:
        target = User.objects.filter(pk=payload.user_id, is_active=True).first()
        if target is None:
            raise ApiError(404, "not_found", _("Not found."))
        return {"user": target}
    if payload.space is not None:
        return {"space": access.space_for_view(user=user, slug=payload.space)}
    if payload.tag is not None:
        tag = Tag.objects.filter(slug=payload.tag).first()
        if tag is None:
            raise ApiError(404, "not_found", _("Not found."))
        return {"tag": tag}
    return {"post": access.post_for_view(user=user, post_id=payload.post_id)}


@router.post("/community/follows", response={201: dict})
@chokepoint
def follow_add(request, payload: FollowIn):
    user = _user(request)
    follow = services.follow_add(follower=user, **_follow_target(user, payload))
    return Status(201, {"id": follow.pk})


@router.delete("/community/follows", response={204: None})
@chokepoint
def follow_remove(request, payload: FollowIn):
    user = _user(request)
    services.follow_remove(follower=user, **_follow_target(user, payload))
    return Status(204, None)


@router.get("/community/notifications")
def notification_list(request, page: Query[PageQuery], unread: bool = False):
    user = _user(request)
    qs = selectors.notification_list(user=user, unread_only=unread)
    out = _page(qs, page, selectors.notification_render)
    for item in out["items"]:
        item["created_at"] = _iso(item["created_at"])
    out["unread"] = selectors.notification_unread_count(user=user)
    return out


@router.post("/community/notifications/read")
def notification_read(request, payload: ReadIn):
    user = _user(request)
    return {"marked": services.notifications_mark_read(user=user, ids=payload.ids)}


# Search and the personalised feed (api_search.py) share this router's paths and tags.
from apiary.community.api_search import router as _search_router  # noqa: E402

router.add_router("", _search_router)

# The caller's e-mail choices (api_mail.py): /community/me/notification-settings.
from apiary.community.api_mail import router as _mail_router  # noqa: E402

router.add_router("", _mail_router)
