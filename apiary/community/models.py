"""Community: spaces, memberships, invitations, content of every type and what hangs off it.

Writes go through ``services.py``, reads through ``selectors.py``, and every read of a space,
post, comment, attachment, poll result, profile feed or notification is decided by ``access.py``
(the one chokepoint). Nothing here holds business logic.

Why these shapes:

- **Visibility lives on the space** (public / registered / closed / secret) and a post narrows it
  further with ``audience`` (everyone / registered visitors / space members), which is how a
  public space carries differentiated "members only" content.
- A sub-space is never *less* restrictive than its parent (checked by ``space_create`` /
  ``space_update``), so a post's visibility is decided by its own space alone.
- **Notifications store references, never copies of text.** Their wording is rendered when read,
  after access is checked again, so a title cannot leak once someone loses access.
- **Counters are denormalised** on posts and spaces (updated with ``F()`` in services) because
  topic and space pages must not count rows per request.
- **ActivityEvent** is append-only and deliberately un-normalised (ids without foreign-key
  constraints), so recording a view costs one small insert and deleting content never cascades
  through the analytics history.
- **Invitation tokens are stored as SHA-256 digests only**; the secret is shown once.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

USER = settings.AUTH_USER_MODEL


class Visibility(models.TextChoices):
    PUBLIC = "public", _("Public: anyone, including visitors who are not logged in")
    REGISTERED = "registered", _("Registered: any logged-in member")
    CLOSED = "closed", _("Closed: anyone sees it exists, only members read it")
    SECRET = "secret", _("Secret: invisible to non-members")


# From least to most restrictive; a sub-space may not be looser than its parent.
VISIBILITY_ORDER = {"public": 0, "registered": 1, "closed": 2, "secret": 3}


class JoinPolicy(models.TextChoices):
    OPEN = "open", _("Anyone may join")
    REQUEST = "request", _("Members ask to join and a moderator approves")
    INVITATION = "invitation", _("By invitation only")


class Space(models.Model):
    slug = models.SlugField(_("address"), max_length=80, unique=True)
    name = models.CharField(_("name"), max_length=120)
    description = models.TextField(_("description"), blank=True)
    parent = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="children"
    )
    visibility = models.CharField(
        _("visibility"), max_length=12, choices=Visibility.choices, default=Visibility.PUBLIC
    )
    join_policy = models.CharField(
        _("joining"), max_length=12, choices=JoinPolicy.choices, default=JoinPolicy.OPEN
    )
    language = models.CharField(_("language"), max_length=8, blank=True)
    # Partner spaces: closed or secret spaces whose members come in through invitation links.
    is_partner = models.BooleanField(_("partner space"), default=False)
    # Only members may start topics (otherwise any logged-in visitor of a public or registered
    # space may); closed and secret spaces always need membership.
    members_only_posting = models.BooleanField(_("only members may post"), default=False)
    contact_email = models.EmailField(_("contact e-mail"), blank=True)
    archived_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        USER, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    members_count = models.PositiveIntegerField(default=0)
    posts_count = models.PositiveIntegerField(default=0)
    last_activity_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["name"]
        indexes = [models.Index(fields=["visibility", "archived_at"])]

    def __str__(self) -> str:
        return self.name

    @property
    def is_archived(self) -> bool:
        return self.archived_at is not None


class SpaceRole(models.TextChoices):
    OWNER = "owner", _("Owner")
    MODERATOR = "moderator", _("Moderator")
    MEMBER = "member", _("Member")


class MembershipState(models.TextChoices):
    ACTIVE = "active", _("Active")
    PENDING = "pending", _("Waiting for approval")
    BANNED = "banned", _("Banned")


class SpaceMembership(models.Model):
    space = models.ForeignKey(Space, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(USER, on_delete=models.CASCADE, related_name="space_memberships")
    role = models.CharField(max_length=12, choices=SpaceRole.choices, default=SpaceRole.MEMBER)
    state = models.CharField(
        max_length=12, choices=MembershipState.choices, default=MembershipState.ACTIVE
    )
    request_note = models.CharField(max_length=500, blank=True)
    invitation = models.ForeignKey(
        "SpaceInvitation", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    decided_by = models.ForeignKey(
        USER, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["space", "user"], name="community_membership_unique")
        ]
        indexes = [models.Index(fields=["user", "state"]), models.Index(fields=["space", "state"])]

    def __str__(self) -> str:
        return f"{self.user_id} in {self.space_id} ({self.role}, {self.state})"


class SpaceInvitation(models.Model):
    """An invitation link. Only the SHA-256 digest of the token is stored."""

    space = models.ForeignKey(Space, on_delete=models.CASCADE, related_name="invitations")
    prefix = models.CharField(max_length=12)
    digest = models.CharField(max_length=64, unique=True)
    role = models.CharField(max_length=12, choices=SpaceRole.choices, default=SpaceRole.MEMBER)
    email = models.EmailField(blank=True)  # when set, only this address may accept
    note = models.CharField(max_length=200, blank=True)
    max_uses = models.PositiveIntegerField(null=True, blank=True)  # null = unlimited
    uses_count = models.PositiveIntegerField(default=0)
    expires_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        USER, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"invitation {self.prefix}… to {self.space_id}"

    @property
    def is_usable(self) -> bool:
        now = timezone.now()
        return (
            self.revoked_at is None
            and (self.expires_at is None or self.expires_at > now)
            and (self.max_uses is None or self.uses_count < self.max_uses)
        )


class Profile(models.Model):
    """A member's community face: the @handle used for mentions and the profile page."""

    user = models.OneToOneField(USER, on_delete=models.CASCADE, related_name="community_profile")
    handle = models.CharField(max_length=40, unique=True)  # lower-case [a-z0-9_]
    bio = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"@{self.handle}"


