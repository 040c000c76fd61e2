"""Customers, organisations, consented social identities, orders, identity suggestions, segments.

A *social customer* is a customer with at least one active (consent not withdrawn) identity.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.db.models.functions import Lower
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class LifecycleStage(models.TextChoices):
    LEAD = "lead", _("Lead")
    PROSPECT = "prospect", _("Prospect")
    CUSTOMER = "customer", _("Customer")
    CHURNED = "churned", _("Churned")


class Platform(models.TextChoices):
    BLUESKY = "bluesky", "Bluesky"
    MASTODON = "mastodon", "Mastodon"
    X = "x", "X (Twitter)"
    FACEBOOK = "facebook", "Facebook"
    INSTAGRAM = "instagram", "Instagram"
    VK = "vk", "VK"
    TELEGRAM = "telegram", "Telegram"
    YOUTUBE = "youtube", "YouTube"
    REDDIT = "reddit", "Reddit"
    TIKTOK = "tiktok", "TikTok"
    TRUSTPILOT = "trustpilot", "Trustpilot"
    GOOGLE_REVIEWS = "google_reviews", "Google Reviews"
    YELP = "yelp", "Yelp"
    TRIPADVISOR = "tripadvisor", "Tripadvisor"
    OTHER = "other", _("Other")


class Touchpoint(models.TextChoices):
    SIGNUP = "signup", _("Sign-up")
    CHECKOUT = "checkout", _("Checkout")
    COMMUNITY_PROFILE = "community_profile", _("Community profile")
    SUPPORT_FORM = "support_form", _("Support form")
    IMPORT = "import", _("Import")
    API = "api", _("API")


class Organisation(models.Model):
    """A company or partner that customers belong to."""

    name = models.CharField(_("name"), max_length=200)
    domain = models.CharField(_("web domain"), max_length=200, blank=True)
    country = models.CharField(_("country"), max_length=2, blank=True)
    city = models.CharField(_("city"), max_length=120, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)
    deleted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                Lower("name"), condition=Q(deleted_at__isnull=True), name="customers_org_name_uniq"
            )
        ]

    def __str__(self) -> str:
        return self.name


class CustomFieldType(models.TextChoices):
    TEXT = "text", _("Text")
    NUMBER = "number", _("Number")
    DATE = "date", _("Date")
    BOOLEAN = "boolean", _("Yes/no")
    CHOICE = "choice", _("Choice")


class CustomFieldDefinition(models.Model):
    """The workspace's schema for ``Customer.custom_fields`` (validated by the services)."""

    key = models.SlugField(_("key"), max_length=50, unique=True)
    label = models.CharField(_("label"), max_length=120)
    type = models.CharField(_("type"), max_length=16, choices=CustomFieldType.choices)
    choices = models.JSONField(_("choices"), default=list, blank=True)
    required = models.BooleanField(_("required"), default=False)

    def __str__(self) -> str:
        return self.key


class Customer(models.Model):
    external_id = models.CharField(_("external id"), max_length=120, null=True, blank=True)
    email = models.EmailField(_("e-mail"), null=True, blank=True)
    name = models.CharField(_("name"), max_length=200, blank=True)
    phone = models.CharField(_("phone"), max_length=40, blank=True)
    country = models.CharField(_("country"), max_length=2, blank=True, db_index=True)
    region = models.CharField(_("region"), max_length=120, blank=True)
    city = models.CharField(_("city"), max_length=120, blank=True)
    language = models.CharField(_("language"), max_length=8, blank=True)
    tags = models.JSONField(_("tags"), default=list, blank=True)
    lifecycle_stage = models.CharField(
        _("lifecycle stage"),
        max_length=16,
        choices=LifecycleStage.choices,
        default=LifecycleStage.CUSTOMER,
    )
    custom_fields = models.JSONField(_("custom fields"), default=dict, blank=True)
    organisation = models.ForeignKey(
        Organisation, null=True, blank=True, on_delete=models.SET_NULL, related_name="customers"
    )
    # The community account of this customer, when they have one.
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="customer",
    )
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)
    deleted_at = models.DateTimeField(null=True, blank=True)
    erased_at = models.DateTimeField(null=True, blank=True)
    merged_into = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="merged_from"
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(
                Lower("email"),
                condition=Q(deleted_at__isnull=True, email__isnull=False),
                name="customers_customer_email_uniq",
            ),
            models.UniqueConstraint(
                fields=["external_id"],
                condition=Q(external_id__isnull=False),
                name="customers_customer_external_id_uniq",
            ),
        ]
        indexes = [models.Index(fields=["lifecycle_stage"]), models.Index(fields=["city"])]

    def __str__(self) -> str:
        return self.name or self.email or f"#{self.pk}"


