"""Web forms for the customer pages and the public touchpoints. They check the shape of the
input; the rules (normalisation, uniqueness, consent) stay in the services."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from apiary.customers.countries import COUNTRY_CODES
from apiary.customers.models import LifecycleStage, Platform, Touchpoint

MAX_CONNECT_ROWS = 6
# The touchpoints a shop may name in the public form's link (?touchpoint=…).
PUBLIC_TOUCHPOINTS = (Touchpoint.SIGNUP, Touchpoint.CHECKOUT, Touchpoint.SUPPORT_FORM)
# Staff record how they learnt of an identity; "community profile" belongs to the member page.
STAFF_TOUCHPOINTS = (
    Touchpoint.SUPPORT_FORM,
    Touchpoint.CHECKOUT,
    Touchpoint.SIGNUP,
    Touchpoint.IMPORT,
)


def company_name() -> str:
    from apiary.accounts.selectors import workspace_get

    workspace = workspace_get()
    return workspace.name if workspace else "Apiary"


def consent_text() -> str:
    """The sentence a customer agrees to when linking accounts themselves, in the active
    language. Stored verbatim in every ConsentRecord, so it must be rendered, never posted."""
    return gettext(
        "I agree that %(company)s may link the social accounts above to my customer record and "
        "read what I publish there publicly, to recognise me and answer me personally. I can "
        "withdraw this consent at any time."
    ) % {"company": company_name()}


def _blank(label) -> list[tuple[str, object]]:
    return [("", label)]


class CustomerFilterForm(forms.Form):
    """The list page's search and filters (GET). Every field is optional."""

    q = forms.CharField(label=_("Search"), required=False, max_length=200)
    segment = forms.ChoiceField(label=_("Segment"), required=False)
    social = forms.ChoiceField(
        label=_("Social"),
        required=False,
        choices=[("", _("Anyone")), ("yes", _("Social customers")), ("no", _("Not social"))],
    )
    platform = forms.ChoiceField(
        label=_("Platform"), required=False, choices=_blank(_("Any platform")) + Platform.choices
    )
    country = forms.CharField(label=_("Country"), required=False, max_length=2)
    lifecycle = forms.ChoiceField(
        label=_("Lifecycle stage"),
        required=False,
        choices=_blank(_("Any stage")) + LifecycleStage.choices,
    )

    def __init__(self, *args, segments=(), **kwargs):
        super().__init__(*args, **kwargs)
        # Built-in segment names are stored in English and translated on display.
        self.fields["segment"].choices = _blank(_("All customers")) + [
            (s.slug, gettext(s.name)) for s in segments
        ]

    def clean_country(self) -> str:
        code = (self.cleaned_data.get("country") or "").strip().upper()
        if code and code not in COUNTRY_CODES:
            raise forms.ValidationError(_("Use a two-letter country code, such as ES or MX."))
        return code

    def segment_filters(self) -> dict:
        """The ad-hoc filters in the vocabulary of customers.segments.SegmentFilters."""
        data = getattr(self, "cleaned_data", {})
        out: dict = {}
        if data.get("social") == "yes":
            out["social"] = True
        elif data.get("social") == "no":
            out["social"] = False
        if data.get("platform"):
            out["platforms"] = [data["platform"]]
        if data.get("country"):
            out["country"] = [data["country"]]
        if data.get("lifecycle"):
            out["lifecycle_stage"] = [data["lifecycle"]]
        return out


class CustomerEditForm(forms.Form):
    name = forms.CharField(label=_("Name"), required=False, max_length=200)
    email = forms.EmailField(label=_("E-mail"), required=False)
    phone = forms.CharField(label=_("Phone"), required=False, max_length=40)
    country = forms.CharField(
        label=_("Country"),
        required=False,
        max_length=2,
        help_text=_("Two-letter code, e.g. ES"),
    )
    region = forms.CharField(label=_("Region"), required=False, max_length=120)
    city = forms.CharField(label=_("City"), required=False, max_length=120)
    language = forms.CharField(label=_("Language"), required=False, max_length=8)
    lifecycle_stage = forms.ChoiceField(label=_("Lifecycle stage"), choices=LifecycleStage.choices)
    tags = forms.CharField(
        label=_("Tags"), required=False, help_text=_("Separate tags with commas"), max_length=500
    )

    FIELDS = ("name", "email", "phone", "country", "region", "city", "language", "lifecycle_stage")

    @classmethod
    def initial_for(cls, customer) -> dict:
        initial = {f: getattr(customer, f) or "" for f in cls.FIELDS}
        initial["tags"] = ", ".join(customer.tags or [])
        return initial

    def changes(self) -> dict:
        """The cleaned values, in the services' field names."""
        data = {f: self.cleaned_data[f] for f in self.FIELDS}
        data["email"] = data["email"] or None
        data["country"] = data["country"].strip().upper()
        data["tags"] = [t.strip() for t in self.cleaned_data["tags"].split(",") if t.strip()]
        return data


