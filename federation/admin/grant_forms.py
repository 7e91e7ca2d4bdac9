"""The forms of the grants' admin pages: granting a role to several people and teams at once,
and a grant's own page."""

from django import forms
from django.contrib.admin.widgets import AdminSplitDateTime, FilteredSelectMultiple
from django.core.exceptions import ValidationError
from django.utils import timezone

from accounts.models import SESSION_PRESETS, Team, Tenant, User
from core.admin_scoping import scoped
from core.durations import DurationField, offer_saved_durations
from core.time_fields import DateOrDateTimeField, TenantTimeField, state_time_zone
from federation import services
from federation.models import (
    CONSOLE_SERVICES,
    ESCALATION_PRESETS,
    MAX_APPROVALS,
    WINDOW_PRESETS,
    RoleMapping,
    approval_policy_errors,
    validate_role_arn,
    validate_session_policy,
)


class GrantForm(forms.Form):
    """Grant one role to several people and teams at once, optionally until a date."""

    tenant = forms.ModelChoiceField(queryset=Tenant.objects.none())
    role_arn = forms.CharField(
        label="Role ARN",
        max_length=2048,
        validators=[validate_role_arn],
        # The roles the portal can see are offered as you type (a datalist); any ARN goes.
        # Wide enough for an ARN with a path (the admin's text inputs hold 20 characters).
        widget=forms.TextInput(attrs={"list": "role-choices", "autocomplete": "off", "size": 80}),
        help_text="Pick one of the roles offered, or type an ARN such as "
        "arn:aws:iam::123456789012:role/Name; the role must trust the portal with this "
        "tenant's ExternalId.",
    )
    label = forms.CharField(
        max_length=100, required=False, help_text="What people see; the role name by default."
    )
    account_alias = forms.CharField(max_length=63, required=False)
    users = forms.ModelMultipleChoiceField(
        label="People",
        queryset=User.objects.none(),
        required=False,
        widget=FilteredSelectMultiple("people", is_stacked=False),
    )
    teams = forms.ModelMultipleChoiceField(
        queryset=Team.objects.none(),
        required=False,
        widget=FilteredSelectMultiple("teams", is_stacked=False),
        help_text="A team grant reaches every member, and stops for anyone who leaves.",
    )
    max_session_seconds = DurationField(
        label="Longest session",
        presets=SESSION_PRESETS,
        blank_label="1 hour (the default)",
        required=False,
        help_text="Within the tenant's limit and the role's MaxSessionDuration.",
    )
    destination_path = forms.ChoiceField(
        label="Default destination", choices=list(CONSOLE_SERVICES.items())
    )
    region = forms.CharField(max_length=32, required=False)
    valid_until = DateOrDateTimeField(
        label="Until",
        required=False,
        widget=AdminSplitDateTime,
        help_text="Leave empty for a grant without an end date.",
    )
    session_policy = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 4}),
        required=False,
        validators=[validate_session_policy],
    )
    activation = forms.ChoiceField(
        choices=RoleMapping.Activation.choices,
        initial=RoleMapping.Activation.STANDING,
        required=False,
        help_text="Standing: usable at any time. On request: the person asks each time, "
        "someone else approves, and a window opens.",
    )
    approvers = forms.ModelMultipleChoiceField(
        queryset=User.objects.none(),
        required=False,
        widget=FilteredSelectMultiple("approvers", is_stacked=False),
    )
    approver_teams = forms.ModelMultipleChoiceField(
        queryset=Team.objects.none(),
        required=False,
        widget=FilteredSelectMultiple("approver teams", is_stacked=False),
    )
    approvals_needed = forms.IntegerField(
        min_value=1, max_value=MAX_APPROVALS, initial=1, required=False
    )
    max_activation_seconds = DurationField(
        label="Longest window", presets=WINDOW_PRESETS, initial=3600, required=False
    )
    ticket_required = forms.BooleanField(required=False)
    break_glass = forms.BooleanField(label="Break-glass allowed", required=False)
    escalate_after_seconds = DurationField(
        label="Escalate after",
        presets=ESCALATION_PRESETS,
        zero_label="Never",
        initial=3600,
        required=False,
        help_text="A request nobody decides by then goes to the tenant's admins too.",
    )

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        tenants = self.fields["tenant"].queryset = scoped(Tenant.objects.all(), user)
        # The chosen tenant (or the only one): its clock reads the end date, its accounts'
        # roles are offered. Without one, every tenant the person may grant in.
        self.tenant = self._chosen_tenant() or (tenants.first() if len(tenants) == 1 else None)
        self.tenants = [self.tenant] if self.tenant else list(tenants)
        if len(tenants) == 1:
            # Someone who runs one tenant grants in it: chosen for them.
            self.fields["tenant"].initial = self.tenant
        self.fields["valid_until"].zone = self.tenant.zone if self.tenant else None
        state_time_zone(self.fields["valid_until"], self.tenants)
        self.fields["users"].queryset = scoped(User.objects.order_by("username"), user)
        self.fields["teams"].queryset = scoped(Team.objects.select_related("tenant"), user)
        self.fields["approvers"].queryset = self.fields["users"].queryset
        self.fields["approver_teams"].queryset = self.fields["teams"].queryset

    def _chosen_tenant(self) -> Tenant | None:
        if not self.is_bound:
            return None
        try:
            return self.fields["tenant"].clean(self.data.get("tenant"))
        except ValidationError:
            return None

    def clean_activation(self):
        return self.cleaned_data["activation"] or RoleMapping.Activation.STANDING

    def clean(self):
        cleaned = super().clean()
        tenant, users, teams = (cleaned.get(name) for name in ("tenant", "users", "teams"))
        if not users and not teams:
            raise ValidationError("Choose at least one person or team.")
        if tenant is not None:
            if users and users.exclude(memberships__tenant=tenant).exists():
                outsiders = users.exclude(memberships__tenant=tenant)
                self.add_error(
                    "users",
                    f"Not members of {tenant}: {', '.join(u.username for u in outsiders)}.",
                )
            if teams and teams.exclude(tenant=tenant).exists():
                self.add_error("teams", f"Only teams of {tenant} can be chosen.")
        valid_until = cleaned.get("valid_until")
        if valid_until and valid_until <= timezone.now():
            self.add_error("valid_until", "Choose a time in the future.")
        if tenant is not None:
            for field, message in approval_policy_errors(
                tenant_id=tenant.pk,
                activation=cleaned.get("activation"),
                approvers=cleaned.get("approvers"),
                approver_teams=cleaned.get("approver_teams"),
                approvals_needed=cleaned.get("approvals_needed") or 1,
                grantees=list(users or []),
            ).items():
                self.add_error(field, message)
        return cleaned