class PostType(models.TextChoices):
    DISCUSSION = "discussion", _("Discussion")
    QUESTION = "question", _("Question")
    IDEA = "idea", _("Idea")
    BLOG = "blog", _("Blog post")
    DOCUMENT = "document", _("Document")
    POLL = "poll", _("Poll")
    CONTEST = "contest", _("Photo contest")


class PostState(models.TextChoices):
    DRAFT = "draft", _("Draft")
    PUBLISHED = "published", _("Published")
    PENDING = "pending", _("Waiting for approval")
    HIDDEN = "hidden", _("Hidden pending review")
    REMOVED = "removed", _("Removed")


class Audience(models.TextChoices):
    EVERYONE = "everyone", _("Everyone who can see the space")
    REGISTERED = "registered", _("Logged-in members only")
    MEMBERS = "members", _("Members of this space only")


class IdeaStatus(models.TextChoices):
    NEW = "new", _("New")
    UNDER_REVIEW = "under_review", _("Under review")
    PLANNED = "planned", _("Planned")
    IN_PROGRESS = "in_progress", _("In progress")
    SHIPPED = "shipped", _("Shipped")
    DECLINED = "declined", _("Declined")


class ResultsVisibility(models.TextChoices):
    ALWAYS = "always", _("Always")
    AFTER_VOTE = "after_vote", _("After voting")
    AFTER_CLOSE = "after_close", _("After the poll closes")


