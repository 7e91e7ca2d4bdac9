from collections.abc import Iterable
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.admin.views.main import ChangeList
from django.contrib.admin.widgets import AdminSplitDateTime, FilteredSelectMultiple
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import OuterRef, Subquery
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path
from django.utils import timezone
from django.utils.html import format_html

from accounts import admin as accounts_admin
from accounts.models import SESSION_PRESETS, Team, Tenant, User
from audit.models import AuditEvent
from audit.records import AuditUnavailable, RequestMeta
from core import humanize
from core.admin_scoping import TenantScopedAdmin, scoped
from core.durations import DurationField, offer_saved_durations
from core.validation import describe
from federation import aws, services
from federation.models import (
    CONSOLE_SERVICES,
    END_OF_DAY,
    ESCALATION_PRESETS,
    MAX_APPROVALS,
    WINDOW_PRESETS,
    ApiToken,
    AwsAccount,
    RoleMapping,
    account_names,
    approval_policy_errors,
    validate_role_arn,
    validate_session_policy,
)


class TenantTimeField(forms.SplitDateTimeField):
    """A date and a time in the grant's tenant's time zone (`zone`, which the form sets and
    states beside the field), not in the zone the admin's own pages show."""

    zone: ZoneInfo | None = None

    def compress(self, data_list):
        with timezone.override(self.zone or UTC):
            return super().compress(data_list)

    def prepare_value(self, value):
        # The saved moment, shown on the tenant's clock (the widget leaves naive ones be).
        if isinstance(value, datetime) and timezone.is_aware(value):
            return timezone.make_naive(value, self.zone or UTC)
        return value

    def has_changed(self, initial, data):
        return super().has_changed(self.prepare_value(initial), data)


