from django import forms

from access.models import JUSTIFICATION_MAX, JUSTIFICATION_MIN
from federation.forms import duration_choices
from federation.models import MIN_ACTIVATION_SECONDS

# Window lengths offered, cut at each grant's longest window.
WINDOW_PRESETS = [1800, 3600, 7200, 14400, 28800, 86400]


class RequestForm(forms.Form):
    """Asking for a window: how long, why, which ticket; break-glass where allowed.
    The grant's own limits are applied by the service, with a message for each."""

    duration = forms.IntegerField(
        label="For",
        min_value=MIN_ACTIVATION_SECONDS,
        error_messages={"required": "Choose how long you need access."},
    )
    justification = forms.CharField(
        label="Why",
        min_length=JUSTIFICATION_MIN,
        max_length=JUSTIFICATION_MAX,
        widget=forms.Textarea(attrs={"rows": 3}),
        error_messages={
            "required": "Say why you need access.",
            "min_length": f"Say a little more: at least {JUSTIFICATION_MIN} characters.",
        },
    )
    ticket = forms.CharField(label="Ticket", max_length=100, required=False)
    break_glass = forms.BooleanField(label="Break-glass: open it now", required=False)

    def __init__(self, *args, grant=None, **kwargs):
        super().__init__(*args, **kwargs)
        if grant is not None:
            self.fields["duration"].widget = forms.Select(
                choices=duration_choices(grant.max_activation_seconds, WINDOW_PRESETS)
            )
            self.fields["duration"].initial = min(3600, grant.max_activation_seconds)
            self.fields["ticket"].required = grant.ticket_required
            if not grant.break_glass:
                del self.fields["break_glass"]


class DecisionForm(forms.Form):
    decision = forms.ChoiceField(choices=[("approve", "Approve"), ("deny", "Deny")])
    comment = forms.CharField(max_length=JUSTIFICATION_MAX, required=False)
