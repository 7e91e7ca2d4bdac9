from django import forms

from accounts.models import MAX_SESSION_SECONDS, MIN_SESSION_SECONDS
from federation.models import CONSOLE_SERVICES

# Session lengths offered on the self-service page, cut at each grant's limit.
DURATION_PRESETS = [900, 1800, 3600, 7200, 14400, 28800, 43200]


def duration_label(seconds):
    if seconds < 3600:
        return f"{seconds // 60} minutes"
    hours = seconds // 3600
    return "1 hour" if hours == 1 else f"{hours} hours"


def duration_choices(limit):
    choices = [s for s in DURATION_PRESETS if s <= limit]
    if limit not in choices:
        choices.append(limit)
    return [(s, duration_label(s)) for s in choices]


class IssueForm(forms.Form):
    """What a person may choose when asking for a session. Limits are applied by the service."""

    duration = forms.IntegerField(
        required=False, min_value=MIN_SESSION_SECONDS, max_value=MAX_SESSION_SECONDS
    )
    region = forms.RegexField(required=False, regex=r"^[a-z]{2}(-[a-z]+)+-\d{1,2}$", max_length=32)
    destination = forms.ChoiceField(required=False, choices=list(CONSOLE_SERVICES.items()))

    def clean_region(self):
        return self.cleaned_data["region"] or None

    def clean_destination(self):
        return self.cleaned_data["destination"] or None