class IdentityAddForm(forms.Form):
    platform = forms.ChoiceField(label=_("Platform"), choices=Platform.choices)
    handle = forms.CharField(
        label=_("Handle or profile link"),
        max_length=500,
        widget=forms.TextInput(attrs={"placeholder": "@name"}),
    )
    touchpoint = forms.ChoiceField(
        label=_("Where the customer gave it"),
        choices=[(t.value, t.label) for t in STAFF_TOUCHPOINTS],
    )
    consent_text = forms.CharField(
        label=_("What the customer agreed to"),
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 2}),
    )


class SuggestionAcceptForm(forms.Form):
    consent_text = forms.CharField(
        label=_("Consent note"),
        max_length=2000,
        help_text=_("How and when the customer confirmed this account is theirs."),
    )


class MergeTargetForm(forms.Form):
    target = forms.CharField(
        label=_("Merge into (customer id or e-mail)"), max_length=254, strip=True
    )


class EraseConfirmForm(forms.Form):
    confirm = forms.CharField(label=_("Type the customer id to confirm"), max_length=20)

    def __init__(self, *args, customer_id: int, **kwargs):
        super().__init__(*args, **kwargs)
        self.customer_id = customer_id

    def clean_confirm(self) -> str:
        value = self.cleaned_data["confirm"].strip().lstrip("#")
        if value != str(self.customer_id):
            raise forms.ValidationError(_("Type the customer id exactly to confirm."))
        return value


class MemberIdentityForm(forms.Form):
    """A member links one of their own accounts from the community profile."""

    platform = forms.ChoiceField(label=_("Platform"), choices=Platform.choices)
    handle = forms.CharField(label=_("Handle or profile link"), max_length=500)
    consent = forms.BooleanField(label=_("I agree"), required=True)


class ConnectForm(forms.Form):
    """The public "connect your social accounts" form: one e-mail, up to six account rows.

    Rows are plain ``platform_N``/``handle_N`` fields so that htmx can add one without a
    management form; :meth:`rows` checks every row at once so the visitor sees all mistakes.
    """

    email = forms.EmailField(label=_("Your e-mail"), max_length=254)
    name = forms.CharField(label=_("Your name (optional)"), required=False, max_length=200)
    consent = forms.BooleanField(
        required=True,
        error_messages={"required": _("Tick the box to agree, or we cannot link your accounts.")},
    )

    def __init__(self, *args, row_count: int = 2, **kwargs):
        super().__init__(*args, **kwargs)
        if self.is_bound:
            # Keep every row the visitor sent (including the ones htmx added), up to the cap.
            sent = [
                i
                for i in range(MAX_CONNECT_ROWS)
                if f"platform_{i}" in self.data or f"handle_{i}" in self.data
            ]
            row_count = max(sent, default=-1) + 1
        self.row_count = max(1, min(row_count, MAX_CONNECT_ROWS))
        for i in range(self.row_count):
            self.fields[f"platform_{i}"] = platform_field()
            self.fields[f"handle_{i}"] = handle_field()
        self.row_errors: dict[int, list[str]] = {}
        self.valid_rows: list[tuple[int, str, str]] = []

    def clean(self):
        from apiary.customers.handles import HandleError, normalize_handle

        data = super().clean()
        seen: set[tuple[str, str]] = set()
        for i in range(self.row_count):
            platform = data.get(f"platform_{i}") or ""
            raw = (data.get(f"handle_{i}") or "").strip()
            if not raw:
                continue
            if not platform:
                self.row_error(i, _("Choose the network for this account."))
                continue
            try:
                handle = normalize_handle(platform, raw)
            except HandleError as exc:
                self.row_error(i, str(exc))
                continue
            if (platform, handle) in seen:
                continue  # the same account twice is not a mistake worth stopping for
            seen.add((platform, handle))
            self.valid_rows.append((i, platform, handle))
        if not self.valid_rows and not self.row_errors:
            self.row_error(0, _("Add at least one account."))
        return data

    def row_error(self, index: int, message) -> None:
        self.row_errors.setdefault(index, []).append(str(message))
        self.add_error(f"handle_{index}", message)

    def rows(self) -> list[dict]:
        """Each row with its bound fields and errors, for the template."""
        return [
            {
                "index": i,
                "platform": self[f"platform_{i}"],
                "handle": self[f"handle_{i}"],
                "errors": self.row_errors.get(i, []),
            }
            for i in range(self.row_count)
        ]


def platform_field() -> forms.ChoiceField:
    return forms.ChoiceField(
        label=_("Network"),
        required=False,
        choices=_blank(_("Choose…")) + Platform.choices,
    )


def handle_field() -> forms.CharField:
    return forms.CharField(
        label=_("Account"),
        required=False,
        max_length=500,
        widget=forms.TextInput(attrs={"placeholder": _("@name or profile link")}),
    )
