from django import forms
from django.conf import settings
from django.core.validators import MaxValueValidator

from accounts.models import MAX_SESSION_SECONDS, MIN_SESSION_SECONDS, SESSION_PRESETS
from core import humanize
from federation.models import CONSOLE_SERVICES


def duration_choices(limit, presets=SESSION_PRESETS):
    """(seconds, label) for the session lengths people pick from up to `limit` (each grant's
    own), and `limit` itself."""
    choices = [s for s in presets if s <= limit]
    if limit not in choices:
        choices.append(limit)
    return [(s, humanize.duration(s)) for s in choices]


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


class TokenForm(forms.Form):
    """A new API token: what to call it and how many days it works."""

    name = forms.CharField(
        max_length=100,
        strip=True,
        error_messages={"required": "Give the token a name, e.g. the laptop it lives on."},
    )
    days = forms.IntegerField(min_value=1, required=False, label="Works for (days)")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        days = self.fields["days"]
        days.max_value = settings.API_TOKEN_MAX_DAYS
        days.initial = settings.API_TOKEN_DEFAULT_DAYS
        days.help_text = f"1 to {settings.API_TOKEN_MAX_DAYS} days."
        days.validators.append(MaxValueValidator(settings.API_TOKEN_MAX_DAYS))
        days.widget.attrs.update(max=settings.API_TOKEN_MAX_DAYS, min=1)

    def clean_days(self):
        return self.cleaned_data["days"] or settings.API_TOKEN_DEFAULT_DAYS
