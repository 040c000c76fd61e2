"""Community API shapes: strict inputs and plain-dict outputs built from access-checked rows."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from ninja import Field, Schema

from apiary.core.schemas import StrictIn

Visibility = Literal["public", "registered", "closed", "secret"]
JoinPolicy = Literal["open", "request", "invitation"]
PostTypeIn = Literal["discussion", "question", "idea", "blog", "document", "poll", "contest"]
AudienceIn = Literal["everyone", "registered", "members"]
Reaction = Literal["like", "love", "insightful", "laugh", "celebrate"]


class PageQuery(Schema):
    limit: int = Field(50, ge=1, le=200)
    offset: int = Field(0, ge=0)


class PostListQuery(PageQuery):
    space: str | None = Field(None, max_length=80)
    type: PostTypeIn | None = None
    tag: str | None = Field(None, max_length=60)
    author: int | None = None
    answered: bool | None = None
    idea_status: (
        Literal["new", "under_review", "planned", "in_progress", "shipped", "declined"] | None
    ) = None
    order: Literal["activity", "new", "top", "views"] = "activity"
    q: str | None = Field(None, max_length=200)


class SpaceIn(StrictIn):
    name: str = Field(..., min_length=1, max_length=120)
    slug: str = Field("", max_length=80)
    description: str = Field("", max_length=5000)
    visibility: Visibility = "public"
    join_policy: JoinPolicy = "open"
    parent: str | None = Field(None, max_length=80)
    language: str = Field("", max_length=8)
    is_partner: bool = False
    members_only_posting: bool = False
    contact_email: str = Field("", max_length=254)


class SpacePatch(StrictIn):
    name: str | None = Field(None, min_length=1, max_length=120)
    description: str | None = Field(None, max_length=5000)
    visibility: Visibility | None = None
    join_policy: JoinPolicy | None = None
    language: str | None = Field(None, max_length=8)
    is_partner: bool | None = None
    members_only_posting: bool | None = None
    contact_email: str | None = Field(None, max_length=254)
    archived: bool | None = None


class JoinIn(StrictIn):
    note: str = Field("", max_length=500)


class RoleIn(StrictIn):
    role: Literal["owner", "moderator", "member"]


class InvitationIn(StrictIn):
    role: Literal["member", "moderator"] = "member"
    max_uses: int | None = Field(1, ge=1, le=100_000)
    expires_at: datetime | None = None
    email: str = Field("", max_length=254)
    note: str = Field("", max_length=200)


class TokenIn(StrictIn):
    token: str = Field(..., min_length=1, max_length=200)


class PostIn(StrictIn):
    space: str = Field(..., max_length=80)
    type: PostTypeIn = "discussion"
    title: str = Field(..., min_length=1, max_length=200)
    body: str = Field("", max_length=60_000)
    audience: AudienceIn = "everyone"
    publish: bool = True
    tags: list[str] = Field(default_factory=list, max_length=8)
    language: str = Field("", max_length=8)
    attachment_ids: list[int] = Field(default_factory=list, max_length=20)
    poll_options: list[str] = Field(default_factory=list, max_length=20)
    poll_multiple: bool = False
    poll_closes_at: datetime | None = None
    poll_results: Literal["always", "after_vote", "after_close"] = "always"
    contest_entries_until: datetime | None = None
    contest_voting_from: datetime | None = None
    contest_voting_until: datetime | None = None


class PostPatch(StrictIn):
    title: str | None = Field(None, min_length=1, max_length=200)
    body: str | None = Field(None, max_length=60_000)
    audience: AudienceIn | None = None
    tags: list[str] | None = Field(None, max_length=8)


class FlagOnIn(StrictIn):
    on: bool = True


class ModerateIn(StrictIn):
    state: Literal["published", "hidden", "removed"]


class CommentIn(StrictIn):
    body: str = Field(..., min_length=1, max_length=20_000)
    parent_id: int | None = None


class CommentPatch(StrictIn):
    body: str = Field(..., min_length=1, max_length=20_000)


class ReactionIn(StrictIn):
    kind: Reaction = "like"


class AcceptIn(StrictIn):
    comment_id: int | None  # null un-accepts


class IdeaStatusIn(StrictIn):
    status: Literal["new", "under_review", "planned", "in_progress", "shipped", "declined"]
    response: str = Field("", max_length=60_000)


class PollVoteIn(StrictIn):
    option_ids: list[int] = Field(..., min_length=1, max_length=20)


class EntryIn(StrictIn):
    title: str = Field(..., min_length=1, max_length=200)
    caption: str = Field("", max_length=5000)
    image_id: int | None = None


class WinnersIn(StrictIn):
    winner_ids: list[int] | None = Field(None, max_length=20)


class ShareIn(StrictIn):
    kind: Literal["internal", "external"]
    target_space: str | None = Field(None, max_length=80)
    note: str = Field("", max_length=5000)


class FollowIn(StrictIn):
    user_id: int | None = None
    space: str | None = Field(None, max_length=80)
    tag: str | None = Field(None, max_length=60)
    post_id: int | None = None


class ReadIn(StrictIn):
    ids: list[int] | None = Field(None, max_length=500)


class FlagIn(StrictIn):
    reason: Literal["spam", "abuse", "off_topic", "illegal", "other"]
    note: str = Field("", max_length=500)
    comment_id: int | None = None