class Post(models.Model):
    space = models.ForeignKey(Space, on_delete=models.CASCADE, related_name="posts")
    type = models.CharField(max_length=12, choices=PostType.choices, default=PostType.DISCUSSION)
    title = models.CharField(_("title"), max_length=200)
    body = models.TextField(_("text"), blank=True)  # Markdown as written
    body_html = models.TextField(blank=True)  # rendered and sanitised with nh3
    excerpt = models.CharField(max_length=300, blank=True)  # plain text for lists and previews
    language = models.CharField(max_length=8, blank=True)
    author = models.ForeignKey(
        USER, null=True, blank=True, on_delete=models.SET_NULL, related_name="community_posts"
    )
    state = models.CharField(max_length=12, choices=PostState.choices, default=PostState.DRAFT)
    audience = models.CharField(max_length=12, choices=Audience.choices, default=Audience.EVERYONE)
    pinned_at = models.DateTimeField(null=True, blank=True)
    locked_at = models.DateTimeField(null=True, blank=True)
    # Internal reshare: a post in another space pointing at the original (shown only to viewers
    # who may see the original; access.post_for_view decides that separately).
    reshare_of = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="reshares"
    )
    # question
    accepted_comment = models.ForeignKey(
        "Comment", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # idea
    idea_status = models.CharField(max_length=14, choices=IdeaStatus.choices, blank=True)
    official_response = models.TextField(blank=True)
    official_response_html = models.TextField(blank=True)
    official_response_by = models.ForeignKey(
        USER, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    official_response_at = models.DateTimeField(null=True, blank=True)
    # poll
    poll_multiple = models.BooleanField(default=False)
    poll_closes_at = models.DateTimeField(null=True, blank=True)
    poll_results = models.CharField(
        max_length=12, choices=ResultsVisibility.choices, default=ResultsVisibility.ALWAYS
    )
    # contest
    contest_entries_until = models.DateTimeField(null=True, blank=True)
    contest_voting_from = models.DateTimeField(null=True, blank=True)
    contest_voting_until = models.DateTimeField(null=True, blank=True)
    contest_decided_at = models.DateTimeField(null=True, blank=True)
    # counters (services keep them with F())
    comments_count = models.PositiveIntegerField(default=0)
    reactions_count = models.PositiveIntegerField(default=0)
    votes_count = models.PositiveIntegerField(default=0)  # idea votes / poll ballots / contest
    shares_count = models.PositiveIntegerField(default=0)
    views_count = models.PositiveIntegerField(default=0)
    # Bumped by database triggers (migration 0004) whenever something the topic page shows
    # changes outside this row: a reply, a reaction, a tag, a file, a poll option, a contest
    # entry, a reply author's name. The anonymous topic-page cache keys on it (views_posts).
    render_version = models.PositiveBigIntegerField(default=0, editable=False)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)
    published_at = models.DateTimeField(null=True, blank=True)
    edited_at = models.DateTimeField(null=True, blank=True)
    last_activity_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [
            models.Index(fields=["space", "state", "-last_activity_at"]),
            models.Index(fields=["state", "-last_activity_at"]),
            models.Index(fields=["author", "state", "-published_at"]),
            models.Index(fields=["space", "type", "idea_status"]),
            # a space page filtered by type (questions, ideas…), newest activity first
            models.Index(
                fields=["space", "type", "state", "-last_activity_at"],
                name="community_post_space_type",
            ),
            # the few pinned posts at the top of a space page, without scanning the space
            models.Index(
                fields=["space", "state", "-pinned_at"],
                condition=Q(pinned_at__isnull=False),
                name="community_post_pinned",
            ),
        ]

    def __str__(self) -> str:
        return self.title

    @property
    def is_pinned(self) -> bool:
        return self.pinned_at is not None

    @property
    def is_locked(self) -> bool:
        return self.locked_at is not None


class PostRevision(models.Model):
    """The text before an edit (the post row holds the current text)."""

    post = models.ForeignKey(Post, on_delete=models.CASCADE, related_name="revisions")
    number = models.PositiveIntegerField()
    title = models.CharField(max_length=200)
    body = models.TextField(blank=True)
    editor = models.ForeignKey(USER, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-number"]
        constraints = [
            models.UniqueConstraint(fields=["post", "number"], name="community_revision_unique")
        ]

    def __str__(self) -> str:
        return f"revision {self.number} of post {self.post_id}"


class CommentState(models.TextChoices):
    PUBLISHED = "published", _("Published")
    PENDING = "pending", _("Waiting for approval")
    HIDDEN = "hidden", _("Hidden pending review")
    REMOVED = "removed", _("Removed")


class Comment(models.Model):
    post = models.ForeignKey(Post, on_delete=models.CASCADE, related_name="comments")
    # One level of threading: a reply's parent is always a top-level comment.
    parent = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.CASCADE, related_name="replies"
    )
    author = models.ForeignKey(
        USER, null=True, blank=True, on_delete=models.SET_NULL, related_name="community_comments"
    )
    body = models.TextField()
    body_html = models.TextField(blank=True)
    state = models.CharField(
        max_length=12, choices=CommentState.choices, default=CommentState.PUBLISHED
    )
    reactions_count = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now)
    edited_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [
            models.Index(fields=["post", "state", "created_at"]),
            models.Index(fields=["author", "state", "-created_at"]),
            # A topic's replies page by page: top-level ones (parent IS NULL) in order, then
            # the replies of that page (parent IN …), without sorting a hot topic's thousands.
            models.Index(
                fields=["post", "parent", "state", "created_at", "id"],
                name="community_comment_thread",
            ),
        ]

    def __str__(self) -> str:
        return f"comment {self.pk} on {self.post_id}"


