"""Forms of the alerts pages: a rule (its conditions depend on its kind) and a webhook endpoint.

The forms only turn what the browser sent into the shapes the services take (lists, numbers,
true/false/not given). Whether the conditions make sense — limits, unknown ids, contradictions —
is decided by ``services.rule_conditions_validate``; its per-key messages come back onto the
matching fields (``add_condition_errors``), so the rule page and the API say the same thing.
"""

from __future__ import annotations

from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from . import conditions as vocab
from .models import Kind, Severity

PREFIX = "c_"  # condition fields; the rule's own fields (name, kind, …) have no prefix
TRI_CHOICES = [("", _("Any")), ("yes", _("Yes")), ("no", _("No"))]

LABELS = {
    "query_ids": _("Listening queries"),
    "query_kinds": _("Query kinds"),
    "sentiments": _("Sentiment"),
    "intents": _("Intent"),
    "platforms": _("Platforms"),
    "languages": _("Languages"),
    "countries": _("Countries"),
    "cities": _("Cities"),
    "min_followers": _("Followers at least"),
    "max_followers": _("Followers at most"),
    "boost_followers": _("One level higher from (followers)"),
    "customer_linked": _("Known customer"),
    "customer_bypasses_followers": _("Known customers skip the follower minimum"),
    "segment_id": _("Customer segment"),
    "min_customer_value": _("Customer value at least"),
    "per_country": _("Watch each country separately"),
    "measure": _("Measure"),
    "z_score": _("Robust z-score at least"),
    "min_volume": _("Minimum mentions in the window"),
    "window_minutes": _("Window (minutes)"),
    "baseline_minutes": _("Baseline (minutes)"),
    "quiet_minutes": _("Resolve after quiet (minutes)"),
    "wait_minutes": _("Waiting longer than (minutes)"),
}
HELP = {
    "countries": _("ISO codes, comma-separated: ES, MX"),
    "cities": _("Comma-separated: Madrid, Sevilla"),
    "z_score": _("How far above its usual level (in robust standard deviations) the volume is."),
    "min_volume": _("Small numbers are noise: fewer mentions than this never alert."),
    "baseline_minutes": _("The usual level is measured over this period, at the same time of day."),
    "min_customer_value": _("Lifetime order total."),
    "boost_followers": _("Authors with at least this audience raise the severity one step."),
}
GROUPS = [
    (_("What it listens to"), ["query_ids", "query_kinds", "measure", "per_country"]),
    (_("The mention"), ["sentiments", "intents", "languages", "platforms"]),
    (_("Place"), ["countries", "cities"]),
    (
        _("The author"),
        [
            "min_followers",
            "max_followers",
            "boost_followers",
            "customer_linked",
            "customer_bypasses_followers",
            "segment_id",
            "min_customer_value",
        ],
    ),
    (
        _("Thresholds"),
        [
            "z_score",
            "min_volume",
            "window_minutes",
            "baseline_minutes",
            "quiet_minutes",
            "wait_minutes",
        ],
    ),
]
_CHOICE_KEYS = {
    "query_kinds": [("brand", _("Brand")), ("competitor", _("Competitor")), ("topic", _("Topic"))],
    "sentiments": [
        ("positive", _("Positive")),
        ("neutral", _("Neutral")),
        ("negative", _("Negative")),
    ],
    "intents": [("purchase", _("Purchase")), ("support", _("Support")), ("none", _("None"))],
    "languages": [
        ("en", "English"),
        ("ru", "Русский"),
        ("es", "Español"),
        ("other", _("Other")),
        ("und", _("Unknown")),
    ],
    "measure": [("negative", _("Negative mentions")), ("volume", _("All mentions"))],
}
_INT_KEYS = set(vocab.LIMITS)
_TRI_KEYS = {"customer_linked", "customer_bypasses_followers", "per_country"}
_TEXT_LIST_KEYS = {"countries", "cities"}


def _split(text: str) -> list[str]:
    return [p.strip() for p in (text or "").split(",") if p.strip()]


def _default_label(kind: str, key: str) -> str:
    value = vocab.KIND_DEFAULTS.get(kind, {}).get(key)
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(_("yes") if value else _("no"))
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    return str(value)


