"""Community self-moderation: the review queue, its audit trail, sanctions and settings.

Why these shapes:

- **One ModerationItem per target and round of review.** Flags stay in ``community.Flag`` (one
  per member per target, which is what stops flag stuffing); the item is the queue's row that
  gathers them, records *when* the content was hidden and *who* resolved it, so the statistics
  (time to hide, time to resolve, community vs staff share) are plain column arithmetic in the
  database. At most one item per target is pending at a time (partial unique constraints); after
  a decision a new flag opens a new item.
- **ModerationAction is append-only**: every decision, sanction and automatic hide/hold, with the
  actor (None for the system) and a note. Deleting content never cascades through it (plain ids
  for the target, like ``community.ActivityEvent``).
- **MemberSanction** holds warnings and suspensions, for one space or the whole community
  (``space`` empty). A suspension is active while ``lifted_at`` is empty and ``until`` is empty
  or in the future, so expiry needs no job.
- **ModerationSettings**: one optional row for the whole community (``space`` empty) and one per
  space; an empty field inherits (space → community row → ``settings.APIARY_MODERATION`` →
  built-in defaults), resolved by ``selectors.moderation_settings``.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q, Value
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

USER = settings.AUTH_USER_MODEL


class ItemReason(models.TextChoices):
    FLAGS = "flags", _("Flagged by members")
    FIRST_POST = "first_post", _("First post of a new member")
    SPAM = "spam", _("Looks like spam")
    RATE = "rate", _("Posting too fast")


class ItemState(models.TextChoices):
    PENDING = "pending", _("Waiting for review")
    APPROVED = "approved", _("Approved")
    REMOVED = "removed", _("Removed")


class HiddenBy(models.TextChoices):
    NONE = "", _("Not hidden")
    COMMUNITY = "community", _("Member flags")
    STAFF = "staff", _("A moderator's flag")
    SYSTEM = "system", _("Held automatically")


class ModerationItem(models.Model):
    space = models.ForeignKey("community.Space", on_delete=models.CASCADE, related_name="+")
    post = models.ForeignKey(
        "community.Post", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    comment = models.ForeignKey(
        "community.Comment", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    author = models.ForeignKey(
        USER, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    reason = models.CharField(max_length=12, choices=ItemReason.choices)
    state = models.CharField(max_length=10, choices=ItemState.choices, default=ItemState.PENDING)
    # Why the content is out of sight (empty while a flagged post is still visible).
    hidden_by = models.CharField(max_length=10, choices=HiddenBy.choices, blank=True)
    # What the spam heuristics found (codes), shown to moderators.
    signals = models.JSONField(default=list, blank=True)
    flags_weight = models.PositiveIntegerField(default=0)  # weighted open flags
    flags_count = models.PositiveIntegerField(default=0)
    opened_at = models.DateTimeField(default=timezone.now)
    hidden_at = models.DateTimeField(null=True, blank=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolved_by = models.ForeignKey(
        USER, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # Hidden by members' flags and the removal upheld: the community handled it on its own.
    handled_by_community = models.BooleanField(default=False)

    class Meta:
        ordering = ["-opened_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(post__isnull=False, comment__isnull=True)
                | Q(post__isnull=True, comment__isnull=False),
                name="moderation_item_one_target",
            ),
            models.UniqueConstraint(
                fields=["post"],
                condition=Q(state="pending", post__isnull=False),
                name="moderation_item_post_pending_unique",
            ),
            models.UniqueConstraint(
                fields=["comment"],
                condition=Q(state="pending", comment__isnull=False),
                name="moderation_item_comment_pending_unique",
            ),
        ]
        indexes = [
            models.Index(fields=["state", "space", "-opened_at"]),
            models.Index(fields=["space", "opened_at"]),
            models.Index(fields=["author", "state"]),
        ]

    def __str__(self) -> str:
        target = f"post {self.post_id}" if self.post_id else f"comment {self.comment_id}"
        return f"{self.reason} item on {target} ({self.state})"


class ActionKind(models.TextChoices):
    HIDE = "hide", _("Hidden by flags")
    HOLD = "hold", _("Held for review")
    APPROVE = "approve", _("Approved")
    DISMISS = "dismiss", _("Flags dismissed")
    REMOVE = "remove", _("Removed")
    RESTORE = "restore", _("Restored")
    WARN = "warn", _("Warned")
    SUSPEND = "suspend", _("Suspended")
    UNSUSPEND = "unsuspend", _("Suspension lifted")
    SETTINGS = "settings", _("Settings changed")


class ModerationAction(models.Model):
    """Append-only audit trail."""

    actor = models.ForeignKey(
        USER, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )  # None: the system (automatic hide or hold)
    action = models.CharField(max_length=10, choices=ActionKind.choices)
    item = models.ForeignKey(
        ModerationItem, null=True, blank=True, on_delete=models.SET_NULL, related_name="actions"
    )
    space_id = models.BigIntegerField(null=True, blank=True)  # None: community-wide
    target_user = models.ForeignKey(
        USER, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    post_id = models.BigIntegerField(null=True, blank=True)
    comment_id = models.BigIntegerField(null=True, blank=True)
    note = models.CharField(max_length=1000, blank=True)
    data = models.JSONField(default=dict, blank=True)
    at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [
            models.Index(fields=["space_id", "-at"]),
            models.Index(fields=["target_user", "-at"]),
            models.Index(fields=["actor", "-at"]),
        ]

    def __str__(self) -> str:
        return f"{self.action} by {self.actor_id or 'system'} at {self.at:%Y-%m-%d %H:%M}"


class SanctionKind(models.TextChoices):
    WARN = "warn", _("Warning")
    SUSPEND = "suspend", _("Suspension")


class MemberSanction(models.Model):
    user = models.ForeignKey(USER, on_delete=models.CASCADE, related_name="+")
    space = models.ForeignKey(
        "community.Space", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )  # None: the whole community
    kind = models.CharField(max_length=8, choices=SanctionKind.choices)
    until = models.DateTimeField(null=True, blank=True)  # suspension end; None = until lifted
    reason = models.CharField(max_length=1000, blank=True)
    item = models.ForeignKey(
        ModerationItem, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    by = models.ForeignKey(USER, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    lifted_at = models.DateTimeField(null=True, blank=True)
    lifted_by = models.ForeignKey(
        USER, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["user", "kind", "lifted_at"])]

    def __str__(self) -> str:
        return f"{self.kind} of {self.user_id} in {self.space_id or 'community'}"

    @property
    def is_active(self) -> bool:
        if self.kind != SanctionKind.SUSPEND or self.lifted_at is not None:
            return False
        return self.until is None or self.until > timezone.now()


class ModerationSettings(models.Model):
    """Empty fields inherit (see the module docstring)."""

    space = models.OneToOneField(
        "community.Space", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    flag_threshold = models.PositiveSmallIntegerField(null=True, blank=True)
    first_post_hold = models.BooleanField(null=True, blank=True)
    first_post_count = models.PositiveSmallIntegerField(null=True, blank=True)
    spam_check = models.BooleanField(null=True, blank=True)
    posts_per_minute = models.PositiveSmallIntegerField(null=True, blank=True)
    posts_per_hour = models.PositiveSmallIntegerField(null=True, blank=True)
    comments_per_minute = models.PositiveSmallIntegerField(null=True, blank=True)
    comments_per_hour = models.PositiveSmallIntegerField(null=True, blank=True)
    updated_at = models.DateTimeField(default=timezone.now)
    updated_by = models.ForeignKey(
        USER, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        constraints = [
            # One community-wide row: NULLs never collide in a plain unique index, so the index
            # is on coalesce(space, 0) (the OneToOne already makes per-space rows unique).
            models.UniqueConstraint(
                Coalesce("space", Value(0)), name="moderation_settings_one_global"
            )
        ]

    def __str__(self) -> str:
        return f"moderation settings for {self.space_id or 'community'}"