class ReactionKind(models.TextChoices):
    LIKE = "like", _("Like")
    LOVE = "love", _("Love")
    INSIGHTFUL = "insightful", _("Insightful")
    LAUGH = "laugh", _("Funny")
    CELEBRATE = "celebrate", _("Celebrate")


class Reaction(models.Model):
    """One per kind per member per target (a post or a comment, exactly one of them)."""

    user = models.ForeignKey(USER, on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(max_length=12, choices=ReactionKind.choices)
    post = models.ForeignKey(
        Post, null=True, blank=True, on_delete=models.CASCADE, related_name="reactions"
    )
    comment = models.ForeignKey(
        Comment, null=True, blank=True, on_delete=models.CASCADE, related_name="reactions"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(post__isnull=False, comment__isnull=True)
                | Q(post__isnull=True, comment__isnull=False),
                name="community_reaction_one_target",
            ),
            models.UniqueConstraint(
                fields=["user", "kind", "post"],
                condition=Q(post__isnull=False),
                name="community_reaction_post_unique",
            ),
            models.UniqueConstraint(
                fields=["user", "kind", "comment"],
                condition=Q(comment__isnull=False),
                name="community_reaction_comment_unique",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} by {self.user_id}"


class IdeaVote(models.Model):
    post = models.ForeignKey(Post, on_delete=models.CASCADE, related_name="idea_votes")
    user = models.ForeignKey(USER, on_delete=models.CASCADE, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["post", "user"], name="community_ideavote_unique")
        ]

    def __str__(self) -> str:
        return f"vote by {self.user_id} on {self.post_id}"


class PollOption(models.Model):
    post = models.ForeignKey(Post, on_delete=models.CASCADE, related_name="poll_options")
    label = models.CharField(max_length=200)
    position = models.PositiveSmallIntegerField(default=0)
    votes_count = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["position", "id"]

    def __str__(self) -> str:
        return self.label


class PollVote(models.Model):
    post = models.ForeignKey(Post, on_delete=models.CASCADE, related_name="poll_votes")
    option = models.ForeignKey(PollOption, on_delete=models.CASCADE, related_name="votes")
    user = models.ForeignKey(USER, on_delete=models.CASCADE, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        # Single-choice polls are enforced in poll_vote (one ballot per member, taken under a
        # row lock on the post); the constraint stops the same option being counted twice.
        constraints = [
            models.UniqueConstraint(fields=["option", "user"], name="community_pollvote_unique")
        ]
        indexes = [models.Index(fields=["post", "user"])]

    def __str__(self) -> str:
        return f"{self.user_id} → option {self.option_id}"


class ContestEntry(models.Model):
    post = models.ForeignKey(Post, on_delete=models.CASCADE, related_name="contest_entries")
    author = models.ForeignKey(USER, null=True, blank=True, on_delete=models.SET_NULL)
    title = models.CharField(max_length=200)
    caption = models.TextField(blank=True)
    caption_html = models.TextField(blank=True)
    image = models.ForeignKey(
        "Attachment", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    votes_count = models.PositiveIntegerField(default=0)
    winner_rank = models.PositiveSmallIntegerField(null=True, blank=True)  # 1 = first place
    removed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            # One entry per member per contest keeps voting fair and the page short.
            models.UniqueConstraint(fields=["post", "author"], name="community_entry_unique")
        ]

    def __str__(self) -> str:
        return self.title


class ContestVote(models.Model):
    post = models.ForeignKey(Post, on_delete=models.CASCADE, related_name="contest_votes")
    entry = models.ForeignKey(ContestEntry, on_delete=models.CASCADE, related_name="votes")
    user = models.ForeignKey(USER, on_delete=models.CASCADE, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["post", "user"], name="community_contestvote_unique")
        ]

    def __str__(self) -> str:
        return f"{self.user_id} → entry {self.entry_id}"