class DateOrDateTimeField(TenantTimeField):
    """A date and a time, or a date alone: the end of that day (23:59:59)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, require_all_fields=False, **kwargs)
        self.fields[1].required = False

    def compress(self, data_list):
        if data_list and data_list[0] and not data_list[1]:
            data_list = [data_list[0], END_OF_DAY]
        return super().compress(data_list)


def state_time_zone(field: TenantTimeField, tenants: Iterable[Tenant]) -> None:
    """Say on the form which clock its times are on: the tenant's."""
    zones = sorted({tenant.time_zone for tenant in tenants})
    if len(zones) == 1:
        field.help_text += (
            f" A date alone means until the end of the day, {zones[0]}. Times are "
            f"{zones[0]}, the tenant's time zone."
        )
    else:
        field.help_text += (
            " A date alone means until the end of that day. Times are in the tenant's time "
            "zone (each tenant sets its own)."
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


def _latest_record(**filters):
    """When the newest audit record matching `filters` (which may name the grant's own
    columns with OuterRef) was written, for each grant in the list."""
    return Subquery(
        AuditEvent.objects.filter(**filters).order_by("-created_at").values("created_at")[:1]
    )


def _sessions_revoked_at():
    """When the role's live sessions were last revoked in the grant's tenant."""
    return _latest_record(
        tenant=OuterRef("tenant"),
        role_arn=OuterRef("role_arn"),
        action=AuditEvent.Action.SESSIONS_REVOKED,
    )


def _last_used_at():
    """When the grant last issued a session (its own audit records)."""
    return _latest_record(
        mapping_id=OuterRef("pk"),
        action__in=[AuditEvent.Action.CONSOLE_ISSUED, AuditEvent.Action.CLI_ISSUED],
    )


class GrantChangeList(ChangeList):
    """The grants list: each grant on the page learns its account's name from the one
    selector every page uses (account_names)."""

    def get_results(self, request):
        super().get_results(request)
        names = account_names(request.user)
        for grant in self.result_list:
            grant.account_name = grant.account_name_in(names)


class GrantStateFilter(admin.SimpleListFilter):
    """Grants in force by default; the others (ended, expired, not yet begun, in a
    switched-off tenant) only when asked for."""

    title = "state"
    parameter_name = "state"

    def lookups(self, request, model_admin):
        return [("current", "In force"), ("ended", "Not in force"), ("all", "All")]

    def choices(self, changelist):
        for value, label in self.lookup_choices:
            yield {
                "selected": (self.value() or "current") == value,
                "query_string": changelist.get_query_string({self.parameter_name: value}),
                "display": label,
            }

    def queryset(self, request, queryset):
        value = self.value() or "current"
        if value == "current":
            return queryset.current()
        if value == "ended":
            return queryset.not_current()
        return queryset


class FillForm(forms.Form):
    """Which tenant's directory to fill from AWS Organizations."""

    tenant = forms.ModelChoiceField(queryset=Tenant.objects.none())

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        tenants = scoped(Tenant.objects.all(), user)
        self.fields["tenant"].queryset = tenants
        if len(tenants) == 1:
            self.fields["tenant"].initial = tenants[0].pk


@admin.register(AwsAccount)
class AwsAccountAdmin(TenantScopedAdmin):
    """Names for the tenant's AWS accounts, shown wherever an account id is; typed here or
    filled from the tenant's AWS Organizations organization."""

    tenant_admin_permissions = frozenset({"view", "add", "change", "delete"})
    list_display = ["name", "account_id", "tenant"]
    list_filter = ["tenant"]
    search_fields = ["name", "account_id"]
    list_select_related = ["tenant"]

    def get_urls(self):
        fill = path(
            "fill/",
            self.admin_site.admin_view(self.fill_view),
            name="federation_awsaccount_fill",
        )
        return [fill, *super().get_urls()]

    def fill_view(self, request):
        """Fill from AWS Organizations: choose the tenant, then the portal reads and names."""
        if not (self.has_add_permission(request) and self.has_change_permission(request)):
            raise PermissionDenied
        form = FillForm(request.POST or None, user=request.user)
        if request.method == "POST" and form.is_valid():
            tenant = form.cleaned_data["tenant"]
            try:
                filled = services.fill_from_organizations(
                    actor=request.user, tenant=tenant, meta=RequestMeta.from_request(request)
                )
            except (
                services.NoManagementAccount,
                services.PortalsOwnAccount,
                aws.AwsError,
                AuditUnavailable,
            ) as error:
                self.message_user(request, f"Nothing was filled: {error.message}", messages.ERROR)
            else:
                self.message_user(
                    request,
                    f"Filled {tenant}'s AWS accounts from AWS Organizations: "
                    f"{filled.added} added, {filled.renamed} renamed, "
                    f"{filled.unchanged} unchanged.",
                    messages.SUCCESS,
                )
                return redirect("admin:federation_awsaccount_changelist")
        context = {
            **self.admin_site.each_context(request),
            "title": "Fill from AWS Organizations",
            "opts": self.opts,
            "form": form,
        }
        return TemplateResponse(request, "admin/federation/awsaccount/fill.html", context)


@admin.register(RoleMapping)
class RoleMappingAdmin(TenantScopedAdmin):
    """Role grants. Grants are ended, never deleted, so the record of who had what stays."""

    operator_permissions = tenant_admin_permissions = frozenset({"view", "add", "change"})
    form = RoleMappingForm
    list_display = [
        "label",
        "who",
        "role",
        "tenant",
        "limit",
        "valid_until",
        "state",
        "last_used",
        "sessions_revoked_at",
    ]
    list_filter = [GrantStateFilter, "activation", "tenant"]
    filter_horizontal = ["approvers", "approver_teams"]
    fieldsets = [
        (
            None,
            {
                "fields": [
                    "tenant",
                    "user",
                    "team",
                    "role_arn",
                    "label",
                    "account_alias",
                    "max_session_seconds",
                    "destination_path",
                    "region",
                    "session_policy",
                    "valid_from",
                    "valid_until",
                    "active",
                    "granted_by",
                    "created_at",
                    "sessions_revoked_at",
                ]
            },
        ),
        (
            "Access on request",
            {
                "fields": [
                    "activation",
                    "approvers",
                    "approver_teams",
                    "approvals_needed",
                    "max_activation_seconds",
                    "ticket_required",
                    "break_glass",
                    "escalate_after_seconds",
                ],
                "description": "An on-request grant is used only inside a window someone "
                "else approved; every session ends with the window.",
            },
        ),
    ]
    search_fields = ["label", "role_arn", "user__username", "team__name"]
    autocomplete_fields = ["user", "team", "tenant"]
    list_select_related = ["tenant", "user", "team__tenant"]
    readonly_fields = ["granted_by", "created_at", "sessions_revoked_at"]
    actions = ["end_grants", "revoke_sessions"]

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .with_in_force()
            .annotate(
                sessions_revoked=_sessions_revoked_at(),
                last_used_at=_last_used_at(),
            )
        )

    def get_changelist(self, request, **kwargs):
        return GrantChangeList

    @admin.display(description="for", ordering="user__username")
    def who(self, grant):
        return grant.user or format_html("team {}", grant.team.name if grant.team else "")

    @admin.display(description="role", ordering="role_arn")
    def role(self, grant):
        # The account as the tenant's directory names it, else as the grant's alias does
        # (account_name_in, as on the roles page); its id when neither names it.
        account_id = grant.role.account_id
        return format_html(
            '<span title="{}">{}</span><br><span class="quiet" title="account {}">{}</span>',
            grant.role_arn,
            grant.role.name,
            account_id,
            getattr(grant, "account_name", "") or account_id,
        )

    @admin.display(description="longest session", ordering="max_session_seconds")
    def limit(self, grant):
        text = humanize.duration(grant.max_session_seconds)
        return f"{text}, on request" if grant.on_request else text

    @admin.display(description="state")
    def state(self, grant):
        # Whether it is in force comes from the queryset (current()); the rest says why not.
        if grant.in_force:
            return "in force"
        if not grant.active:
            return "ended"
        if grant.valid_until and grant.valid_until <= timezone.now():
            return "expired"
        if not grant.tenant.active:
            return "tenant switched off"
        return "not yet in force"

    @admin.display(description="last used", ordering="last_used_at")
    def last_used(self, grant):
        return grant.last_used_at or "never"

    def get_readonly_fields(self, request, obj=None):
        fields = super().get_readonly_fields(request, obj)
        if obj is not None:
            # Another person or another role is another grant: end this one, grant anew.
            fields += [name for name in ("user", "team", "role_arn") if name not in fields]
        return fields

    @admin.display(description="sessions revoked", ordering="sessions_revoked")
    def sessions_revoked_at(self, obj):
        return getattr(obj, "sessions_revoked", None) or "-"

    def add_view(self, request, form_url="", extra_context=None):
        if not self.has_add_permission(request):
            raise PermissionDenied
        form = GrantForm(request.POST or None, user=request.user)
        if request.method == "POST" and form.is_valid():
            data = dict(form.cleaned_data)
            try:
                granted = services.grant_roles(
                    actor=request.user, meta=RequestMeta.from_request(request), **data
                )
            except ValidationError as error:
                if hasattr(error, "error_dict"):
                    for field, errors in error.message_dict.items():
                        form.add_error(field if field in form.fields else None, errors)
                else:
                    form.add_error(None, describe(error))
            else:
                self.message_user(
                    request,
                    f"Granted {granted.grants[0].label} to "
                    + ", ".join(str(mapping.grantee) for mapping in granted.grants)
                    + ".",
                    messages.SUCCESS,
                )
                for warning in granted.warnings:
                    self.message_user(request, warning, messages.WARNING)
                return redirect("admin:federation_rolemapping_changelist")
        context = {
            **self.admin_site.each_context(request),
            "title": "Grant a role",
            "opts": self.opts,
            "form": form,
            "media": self.media + form.media,
            "regions": aws.available_regions("aws"),
            "picker": services.role_picker(form.tenants),
        }
        return TemplateResponse(request, "admin/federation/rolemapping/grant.html", context)

    def save_related(self, request, form, formsets, change):
        # After the approvers are saved, so the record names the new ones.
        super().save_related(request, form, formsets, change)
        if change and form.changed_data:
            services.change_grant(
                actor=request.user,
                mapping=form.instance,
                changed_fields=form.changed_data,
                meta=RequestMeta.from_request(request),
            )
        for warning in getattr(form, "role_warnings", []):
            self.message_user(request, warning, messages.WARNING)

    @admin.action(description="End the selected grants now", permissions=["change"])
    def end_grants(self, request, queryset):
        meta = RequestMeta.from_request(request)
        ended = [
            services.revoke_grant(actor=request.user, mapping=mapping, meta=meta)
            for mapping in queryset.filter(active=True)
        ]
        self.message_user(request, f"Ended {len(ended)} grant(s).", messages.SUCCESS)

    @admin.action(
        description="Revoke the live sessions of the selected roles", permissions=["change"]
    )
    def revoke_sessions(self, request, queryset):
        roles = sorted(
            set(queryset.values_list("tenant_id", "tenant__name", "role_arn")),
            key=lambda row: (row[1], row[2]),
        )
        if request.POST.get("post") != "yes":
            return TemplateResponse(
                request,
                "admin/federation/rolemapping/revoke_sessions.html",
                {
                    **self.admin_site.each_context(request),
                    "title": "Revoke live sessions?",
                    "opts": self.opts,
                    "roles": roles,
                    "selected": queryset.values_list("pk", flat=True),
                    "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
                },
            )
        meta = RequestMeta.from_request(request)
        for tenant_id, tenant_name, role_arn in roles:
            try:
                cutoff = services.revoke_role_sessions(
                    actor=request.user,
                    tenant=Tenant(pk=tenant_id),
                    role_arn=role_arn,
                    meta=meta,
                )
            except (aws.AwsError, AuditUnavailable) as error:
                self.message_user(
                    request, f"Sessions of {role_arn} not revoked: {error}", messages.ERROR
                )
            except services.GrantNotFound:
                self.message_user(
                    request,
                    f"Sessions of {role_arn} not revoked: not a role of yours.",
                    messages.ERROR,
                )
            else:
                self.message_user(
                    request,
                    f"Sessions of {role_arn} ({tenant_name}) issued before "
                    f"{cutoff:%Y-%m-%d %H:%M:%S} UTC are now denied everything.",
                    messages.SUCCESS,
                )


