"""Community forms: shape checks only (lengths, choices, dates). The rules — who may post where,
limits, poll and contest windows, file types and sizes — live in ``community.services``, whose
ValidationErrors the views attach back to these forms."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from apiary.community.models import Audience, PostType, ResultsVisibility, SpaceRole

DATETIME_LOCAL = ["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M:%S"]


class DateTimeLocalInput(forms.DateTimeInput):
    input_type = "datetime-local"

    def __init__(self, **kwargs):
        super().__init__(format="%Y-%m-%dT%H:%M", **kwargs)


def _when(label):
    return forms.DateTimeField(
        label=label, required=False, input_formats=DATETIME_LOCAL, widget=DateTimeLocalInput()
    )


class PostForm(forms.Form):
    type = forms.ChoiceField(label=_("Type"), choices=PostType.choices)
    title = forms.CharField(label=_("Title"), max_length=200)
    body = forms.CharField(
        label=_("Text"),
        required=False,
        max_length=100_000,
        widget=forms.Textarea(attrs={"rows": 12}),
        help_text=_("Markdown: **bold**, _italic_, `code`, lists, links; @handle mentions."),
    )
    tags = forms.CharField(
        label=_("Tags"),
        required=False,
        max_length=300,
        help_text=_("Separate with commas, e.g. billing, mobile app"),
    )
    audience = forms.ChoiceField(label=_("Who may read it"), choices=Audience.choices)
    file = forms.FileField(
        label=_("Attachment"),
        required=False,
        help_text=_("Documents: a file to attach; a new version can be uploaded later."),
    )
    # poll
    poll_options = forms.CharField(
        label=_("Poll answers"),
        required=False,
        max_length=5000,
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text=_("One answer per line (2 to 20)."),
    )
    poll_multiple = forms.BooleanField(label=_("Allow several answers"), required=False)
    poll_closes_at = _when(_("Poll closes at"))
    poll_results = forms.ChoiceField(
        label=_("Show results"), choices=ResultsVisibility.choices, required=False
    )
    # contest
    contest_entries_until = _when(_("Entries accepted until"))
    contest_voting_from = _when(_("Voting opens at"))
    contest_voting_until = _when(_("Voting closes at"))

    def __init__(self, *args, editing: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        self.editing = editing
        if editing:
            # Type-specific settings are fixed once published; editing changes text and tags.
            for name in list(self.fields):
                if name not in ("title", "body", "tags", "audience"):
                    del self.fields[name]

    def tag_list(self) -> list[str]:
        raw = self.cleaned_data.get("tags", "") or ""
        return [t.strip() for t in raw.split(",") if t.strip()]

    def option_list(self) -> list[str]:
        raw = self.cleaned_data.get("poll_options", "") or ""
        return [line.strip() for line in raw.splitlines() if line.strip()]


class CommentForm(forms.Form):
    body = forms.CharField(max_length=20_000)
    parent = forms.IntegerField(required=False, min_value=1)


class InvitationForm(forms.Form):
    role = forms.ChoiceField(
        label=_("Joins as"),
        choices=[
            (SpaceRole.MEMBER, SpaceRole.MEMBER.label),
            (SpaceRole.MODERATOR, SpaceRole.MODERATOR.label),
        ],
    )
    uses = forms.ChoiceField(
        label=_("Uses"),
        choices=[("single", _("Single use")), ("multi", _("Multi-use"))],
        initial="single",
    )
    max_uses = forms.IntegerField(
        label=_("Limit (multi-use, optional)"), required=False, min_value=1, max_value=100_000
    )
    expires_in_days = forms.IntegerField(
        label=_("Expires after (days)"), initial=7, min_value=1, max_value=365
    )
    email = forms.EmailField(label=_("Only for this e-mail (optional)"), required=False)
    note = forms.CharField(label=_("Note"), required=False, max_length=200)

    def max_uses_value(self) -> int | None:
        if self.cleaned_data["uses"] == "single":
            return 1
        return self.cleaned_data.get("max_uses")  # None = unlimited


class IdeaStatusForm(forms.Form):
    status = forms.ChoiceField(choices=[])
    response = forms.CharField(required=False, max_length=20_000)

    def __init__(self, *args, **kwargs):
        from apiary.community.models import IdeaStatus

        super().__init__(*args, **kwargs)
        self.fields["status"].choices = IdeaStatus.choices