class ShareKind(models.TextChoices):
    INTERNAL = "internal", _("Reshared into another space")
    EXTERNAL = "external", _("External share link")


class Share(models.Model):
    post = models.ForeignKey(Post, on_delete=models.CASCADE, related_name="shares")
    user = models.ForeignKey(USER, null=True, blank=True, on_delete=models.SET_NULL)
    kind = models.CharField(max_length=10, choices=ShareKind.choices)
    target_post = models.ForeignKey(  # internal: the reshare post in the target space
        Post, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # external: the link's token, stored as a digest; opening it still goes through access
    # (a share link never grants access to content the visitor cannot see).
    prefix = models.CharField(max_length=12, blank=True)
    digest = models.CharField(max_length=64, blank=True)
    opens_count = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["digest"], condition=~Q(digest=""), name="community_share_digest_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.kind} share of {self.post_id}"


class Tag(models.Model):
    slug = models.SlugField(max_length=60, unique=True, allow_unicode=True)
    name = models.CharField(max_length=60)

    class Meta:
        ordering = ["slug"]

    def __str__(self) -> str:
        return self.name


class PostTag(models.Model):
    post = models.ForeignKey(Post, on_delete=models.CASCADE, related_name="post_tags")
    tag = models.ForeignKey(Tag, on_delete=models.CASCADE, related_name="post_tags")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["post", "tag"], name="community_posttag_unique")
        ]
        indexes = [models.Index(fields=["tag", "post"])]

    def __str__(self) -> str:
        return f"{self.post_id} #{self.tag_id}"


class AttachmentKind(models.TextChoices):
    IMAGE = "image", _("Image")
    PDF = "pdf", _("PDF")
    FILE = "file", _("File")


class Attachment(models.Model):
    """A file stored under APIARY_UPLOAD_DIR/community/ (outside the web root), served only by
    the download view after ``access.attachment_for_download``."""

    uploader = models.ForeignKey(USER, null=True, blank=True, on_delete=models.SET_NULL)
    post = models.ForeignKey(
        Post, null=True, blank=True, on_delete=models.CASCADE, related_name="attachments"
    )
    comment = models.ForeignKey(
        Comment, null=True, blank=True, on_delete=models.CASCADE, related_name="attachments"
    )
    kind = models.CharField(max_length=8, choices=AttachmentKind.choices)
    original_name = models.CharField(max_length=200)  # sanitised; only ever shown escaped
    stored_name = models.CharField(max_length=80, unique=True)  # random; no user input in paths
    content_type = models.CharField(max_length=100)
    size = models.PositiveBigIntegerField()
    sha256 = models.CharField(max_length=64)
    width = models.PositiveIntegerField(null=True, blank=True)
    height = models.PositiveIntegerField(null=True, blank=True)
    # Documents keep versions: a new upload names the one it replaces.
    version = models.PositiveIntegerField(default=1)
    replaces = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    superseded_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return self.original_name