class RuleForm(forms.Form):
    """A rule of one kind; its condition fields are the keys that kind takes."""

    name = forms.CharField(label=_("Name"), max_length=120)
    kind = forms.ChoiceField(label=_("Kind"), choices=Kind.choices)
    severity = forms.ChoiceField(label=_("Severity"), choices=Severity.choices, initial="medium")
    cooldown_minutes = forms.IntegerField(
        label=_("Cooldown (minutes)"),
        min_value=0,
        max_value=7 * 24 * 60,
        initial=60,
        help_text=_("After an alert is resolved, the same thing may alert again only after this."),
    )
    active = forms.BooleanField(label=_("Active"), required=False, initial=True)

    def __init__(self, *args, kind: str, queries=(), segments=(), platforms=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.rule_kind = kind if kind in vocab.ALLOWED_KEYS else Kind.CUSTOM
        self.fields["kind"].initial = self.rule_kind
        allowed = vocab.ALLOWED_KEYS[self.rule_kind]
        self.condition_keys = [k for _g, keys in GROUPS for k in keys if k in allowed]
        for key in self.condition_keys:
            self.fields[PREFIX + key] = self._field(
                key, queries=queries, segments=segments, platforms=platforms
            )

    def _field(self, key: str, *, queries, segments, platforms) -> forms.Field:
        label = LABELS.get(key, key)
        default = _default_label(self.rule_kind, key)
        help_text = HELP.get(key, "")
        if default:
            help_text = f"{help_text} " if help_text else ""
            help_text += str(_("Default: %(value)s.") % {"value": default})
        common = {"label": label, "required": False, "help_text": help_text}
        if key == "query_ids":
            return forms.TypedMultipleChoiceField(
                choices=[(q.pk, f"{q.name} ({q.kind})") for q in queries],
                coerce=int,
                widget=forms.SelectMultiple(attrs={"size": min(6, max(2, len(queries)))}),
                **common,
            )
        if key in _CHOICE_KEYS:
            return forms.MultipleChoiceField(
                choices=_CHOICE_KEYS[key], widget=forms.CheckboxSelectMultiple, **common
            )
        if key == "platforms":
            return forms.MultipleChoiceField(
                choices=[(p, p) for p in platforms], widget=forms.CheckboxSelectMultiple, **common
            )
        if key in _TEXT_LIST_KEYS:
            return forms.CharField(max_length=2000, **common)
        if key in _INT_KEYS:
            low, high = vocab.LIMITS[key]
            return forms.IntegerField(
                min_value=low,
                max_value=high,
                widget=forms.NumberInput(attrs={"placeholder": default}),
                **common,
            )
        if key in _TRI_KEYS:
            return forms.ChoiceField(choices=TRI_CHOICES, **common)
        if key == "segment_id":
            return forms.TypedChoiceField(
                choices=[("", _("Any"))] + [(s.pk, s.name) for s in segments],
                coerce=int,
                empty_value=None,
                **common,
            )
        if key == "min_customer_value":
            return forms.CharField(
                max_length=20,
                widget=forms.TextInput(attrs={"inputmode": "decimal", "placeholder": default}),
                **common,
            )
        if key == "z_score":
            return forms.FloatField(
                widget=forms.NumberInput(attrs={"step": "0.1", "placeholder": default}), **common
            )
        return forms.CharField(**common)

    def conditions(self) -> dict:
        """The condition fields as the service's dict; empty fields are not conditions."""
        out: dict = {}
        data = self.cleaned_data
        for key in self.condition_keys:
            value = data.get(PREFIX + key)
            if value in (None, "", []):
                continue
            if key in _TRI_KEYS:
                out[key] = value == "yes"
            elif key in _TEXT_LIST_KEYS:
                out[key] = _split(value)
            elif key == "query_ids":
                out[key] = [int(v) for v in value]
            else:
                out[key] = list(value) if isinstance(value, list | tuple) else value
        return out

    def add_condition_errors(self, exc: ValidationError) -> None:
        """The service's ``{key: [messages]}`` onto the fields that hold those keys."""
        for key, messages in exc.message_dict.items():
            key = key.removeprefix("conditions.")  # rule_create names them conditions.<key>
            name = PREFIX + key if PREFIX + key in self.fields else key
            field = name if name in self.fields else None
            for message in messages:
                self.add_error(field, message)

    def groups(self) -> list[tuple[str, list]]:
        """The condition fields grouped for the page (empty groups left out)."""
        out = []
        for title, keys in GROUPS:
            bound = [self[PREFIX + k] for k in keys if k in self.condition_keys]
            if bound:
                out.append((title, bound))
        return out


def rule_initial(rule) -> dict:
    """A stored rule as the form's initial values."""
    initial = {
        "name": rule.name,
        "kind": rule.kind,
        "severity": rule.severity,
        "cooldown_minutes": rule.cooldown_minutes,
        "active": rule.active,
    }
    for key, value in (rule.conditions or {}).items():
        if key in _TRI_KEYS:
            initial[PREFIX + key] = "yes" if value else "no"
        elif key in _TEXT_LIST_KEYS:
            initial[PREFIX + key] = ", ".join(value)
        else:
            initial[PREFIX + key] = value
    return initial


class EndpointForm(forms.Form):
    name = forms.CharField(label=_("Name"), max_length=120)
    # A plain field: the address rules (http/https, no credentials) are the service's, so the
    # page and the API give the same message.
    url = forms.CharField(
        label=_("URL"),
        max_length=2000,
        widget=forms.URLInput(attrs={"placeholder": "https://chat.example.com/hooks/…"}),
        help_text=_("We POST JSON here, signed with HMAC-SHA256 in the X-Apiary-Signature header."),
    )
    kinds = forms.MultipleChoiceField(
        label=_("Kinds"),
        choices=Kind.choices,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text=_("None ticked: every kind."),
    )
    min_severity = forms.ChoiceField(
        label=_("From severity"), choices=Severity.choices, initial="low"
    )
    active = forms.BooleanField(label=_("Active"), required=False, initial=True)
    rotate_secret = forms.BooleanField(
        label=_("Make a new signing secret"),
        required=False,
        help_text=_("The old secret stops working at once; the new one is shown once."),
    )