class SocialIdentity(models.Model):
    """A social account a customer gave us, with consent. ``withdrawn_at`` set = consent
    withdrawn: the identity no longer links mentions or counts in analytics from then on."""

    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="identities")
    platform = models.CharField(_("platform"), max_length=32, choices=Platform.choices)
    handle = models.CharField(_("handle"), max_length=255)
    display_name = models.CharField(_("display name"), max_length=200, blank=True)
    profile_url = models.URLField(_("profile URL"), max_length=500, blank=True)
    followers = models.PositiveIntegerField(_("followers"), null=True, blank=True)
    verified = models.BooleanField(_("verified"), default=False)
    created_at = models.DateTimeField(default=timezone.now)
    withdrawn_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            # One live link per account: the same handle cannot belong to two customers.
            models.UniqueConstraint(
                fields=["platform", "handle"],
                condition=Q(withdrawn_at__isnull=True),
                name="customers_identity_active_uniq",
            )
        ]
        indexes = [models.Index(fields=["customer", "platform"])]

    def __str__(self) -> str:
        return f"{self.platform}:{self.handle}"

    @property
    def is_active(self) -> bool:
        return self.withdrawn_at is None


class ConsentRecord(models.Model):
    """Each time consent for an identity is given or withdrawn: when, where, and the exact text."""

    class Action(models.TextChoices):
        GIVEN = "given", _("Given")
        WITHDRAWN = "withdrawn", _("Withdrawn")

    identity = models.ForeignKey(SocialIdentity, on_delete=models.CASCADE, related_name="consents")
    action = models.CharField(max_length=16, choices=Action.choices, default=Action.GIVEN)
    touchpoint = models.CharField(_("touchpoint"), max_length=32, choices=Touchpoint.choices)
    text = models.TextField(_("consent text"), blank=True)
    at = models.DateTimeField(default=timezone.now, db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )

    class Meta:
        ordering = ["-at"]

    def __str__(self) -> str:
        return f"{self.identity} {self.action} at {self.at:%Y-%m-%d}"


class Order(models.Model):
    external_id = models.CharField(_("external id"), max_length=120, unique=True)
    customer = models.ForeignKey(
        Customer, null=True, blank=True, on_delete=models.SET_NULL, related_name="orders"
    )
    ordered_at = models.DateTimeField(_("ordered at"), db_index=True)
    currency = models.CharField(_("currency"), max_length=3)
    total = models.DecimalField(_("total"), max_digits=14, decimal_places=2)
    # [{"sku", "name", "quantity", "price"}]: read with the order, never queried alone.
    items = models.JSONField(_("items"), default=list, blank=True)
    channel = models.CharField(_("channel"), max_length=40, blank=True)
    referral_code = models.CharField(_("referral code"), max_length=64, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        indexes = [
            models.Index(fields=["customer", "ordered_at"]),
            # Most orders carry no referral code: a partial index stays small and costs the
            # bulk import almost nothing, while lookups by code (referrals) stay indexed.
            models.Index(
                fields=["referral_code"],
                condition=~Q(referral_code=""),
                name="customers_order_referral_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.external_id} {self.total} {self.currency}"


class IdentitySuggestion(models.Model):
    """A possible link between a social author and a customer, waiting for a human decision."""

    class Status(models.TextChoices):
        PENDING = "pending", _("Pending")
        ACCEPTED = "accepted", _("Accepted")
        REJECTED = "rejected", _("Rejected")

    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="suggestions")
    platform = models.CharField(max_length=32, choices=Platform.choices)
    handle = models.CharField(max_length=255)
    display_name = models.CharField(max_length=200, blank=True)
    profile_url = models.URLField(max_length=500, blank=True)
    location = models.CharField(max_length=200, blank=True)
    reason = models.CharField(max_length=200)
    score = models.FloatField(default=0.0)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    created_at = models.DateTimeField(default=timezone.now)
    decided_at = models.DateTimeField(null=True, blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["customer", "platform", "handle"],
                condition=Q(status="pending"),
                name="customers_suggestion_pending_uniq",
            )
        ]
        indexes = [models.Index(fields=["status", "created_at"])]

    def __str__(self) -> str:
        return f"{self.platform}:{self.handle} → {self.customer_id} ({self.status})"


class Segment(models.Model):
    """A saved customer filter; ``filters`` is validated by customers.segments."""

    name = models.CharField(_("name"), max_length=120)
    slug = models.SlugField(_("slug"), max_length=120, unique=True)
    description = models.CharField(_("description"), max_length=300, blank=True)
    filters = models.JSONField(_("filters"), default=dict)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return self.name


class ImportJob(models.Model):
    """One file import (orders now; other kinds later), run in the background with a report."""

    class Status(models.TextChoices):
        QUEUED = "queued", _("Queued")
        RUNNING = "running", _("Running")
        DONE = "done", _("Done")
        FAILED = "failed", _("Failed")

    kind = models.CharField(max_length=32, default="orders")
    filename = models.CharField(max_length=255)
    path = models.CharField(max_length=500, blank=True)  # the uploaded file, outside web root
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    processed = models.PositiveIntegerField(default=0)
    created = models.PositiveIntegerField(default=0)
    updated = models.PositiveIntegerField(default=0)
    rejected = models.PositiveIntegerField(default=0)
    # [{"line": 12, "reason": "..."}], capped so a broken 1M-line file cannot bloat the row.
    errors = models.JSONField(default=list, blank=True)
    message = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.kind} import {self.filename} ({self.status})"


class WebhookReceipt(models.Model):
    """Digest of every accepted webhook body: a replayed delivery is recognised and refused."""

    source = models.CharField(max_length=32)
    digest = models.CharField(max_length=64)
    received_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["source", "digest"], name="customers_webhook_once")
        ]

    def __str__(self) -> str:
        return f"{self.source}:{self.digest[:12]}"