class Follow(models.Model):
    """A member follows exactly one of: a person, a space, a tag, a post."""

    follower = models.ForeignKey(USER, on_delete=models.CASCADE, related_name="community_follows")
    user = models.ForeignKey(
        USER, null=True, blank=True, on_delete=models.CASCADE, related_name="community_followers"
    )
    space = models.ForeignKey(
        Space, null=True, blank=True, on_delete=models.CASCADE, related_name="followers"
    )
    tag = models.ForeignKey(
        Tag, null=True, blank=True, on_delete=models.CASCADE, related_name="followers"
    )
    post = models.ForeignKey(
        Post, null=True, blank=True, on_delete=models.CASCADE, related_name="followers"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=(
                    Q(user__isnull=False, space__isnull=True, tag__isnull=True, post__isnull=True)
                    | Q(user__isnull=True, space__isnull=False, tag__isnull=True, post__isnull=True)
                    | Q(user__isnull=True, space__isnull=True, tag__isnull=False, post__isnull=True)
                    | Q(user__isnull=True, space__isnull=True, tag__isnull=True, post__isnull=False)
                ),
                name="community_follow_one_target",
            ),
            models.UniqueConstraint(
                fields=["follower", "user"],
                condition=Q(user__isnull=False),
                name="community_follow_user_unique",
            ),
            models.UniqueConstraint(
                fields=["follower", "space"],
                condition=Q(space__isnull=False),
                name="community_follow_space_unique",
            ),
            models.UniqueConstraint(
                fields=["follower", "tag"],
                condition=Q(tag__isnull=False),
                name="community_follow_tag_unique",
            ),
            models.UniqueConstraint(
                fields=["follower", "post"],
                condition=Q(post__isnull=False),
                name="community_follow_post_unique",
            ),
        ]

    def __str__(self) -> str:
        return f"follow by {self.follower_id}"


class NotificationKind(models.TextChoices):
    REPLY = "reply", _("New comment on a post you follow")
    MENTION = "mention", _("You were mentioned")
    NEW_POST = "new_post", _("New post in a space, tag or by a person you follow")
    ACCEPTED = "accepted", _("Your answer was accepted")
    IDEA_STATUS = "idea_status", _("An idea you voted for changed status")
    MEMBERSHIP = "membership", _("Membership decision")
    MEMBERSHIP_REQUEST = "membership_request", _("Someone asks to join your space")
    CONTEST_WINNER = "contest_winner", _("Contest results")


class Notification(models.Model):
    """In-app notification. Holds references only; text is rendered after access is re-checked
    (``access.notification_visible``), when read and again when e-mailed."""

    recipient = models.ForeignKey(
        USER, on_delete=models.CASCADE, related_name="community_notifications"
    )
    kind = models.CharField(max_length=20, choices=NotificationKind.choices)
    actor = models.ForeignKey(
        USER, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    space = models.ForeignKey(Space, null=True, blank=True, on_delete=models.CASCADE)
    post = models.ForeignKey(Post, null=True, blank=True, on_delete=models.CASCADE)
    comment = models.ForeignKey(Comment, null=True, blank=True, on_delete=models.CASCADE)
    created_at = models.DateTimeField(default=timezone.now)
    read_at = models.DateTimeField(null=True, blank=True)
    emailed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["recipient", "read_at", "-created_at"]),
            # community/mail.py scans recent notifications not yet e-mailed every few seconds;
            # the partial index holds only those, so the scan never reads the whole table.
            models.Index(
                fields=["created_at"],
                condition=Q(emailed_at__isnull=True),
                name="community_notif_unmailed",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} for {self.recipient_id}"


class EmailMode(models.TextChoices):
    IMMEDIATE = "immediate", _("Immediately")
    DAILY = "daily", _("In a daily digest")
    WEEKLY = "weekly", _("In a weekly digest")
    NEVER = "never", _("Never")


class NotificationSettings(models.Model):
    """A member's community e-mail choices (``community/mail.py``). No row means the defaults:
    immediate e-mails for mentions, replies, accepted answers and membership decisions."""

    user = models.OneToOneField(
        USER, on_delete=models.CASCADE, related_name="community_mail_settings"
    )
    email_mode = models.CharField(
        _("e-mail me"), max_length=10, choices=EmailMode.choices, default=EmailMode.IMMEDIATE
    )
    kinds_off = models.JSONField(default=list, blank=True)  # notification kinds never e-mailed
    # The digest slot last claimed (set before sending: a retried pass never sends twice).
    digest_sent_at = models.DateTimeField(null=True, blank=True)
    unsubscribed_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [models.Index(fields=["email_mode", "digest_sent_at"])]

    def __str__(self) -> str:
        return f"{self.email_mode} for {self.user_id}"


