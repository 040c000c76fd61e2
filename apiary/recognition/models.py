"""Community recognition: the points ledger, badges and their grants, members' standing (ranks).

Why these shapes:

- **PointEntry is an append-only ledger derived from the content tables.** Nothing writes it when
  a post is made or a like is given (no signals, no logic in ``save()``): the recognition job
  reads what the community tables say *now* for the posts touched since its cursor, works out the
  points each fact is worth (``source`` = ``"post:12"``, ``"like:345"``, ``"accept:67"`` …) and
  appends the *difference* from what the ledger already holds for that source. A replay finds no
  difference and writes nothing; a removed post or a withdrawn like yields a negative entry (a
  reversal) and the audit trail stays intact. ``(source, seq)`` is unique, so two jobs racing on
  the same source cannot both append the same correction.
- **Entries are dated when the fact happened** (``at``: the post's publication, the like's time),
  reversals and re-weighting included, so "this week" on a leaderboard always sums to what the
  week's facts are worth today. ``recorded_at`` says when the job wrote the row.
- **Plain ids for space and post** (like ``community.ActivityEvent``): hard-deleting content does
  not cascade through the ledger; the next job pass reverses its points instead.
- **MemberStanding** is one row per member holding the totals and the trust level the job last
  computed, so ``selectors.trust_level`` is one primary-key read and pages never sum the ledger
  per member.
- **Badge rules live in code** (``badges.py``, declarative queries); ``Badge`` rows mirror them so
  grants have a foreign key and staff can disable one. ``BadgeGrant`` is unique per
  (badge, member, target): granting is ``INSERT … ON CONFLICT DO NOTHING``, so a backfill can run
  any number of times. A revoked grant stays as a tombstone so the next pass does not re-grant it.
- A grant records the **space its evidence lives in**; it is shown only to viewers who may read
  that space (``access.grants_visible``). Community-wide count badges count open spaces only.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

USER = settings.AUTH_USER_MODEL


class Reason(models.TextChoices):
    POST = "post", _("Published a post")
    REPLY = "reply", _("Replied to someone")
    ACCEPTED_ANSWER = "accepted_answer", _("Answer accepted")
    LIKE_RECEIVED = "like_received", _("Reaction received")
    IDEA_SHIPPED = "idea_shipped", _("Idea shipped")
    CONTEST_WIN = "contest_win", _("Won a contest")
    CONTEST_PLACE = "contest_place", _("Placed in a contest")
    FLAG_UPHELD = "flag_upheld", _("Helpful flag")


class PointWeight(models.Model):
    """A staff override of one reason's weight (defaults: ``points.DEFAULT_WEIGHTS``, then
    ``settings.APIARY_RECOGNITION["weights"]``, then these rows)."""

    reason = models.CharField(max_length=20, choices=Reason.choices, unique=True)
    points = models.IntegerField()
    updated_by = models.ForeignKey(
        USER, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    updated_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"{self.reason} = {self.points}"


class PointEntry(models.Model):
    user = models.ForeignKey(USER, on_delete=models.CASCADE, related_name="point_entries")
    space_id = models.BigIntegerField()
    post_id = models.BigIntegerField(null=True, blank=True)
    # The post's audience (community.Audience) when the row was written: with space_id it is
    # all a reader needs to decide visibility (access.entries_visible), no join to posts.
    audience = models.CharField(max_length=12, default="everyone")
    reason = models.CharField(max_length=20, choices=Reason.choices)
    source = models.CharField(max_length=64)  # the fact: "post:12", "like:345", …
    seq = models.PositiveIntegerField(default=0)  # 0 = first entry for the source, then corrections
    points = models.IntegerField()
    # +1 when the fact appears, -1 when it goes away, 0 for a re-weighting: Sum(facts) per
    # reason is the member's live count of posts, replies, likes received … whatever the
    # weights are (a reason weighted 0 still records its facts, with 0 points).
    facts = models.SmallIntegerField(default=1)
    at = models.DateTimeField()  # when the fact happened (corrections keep the fact's time)
    recorded_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["source", "seq"], name="recognition_entry_source_seq")
        ]
        indexes = [
            # leaderboards: one space / every space, by period
            models.Index(fields=["space_id", "at", "user"], name="recognition_entry_space_at"),
            models.Index(fields=["at", "user"], name="recognition_entry_at"),
            # a member's standing; the job's reconciliation of one post
            models.Index(fields=["user", "at"], name="recognition_entry_user_at"),
            models.Index(fields=["post_id"], name="recognition_entry_post"),
        ]

    def __str__(self) -> str:
        return f"{self.points:+d} {self.reason} for {self.user_id} ({self.source}#{self.seq})"


class PointTotal(models.Model):
    """All-time points per member, space and audience: the ledger summed by the job for the
    members whose ledger changed. The all-time leaderboard reads these few rows per member
    instead of aggregating every ledger row; periods read the ledger itself (by ``at``)."""

    user = models.ForeignKey(USER, on_delete=models.CASCADE, related_name="+")
    space_id = models.BigIntegerField()
    audience = models.CharField(max_length=12, default="everyone")
    points = models.IntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["user", "space_id", "audience"], name="recognition_total_unique"
            )
        ]
        indexes = [models.Index(fields=["space_id", "user"], name="recognition_total_space")]

    def __str__(self) -> str:
        return f"{self.points} for {self.user_id} in {self.space_id} ({self.audience})"


class JobCursor(models.Model):
    """How far the incremental job has read an append-only log (ActivityEvent id, …)."""

    name = models.CharField(max_length=40, unique=True)
    position = models.BigIntegerField(default=0)
    updated_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"{self.name} @ {self.position}"


class TrustLevel(models.IntegerChoices):
    NEW = 0, _("New")
    BASIC = 1, _("Basic")
    MEMBER = 2, _("Member")
    TRUSTED = 3, _("Trusted")
    LEADER = 4, _("Leader")


class MemberStanding(models.Model):
    user = models.OneToOneField(
        USER, primary_key=True, on_delete=models.CASCADE, related_name="recognition_standing"
    )
    points = models.IntegerField(default=0)  # every space (the rank's input; never shown raw)
    posts = models.PositiveIntegerField(default=0)
    replies = models.PositiveIntegerField(default=0)
    accepted_answers = models.PositiveIntegerField(default=0)
    likes_received = models.PositiveIntegerField(default=0)
    flags_upheld_against = models.PositiveIntegerField(default=0)  # recent, see ranks.py
    trust_level = models.PositiveSmallIntegerField(
        choices=TrustLevel.choices, default=TrustLevel.NEW
    )
    # Staff may pin a level (Discourse's "locked trust level"); the job then leaves it alone.
    level_locked = models.PositiveSmallIntegerField(
        choices=TrustLevel.choices, null=True, blank=True
    )
    level_since = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [models.Index(fields=["trust_level"], name="recognition_standing_level")]

    def __str__(self) -> str:
        return f"standing of {self.user_id}: level {self.trust_level}, {self.points} points"


class BadgeLevel(models.TextChoices):
    BRONZE = "bronze", _("Bronze")
    SILVER = "silver", _("Silver")
    GOLD = "gold", _("Gold")


class Badge(models.Model):
    slug = models.SlugField(max_length=60, unique=True)
    # Built-in badges take their (translated) name and description from badges.py; these
    # columns are what the admin shows and what a badge without a rule would display.
    name = models.CharField(max_length=100)
    description = models.CharField(max_length=300, blank=True)
    level = models.CharField(max_length=8, choices=BadgeLevel.choices, default=BadgeLevel.BRONZE)
    position = models.PositiveSmallIntegerField(default=0)
    enabled = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["position", "slug"]

    def __str__(self) -> str:
        return self.slug


class BadgeGrant(models.Model):
    badge = models.ForeignKey(Badge, on_delete=models.CASCADE, related_name="grants")
    user = models.ForeignKey(USER, on_delete=models.CASCADE, related_name="badge_grants")
    # "" for once-only badges; "post:12" / "space:3" for badges earned once per thing.
    target = models.CharField(max_length=64, blank=True, default="")
    # Where the evidence lives: the grant is visible only to who may read this space
    # (None: a community-wide badge counted over open spaces only).
    space_id = models.BigIntegerField(null=True, blank=True)
    post_id = models.BigIntegerField(null=True, blank=True)
    granted_at = models.DateTimeField()  # when it was earned (the evidence's time)
    created_at = models.DateTimeField(default=timezone.now)  # when the job granted it
    seen_at = models.DateTimeField(null=True, blank=True)  # the member's notification read
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_by = models.ForeignKey(
        USER, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["badge", "user", "target"], name="recognition_grant_unique"
            )
        ]
        indexes = [
            models.Index(fields=["user", "-granted_at"], name="recognition_grant_user"),
            models.Index(fields=["badge", "-granted_at"], name="recognition_grant_badge"),
        ]

    def __str__(self) -> str:
        return f"{self.badge_id} for {self.user_id} {self.target}".strip()
