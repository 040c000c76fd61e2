"""Care: the social inbox — conversations, their messages, SLA policies, agents, live events.

Writes go through ``services.py`` (and ``replies.py`` for what goes back out); reads through
``selectors.py``; permission through ``access.py``. Nothing here holds business logic.

Why these shapes:

- A **conversation** is one thread on one platform: ``(platform, thread_key)`` is unique, where
  ``thread_key`` is the external id of the thread's root post (a mention with no parent is its
  own root). A follow-up mention of a resolved conversation reopens it instead of making a new
  one, so an agent always sees the whole history in one place.
- **Messages** are inbound (a stored mention), outbound (an agent's reply, with delivery state:
  a reply is a row *before* it is sent, so a connector failure never loses it) or internal
  notes. ``client_token`` is unique: a double-click or a retried request cannot send twice.
- ``Conversation.version`` grows on every change an agent makes; a reply or a status change
  names the version the agent saw, and is refused when someone else changed the conversation
  since (collision prevention without locks held across requests).
- **InboxEvent** is the live feed: every change appends one row; pages and the SSE stream read
  rows after the last id they saw. It lives in the database so it works with any number of
  server processes (no process memory, no sticky sessions).
- **AgentPresence** says who is viewing or typing in which conversation; rows older than a few
  seconds count as gone (no clean-up needed for correctness).
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class Status(models.TextChoices):
    OPEN = "open", _("Open")
    PENDING = "pending", _("Waiting on customer")
    RESOLVED = "resolved", _("Resolved")


class Priority(models.TextChoices):
    LOW = "low", _("Low")
    NORMAL = "normal", _("Normal")
    HIGH = "high", _("High")
    URGENT = "urgent", _("Urgent")


PRIORITY_ORDER = {"low": 0, "normal": 1, "high": 2, "urgent": 3}


class SlaPolicy(models.Model):
    """First-response and resolution targets for one priority (a null priority = the default).

    ``business_hours`` maps ISO weekday ("1" = Monday … "7") to ``[["09:00", "18:00"], …]`` in
    ``time_zone``; empty means round the clock. The SLA clock only runs inside those hours and
    stops while the conversation waits on the customer.
    """

    name = models.CharField(max_length=120)
    priority = models.CharField(max_length=8, choices=Priority.choices, blank=True)
    first_response_minutes = models.PositiveIntegerField(default=30)
    resolution_minutes = models.PositiveIntegerField(null=True, blank=True)
    business_hours = models.JSONField(default=dict, blank=True)
    time_zone = models.CharField(max_length=64, default="UTC")
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["priority", "name"]

    def __str__(self) -> str:
        return self.name


class InboxRule(models.Model):
    """When a stored mention opens (or joins) a conversation.

    ``conditions`` is a dict validated by ``services.rule_conditions_validate``; every key given
    must hold (AND): ``query_kinds`` (brand/competitor/topic), ``intents``, ``sentiments``,
    ``platforms``, ``languages``, ``countries``, ``is_question``, ``reply_to_brand``,
    ``min_followers``, ``customer_linked``, ``min_customer_value``, ``segment_id``.
    """

    name = models.CharField(max_length=120, unique=True)
    conditions = models.JSONField(default=dict)
    priority_boost = models.IntegerField(default=0)
    active = models.BooleanField(default=True)
    position = models.PositiveIntegerField(default=100)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["position", "id"]

    def __str__(self) -> str:
        return self.name


class Conversation(models.Model):
    platform = models.CharField(max_length=20)
    thread_key = models.CharField(max_length=255)
    source = models.ForeignKey(
        "listening.Source", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    subject = models.CharField(max_length=200, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.OPEN)
    priority = models.CharField(max_length=8, choices=Priority.choices, default=Priority.NORMAL)
    # 0..100; the inbox sorts by it. ``priority_factors`` explains it (shown on hover):
    # [{"factor": "influence", "points": 20, "detail": "12,400 followers"}, …]
    priority_score = models.PositiveSmallIntegerField(default=0)
    priority_factors = models.JSONField(default=list, blank=True)
    opened_reason = models.CharField(max_length=120, blank=True)  # rule name or "manual"
    opened_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    customer = models.ForeignKey(
        "customers.Customer",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="conversations",
    )
    author_handle = models.CharField(max_length=300, blank=True)
    author_name = models.CharField(max_length=300, blank=True)
    author_url = models.CharField(max_length=2000, blank=True)
    author_followers = models.BigIntegerField(null=True, blank=True)
    language = models.CharField(max_length=8, blank=True)
    sentiment = models.CharField(max_length=8, blank=True)  # of the latest inbound message
    intent = models.CharField(max_length=8, blank=True)
    country = models.CharField(max_length=2, blank=True)
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="care_conversations",
    )
    assigned_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()
    last_message_at = models.DateTimeField()
    last_inbound_at = models.DateTimeField(null=True, blank=True)
    first_response_at = models.DateTimeField(null=True, blank=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    # SLA: the policy chosen when the conversation opened; ``sla_due_at`` is the first-response
    # deadline (recomputed when the clock pauses/resumes); ``sla_breached_at`` is set once by
    # the breach check so a breach alerts exactly once.
    sla_policy = models.ForeignKey(
        SlaPolicy, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    sla_due_at = models.DateTimeField(null=True, blank=True)
    sla_paused_at = models.DateTimeField(null=True, blank=True)
    sla_paused_seconds = models.PositiveIntegerField(default=0)
    sla_breached_at = models.DateTimeField(null=True, blank=True)
    version = models.PositiveIntegerField(default=1)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["platform", "thread_key"], name="care_conv_thread")
        ]
        indexes = [
            # The inbox: status first, then newest activity (views "all" / "by priority").
            models.Index(fields=["status", "-last_message_at"], name="care_conv_status_last"),
            models.Index(
                fields=["status", "-priority_score", "-last_message_at"], name="care_conv_prio"
            ),
            models.Index(
                fields=["assignee", "status", "-last_message_at"], name="care_conv_assignee"
            ),
            models.Index(fields=["customer", "-last_message_at"], name="care_conv_customer"),
            # The breach check: open conversations not yet answered, by deadline.
            models.Index(
                fields=["sla_due_at"],
                condition=models.Q(first_response_at__isnull=True, sla_breached_at__isnull=True),
                name="care_conv_sla_due",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.platform}:{self.thread_key}"


class Direction(models.TextChoices):
    INBOUND = "inbound", _("From the customer")
    OUTBOUND = "outbound", _("Reply")
    NOTE = "note", _("Internal note")


class Delivery(models.TextChoices):
    NONE = "", _("—")  # inbound messages and notes
    QUEUED = "queued", _("Queued")
    SENDING = "sending", _("Sending")
    SENT = "sent", _("Sent")
    FAILED = "failed", _("Failed")


class Message(models.Model):
    conversation = models.ForeignKey(
        Conversation, on_delete=models.CASCADE, related_name="messages"
    )
    direction = models.CharField(max_length=8, choices=Direction.choices)
    mention = models.ForeignKey(
        "listening.Mention", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    author_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    text = models.TextField()
    created_at = models.DateTimeField()
    # Notes: colleagues @mentioned (user ids), notified in-app.
    mentioned_user_ids = models.JSONField(default=list, blank=True)
    # Outbound delivery through the source connector.
    delivery = models.CharField(max_length=8, choices=Delivery.choices, blank=True, default="")
    delivery_attempts = models.PositiveSmallIntegerField(default=0)
    delivery_error = models.TextField(blank=True)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    external_id = models.CharField(max_length=255, blank=True)  # the remote post id once sent
    external_url = models.CharField(max_length=2000, blank=True)
    client_token = models.CharField(max_length=64, null=True, blank=True, unique=True)
    canned_response = models.ForeignKey(
        "CannedResponse", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            # A mention joins at most one conversation, once (the hook may run twice on retry).
            models.UniqueConstraint(
                fields=["mention"],
                condition=models.Q(mention__isnull=False),
                name="care_message_mention",
            )
        ]
        indexes = [
            models.Index(fields=["conversation", "created_at"], name="care_msg_conv"),
            models.Index(
                fields=["next_attempt_at"],
                condition=models.Q(delivery__in=["queued", "sending"]),
                name="care_msg_delivery_due",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.direction} #{self.pk}"


class CannedResponse(models.Model):
    """A saved reply; ``body`` may use {customer_name}, {first_name}, {order_number},
    {agent_name}, {brand} (``services.canned_render``). One row per language; ``key`` groups the
    translations of one answer so the inbox picks the conversation's language."""

    key = models.SlugField(max_length=80)
    language = models.CharField(max_length=8, default="en")
    title = models.CharField(max_length=120)
    body = models.TextField()
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["key", "language"]
        constraints = [
            models.UniqueConstraint(fields=["key", "language"], name="care_canned_key_lang")
        ]

    def __str__(self) -> str:
        return f"{self.key} ({self.language})"