class FlagReason(models.TextChoices):
    SPAM = "spam", _("Spam")
    ABUSE = "abuse", _("Abusive or harassing")
    OFF_TOPIC = "off_topic", _("Off topic")
    ILLEGAL = "illegal", _("Illegal content")
    OTHER = "other", _("Something else")


class FlagState(models.TextChoices):
    OPEN = "open", _("Open")
    UPHELD = "upheld", _("Upheld")
    DISMISSED = "dismissed", _("Dismissed")


class Flag(models.Model):
    """A member's report on a post or comment (the moderation queue comes in a later issue)."""

    user = models.ForeignKey(USER, on_delete=models.CASCADE, related_name="+")
    post = models.ForeignKey(
        Post, null=True, blank=True, on_delete=models.CASCADE, related_name="flags"
    )
    comment = models.ForeignKey(
        Comment, null=True, blank=True, on_delete=models.CASCADE, related_name="flags"
    )
    reason = models.CharField(max_length=12, choices=FlagReason.choices)
    note = models.CharField(max_length=500, blank=True)
    state = models.CharField(max_length=10, choices=FlagState.choices, default=FlagState.OPEN)
    resolved_by = models.ForeignKey(
        USER, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    resolved_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(post__isnull=False, comment__isnull=True)
                | Q(post__isnull=True, comment__isnull=False),
                name="community_flag_one_target",
            ),
            # Flag stuffing: one flag per member per target, whatever its state.
            models.UniqueConstraint(
                fields=["user", "post"],
                condition=Q(post__isnull=False),
                name="community_flag_post_unique",
            ),
            models.UniqueConstraint(
                fields=["user", "comment"],
                condition=Q(comment__isnull=False),
                name="community_flag_comment_unique",
            ),
        ]
        indexes = [models.Index(fields=["state", "created_at"])]

    def __str__(self) -> str:
        return f"{self.reason} flag by {self.user_id}"


class ActivityEvent(models.Model):
    """Append-only: one row per view, post, comment, reaction, share, vote, flag, join, session.

    Ids are plain integers, not foreign keys, so a deleted post keeps its history and an insert
    never waits on a referenced row's lock."""

    kind = models.CharField(max_length=32)
    user_id = models.BigIntegerField(null=True, blank=True)
    session_key = models.CharField(max_length=64, blank=True)
    space_id = models.BigIntegerField(null=True, blank=True)
    post_id = models.BigIntegerField(null=True, blank=True)
    comment_id = models.BigIntegerField(null=True, blank=True)
    at = models.DateTimeField(default=timezone.now)
    duration_ms = models.PositiveBigIntegerField(null=True, blank=True)
    data = models.JSONField(default=dict, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["kind", "at"]),
            models.Index(fields=["user_id", "at"]),
            models.Index(fields=["space_id", "at"]),
            # selectors_activity: DAU/MAU read (at, user_id) over a date range from the index
            # alone, without touching the rows.
            models.Index(fields=["at", "user_id"], name="community_event_at_user"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} by {self.user_id} at {self.at:%Y-%m-%d %H:%M}"


class VisitSession(models.Model):
    """One visitor session (anonymous or logged in), kept by ``community/middleware.py``.

    The working state the sweeper needs: ``last_seen_at`` is written at most once a minute, and
    a session idle for 30 minutes is closed with a ``session.end`` event. ``sid`` is our own
    random id (the ``session_key`` of its events), not Django's session key, which changes at
    log-in."""

    sid = models.CharField(max_length=32, unique=True)
    user_id = models.BigIntegerField(null=True, blank=True)
    started_at = models.DateTimeField()
    last_seen_at = models.DateTimeField()
    ended_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            # the sweeper's scan: open sessions by last activity
            models.Index(
                fields=["last_seen_at"],
                condition=Q(ended_at__isnull=True),
                name="community_visit_open",
            ),
            models.Index(fields=["started_at"], name="community_visit_started"),
        ]

    def __str__(self) -> str:
        return f"visit {self.sid} by {self.user_id}"