@admin.register(ApiToken)
class ApiTokenAdmin(TenantScopedAdmin):
    """Personal API tokens, hashed: names and use only. Admins can revoke, not create."""

    operator_permissions = tenant_admin_permissions = frozenset({"view", "change"})
    list_display = [
        "name",
        "user",
        "key_id",
        "created_at",
        "expires_at",
        "last_used_at",
        "revoked_at",
    ]
    search_fields = ["name", "user__username", "key_id"]
    readonly_fields = [
        "user",
        "name",
        "key_id",
        "created_at",
        "expires_at",
        "last_used_at",
        "revoked_at",
    ]
    list_select_related = ["user"]
    actions = ["revoke_tokens"]

    @admin.action(description="Revoke the selected tokens", permissions=["change"])
    def revoke_tokens(self, request, queryset):
        meta = RequestMeta.from_request(request)
        tokens = list(queryset.live())
        for token in tokens:
            services.revoke_token(actor=request.user, token=token, meta=meta)
        self.message_user(request, f"Revoked {len(tokens)} token(s).", messages.SUCCESS)


class DeletesGrantees:
    """Deleting a person or a team ends their grants first, each with its audit record."""

    def delete_model(self, request, obj):
        services.delete_grantees(
            actor=request.user, grantees=[obj], meta=RequestMeta.from_request(request)
        )

    def get_deleted_objects(self, objs, request):
        deleted, counts, perms_needed, protected = super().get_deleted_objects(objs, request)
        # Grants go with their grantee, ended on the record first, and a person's API tokens
        # go with them: neither needs a delete permission of its own.
        perms_needed.discard(RoleMapping._meta.verbose_name)
        perms_needed.discard(ApiToken._meta.verbose_name)
        return deleted, counts, perms_needed, protected

    def delete_queryset(self, request, queryset):
        services.delete_grantees(
            actor=request.user,
            grantees=list(queryset),
            meta=RequestMeta.from_request(request),
        )


# People and teams are accounts' admin pages; deleting one here first ends their grants.
for model, model_admin in [(User, accounts_admin.UserAdmin), (Team, accounts_admin.TeamAdmin)]:
    admin.site.unregister(model)
    admin.site.register(
        model,
        type(model_admin.__name__, (DeletesGrantees, model_admin), {"__module__": __name__}),
    )