class AgentProfile(models.Model):
    """Care settings of one staff user: languages for round-robin, online state."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="care_profile"
    )
    languages = models.JSONField(default=list, blank=True)  # ["en", "es"]; empty = any
    online = models.BooleanField(default=False)
    last_seen_at = models.DateTimeField(null=True, blank=True)
    last_assigned_at = models.DateTimeField(null=True, blank=True)  # round-robin order
    max_open = models.PositiveSmallIntegerField(default=25)

    def __str__(self) -> str:
        return f"agent {self.user_id}"


class PresenceState(models.TextChoices):
    VIEWING = "viewing", _("Viewing")
    TYPING = "typing", _("Typing")


class AgentPresence(models.Model):
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    conversation = models.ForeignKey(
        Conversation, on_delete=models.CASCADE, related_name="presence"
    )
    state = models.CharField(max_length=8, choices=PresenceState.choices)
    seen_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "conversation"], name="care_presence_once")
        ]
        indexes = [models.Index(fields=["conversation", "seen_at"], name="care_presence_conv")]

    def __str__(self) -> str:
        return f"{self.user_id} {self.state} {self.conversation_id}"


class InboxEvent(models.Model):
    """Append-only live feed (see the module docstring). ``kind``: conversation.created,
    message.created, message.delivery, conversation.updated (assigned, status, priority),
    presence, sla.breached. ``data`` is small and never holds message text."""

    kind = models.CharField(max_length=40)
    conversation = models.ForeignKey(
        Conversation, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    data = models.JSONField(default=dict, blank=True)
    at = models.DateTimeField()

    class Meta:
        indexes = [models.Index(fields=["at"], name="care_event_at")]

    def __str__(self) -> str:
        return f"{self.kind} #{self.pk}"


class ConversationLog(models.Model):
    """What happened to a conversation, for its history and the SLA/agent reports:
    opened, assigned, unassigned, status, priority, first_response, sla_breached, reopened."""

    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="log")
    action = models.CharField(max_length=30)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    data = models.JSONField(default=dict, blank=True)
    at = models.DateTimeField()

    class Meta:
        ordering = ["at", "id"]
        indexes = [models.Index(fields=["conversation", "at"], name="care_log_conv")]

    def __str__(self) -> str:
        return f"{self.action} {self.conversation_id}"