class RoleMappingForm(forms.ModelForm):
    """A grant's change page: its dates on the tenant's clock, its approval policy checked
    as a whole, and its role checked in IAM as on the page that granted it (the warnings
    are in `role_warnings`). (The admin gives it its model and fields.)"""

    role_warnings: list[str]

    max_session_seconds = DurationField(
        label="Longest session",
        presets=SESSION_PRESETS,
        help_text=RoleMapping._meta.get_field("max_session_seconds").help_text,
    )
    max_activation_seconds = DurationField(
        label="Longest window",
        presets=WINDOW_PRESETS,
        help_text=RoleMapping._meta.get_field("max_activation_seconds").help_text,
    )
    escalate_after_seconds = DurationField(
        label="Escalate after",
        presets=ESCALATION_PRESETS,
        zero_label="Never",
        help_text=RoleMapping._meta.get_field("escalate_after_seconds").help_text,
    )
    valid_from = TenantTimeField(label="Valid from", widget=AdminSplitDateTime)
    valid_until = DateOrDateTimeField(
        label="Until",
        required=False,
        widget=AdminSplitDateTime,
        help_text="Leave empty for a grant without an end date.",
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.role_warnings = []
        offer_saved_durations(self)
        tenant = self.instance.tenant if self.instance.tenant_id else None
        for name in ("valid_from", "valid_until"):
            if name in self.fields:
                self.fields[name].zone = tenant.zone if tenant else None
        if "valid_until" in self.fields and tenant is not None:
            state_time_zone(self.fields["valid_until"], [tenant])

    def clean(self):
        cleaned = super().clean()
        for field, message in approval_policy_errors(
            tenant_id=self.instance.tenant_id or getattr(cleaned.get("tenant"), "pk", None),
            activation=cleaned.get("activation", self.instance.activation),
            approvers=cleaned.get("approvers"),
            approver_teams=cleaned.get("approver_teams"),
            approvals_needed=cleaned.get("approvals_needed"),
            grantees=[self.instance.user] if self.instance.user_id else [],
        ).items():
            self.add_error(field if field in self.fields else None, message)
        self._check_role(cleaned)
        return cleaned

    def _check_role(self, cleaned):
        """The role as IAM has it now, for a grant that stays in force: one no issuance
        could use is refused here, as when it was granted. An ended grant is left be."""
        limit = cleaned.get("max_session_seconds")
        if not self.instance.pk or not cleaned.get("active", True) or limit is None:
            return
        try:
            self.role_warnings = services.check_role(
                tenant=self.instance.tenant,
                role_arn=self.instance.role_arn,
                max_session_seconds=limit,
            )
        except ValidationError as error:
            for field, messages_ in error.message_dict.items():
                self.add_error(field if field in self.fields else None, messages_)
