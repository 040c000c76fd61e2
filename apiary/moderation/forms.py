"""Moderation forms: the flag form on posts and comments, the queue's filters and actions, and
the settings form. Validation of meaning stays in services (they raise ValidationError)."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from apiary.community.models import FlagReason
from apiary.moderation import services
from apiary.moderation.models import ItemReason, ItemState

SUSPEND_DAYS = [
    ("1", _("1 day")),
    ("3", _("3 days")),
    ("7", _("1 week")),
    ("30", _("30 days")),
    ("90", _("90 days")),
    ("", _("Until lifted")),
]
PERIODS = [("7", _("Last 7 days")), ("30", _("Last 30 days")), ("90", _("Last 90 days")),
           ("365", _("Last year"))]  # fmt: skip


class FlagForm(forms.Form):
    post = forms.IntegerField(required=False, widget=forms.HiddenInput)
    comment = forms.IntegerField(required=False, widget=forms.HiddenInput)
    reason = forms.ChoiceField(
        label=_("Why?"), choices=FlagReason.choices, widget=forms.RadioSelect
    )
    note = forms.CharField(label=_("Anything moderators should know"), required=False,
                           max_length=500, widget=forms.Textarea(attrs={"rows": 2}))  # fmt: skip

    def clean(self):
        data = super().clean()
        if bool(data.get("post")) == bool(data.get("comment")):
            raise forms.ValidationError(_("Flag a post or a comment."))
        return data


class QueueFilterForm(forms.Form):
    state = forms.ChoiceField(
        label=_("State"), required=False, choices=[("", _("Any")), *ItemState.choices]
    )
    reason = forms.ChoiceField(
        label=_("Reason"), required=False, choices=[("", _("Any")), *ItemReason.choices]
    )
    space = forms.SlugField(label=_("Space"), required=False, max_length=80)
    days = forms.ChoiceField(label=_("Statistics for"), required=False, choices=PERIODS)


class ActionForm(forms.Form):
    note = forms.CharField(label=_("Note"), required=False, max_length=1000)
    days = forms.ChoiceField(label=_("For"), required=False, choices=SUSPEND_DAYS)


def _limited(name: str, label) -> forms.IntegerField:
    """An optional number within ``services.SETTING_LIMITS[name]`` (the one definition)."""
    low, high = services.SETTING_LIMITS[name]
    return forms.IntegerField(label=label, required=False, min_value=low, max_value=high)


class SettingsForm(forms.Form):
    """Empty = inherit (from the community's settings, then the defaults)."""

    flag_threshold = _limited("flag_threshold", _("Weighted flags that hide content"))
    first_post_hold = forms.NullBooleanField(
        label=_("Hold new members' first posts for approval"), required=False
    )
    first_post_count = _limited("first_post_count", _("How many first posts"))
    spam_check = forms.NullBooleanField(label=_("Hold likely spam"), required=False)
    posts_per_minute = _limited("posts_per_minute", _("Posts a minute"))
    posts_per_hour = _limited("posts_per_hour", _("Posts an hour"))
    comments_per_minute = _limited("comments_per_minute", _("Replies a minute"))
    comments_per_hour = _limited("comments_per_hour", _("Replies an hour"))
